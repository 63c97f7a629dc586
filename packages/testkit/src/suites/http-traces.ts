import { context as otelContext, propagation, ROOT_CONTEXT, type SpanContext } from "@opentelemetry/api";
import { expect, it } from "vitest";
import type { ConformanceContext } from "../conformance.js";
import type { FaultyUpstream } from "../fault-upstream.js";
import type { OtlpReceiver } from "../otlp-receiver.js";

/**
 * The config of `httpTracesSuite`: upstream `traced` on the first instance of `upstream`,
 * retrying a 503 once.
 */
export function httpTracesConfig(upstream: FaultyUpstream, service: string): string {
  return `service: ${service}
upstreams:
  traced:
    endpoints: [${upstream.instances[0]?.url}]
    timeout: { attempt: 2s, total: 5s }
    retry: { attempts: 2, backoff: { base: 1ms, max: 2ms }, on: [503] }
`;
}

/**
 * Trace context across `rt.http`: every attempt is a CLIENT span, child of the caller's span
 * (in sidecar mode, across the hop to the sidecar), and the upstream gets the W3C
 * `traceparent` of its attempt. `receiver` is where both modes export.
 */
export function httpTracesSuite(context: ConformanceContext, receiver: OtlpReceiver, upstream: FaultyUpstream): void {
  it("makes one CLIENT span per attempt, children of the caller's span, and sends their traceparent", async () => {
    const instance = upstream.instances[0];
    if (instance === undefined) throw new Error("httpTracesSuite needs an upstream instance");
    instance.set({ failFirst: 1 });
    const name = `http-caller-${context.mode}`;
    let caller: SpanContext | undefined;
    await context.runtime.tracer.startActiveSpan(name, async (span) => {
      const res = await context.runtime.http.request("traced", { path: "/traced", query: { q: 1 } });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
      caller = span.spanContext();
      span.end();
    });
    const spans = await receiver.waitFor(
      (all) => all.filter((s) => s.traceId === caller?.traceId && s.kind === 3).length >= 2,
    );
    const attempts = spans
      .filter((s) => s.traceId === caller?.traceId && s.kind === 3)
      .sort(
        (a, b) =>
          Number(a.attributes["http.request.resend_count"] ?? 0) -
          Number(b.attributes["http.request.resend_count"] ?? 0),
      );
    expect(attempts).toHaveLength(2);
    const port = new URL(instance.url).port;
    for (const attempt of attempts) {
      expect(attempt).toMatchObject({ name: "GET", parentSpanId: caller?.spanId });
      expect(attempt.attributes).toMatchObject({
        "http.request.method": "GET",
        "server.address": "127.0.0.1",
        "server.port": port,
        "url.full": `${instance.url}/traced?q=1`,
      });
    }
    expect(attempts[0]?.attributes).toMatchObject({ "http.response.status_code": "503", "error.type": "503" });
    expect(attempts[0]?.attributes["http.request.resend_count"]).toBeUndefined();
    expect(attempts[1]?.attributes).toMatchObject({
      "http.response.status_code": "200",
      "http.request.resend_count": "1",
    });
    expect(attempts[1]?.attributes["error.type"]).toBeUndefined();
    expect(instance.lastHeaders?.traceparent).toBe(`00-${caller?.traceId}-${attempts[1]?.spanId}-01`);
  });

  it("sends the caller's context on even when the caller's span is not sampled", async () => {
    const instance = upstream.instances[0];
    instance?.set({});
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const parent = propagation.extract(ROOT_CONTEXT, { traceparent: `00-${traceId}-b7ad6b7169203331-00` });
    const res = await otelContext.with(parent, () => context.runtime.http.request("traced", { path: "/unsampled" }));
    await res.body.dump();
    expect(instance?.lastHeaders?.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
  });
}

/**
 * Trace context across `rt.http` when spans are exported nowhere: nothing is recorded, but each
 * attempt still sends a `traceparent` of its own, in the caller's trace when there is one and in
 * a new one when not, with the caller's sampling decision and `tracestate`.
 */
export function httpTracePropagationSuite(context: ConformanceContext, upstream: FaultyUpstream): void {
  const received = () => {
    const headers = upstream.instances[0]?.lastHeaders;
    return { traceparent: headers?.traceparent, tracestate: headers?.tracestate };
  };

  it("sends each attempt's traceparent in the caller's trace, with a span id of its own", async () => {
    upstream.instances[0]?.set({});
    let caller: SpanContext | undefined;
    await context.runtime.tracer.startActiveSpan(`propagating-caller-${context.mode}`, async (span) => {
      caller = span.spanContext();
      const res = await context.runtime.http.request("traced", { path: "/propagated" });
      await res.body.dump();
      span.end();
    });
    const sent = received().traceparent;
    expect(sent).toMatch(new RegExp(`^00-${caller?.traceId}-[0-9a-f]{16}-01$`));
    expect(sent).not.toContain(caller?.spanId);
  });

  it("keeps an unsampled caller's decision and its tracestate", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parent = propagation.extract(ROOT_CONTEXT, {
      traceparent: `00-${traceId}-00f067aa0ba902b7-00`,
      tracestate: "vendor=1",
    });
    const res = await otelContext.with(parent, () => context.runtime.http.request("traced", { path: "/state" }));
    await res.body.dump();
    expect(received().traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
    expect(received().traceparent).not.toContain("00f067aa0ba902b7");
    expect(received().tracestate).toBe("vendor=1");
  });

  it("starts a new trace for a request made outside any span", async () => {
    const first = await context.runtime.http.request("traced", { path: "/new" });
    await first.body.dump();
    const one = received().traceparent;
    const second = await context.runtime.http.request("traced", { path: "/new" });
    await second.body.dump();
    const two = received().traceparent;
    expect(one).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(two).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(two?.slice(3, 35)).not.toBe(one?.slice(3, 35));
  });
}
