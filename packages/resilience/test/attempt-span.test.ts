import {
  type Context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  type TextMapSetter,
  TraceFlags,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { CHILD_TRACE_LINES } from "@tandem/core";
import { Endpoint } from "@tandem/resilience";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endAttemptSpan, startAttemptSpan } from "../src/http/attempt-span.js";

// A W3C-shaped propagator without @opentelemetry/core: enough to see what is injected.
const w3c = {
  inject(context: Context, carrier: unknown, setter: TextMapSetter) {
    const span = trace.getSpanContext(context);
    if (span !== undefined) setter.set(carrier, "traceparent", `00-${span.traceId}-${span.spanId}-0${span.traceFlags}`);
  },
  extract: (context: Context) => context,
  fields: () => ["traceparent"],
};

describe("attempt spans without a tracer SDK", () => {
  const endpoint = new Endpoint("http://127.0.0.1:7001");
  const noop = trace.getTracer("test");
  beforeAll(() => {
    propagation.setGlobalPropagator(w3c);
  });
  afterAll(async () => {
    propagation.disable();
    await endpoint.close();
  });

  it("does no work without a context: the headers object is passed on as it is", () => {
    const headers = { accept: "application/json" };
    const traced = startAttemptSpan(noop, ROOT_CONTEXT, "GET", endpoint, "/x", 0, headers);
    expect(traced.headers).toBe(headers);
    expect(traced.span?.isRecording()).toBe(false);
    endAttemptSpan(traced.span, 200, "");
  });

  it("propagates an existing context on a copy of the headers", () => {
    const parent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    const headers = { accept: "application/json" };
    const traced = startAttemptSpan(noop, parent, "GET", endpoint, "/x", 1, headers);
    expect(traced.headers).toEqual({
      accept: "application/json",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    });
    expect(headers).not.toHaveProperty("traceparent");
    const untraced = startAttemptSpan(undefined, parent, "GET", endpoint, "/x", 0, headers);
    expect(untraced.span).toBeUndefined();
    expect(untraced.headers.traceparent).toBe("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  });

  it("lets a tracer that records nothing write the child's header lines itself, and starts no span nor copies the headers then", () => {
    const calls: unknown[][] = [];
    let spans = 0;
    let answer: string | undefined;
    const tracer = {
      startSpan: (...args: unknown[]) => {
        spans++;
        return noop.startSpan(...(args as Parameters<Tracer["startSpan"]>));
      },
      startActiveSpan: noop.startActiveSpan.bind(noop),
      [CHILD_TRACE_LINES]: (...args: unknown[]) => {
        calls.push(args);
        return answer;
      },
    } as unknown as Tracer;
    const headers = { accept: "text/plain" };
    answer = "traceparent: 00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01\r\n";
    const written = startAttemptSpan(tracer, ROOT_CONTEXT, "PATCH", endpoint, "/x", 0, headers);
    expect(written).toEqual({ span: undefined, headers, lines: answer });
    expect(written.headers).toBe(headers);
    expect(calls).toEqual([[ROOT_CONTEXT, "PATCH", SpanKind.CLIENT]]);
    startAttemptSpan(tracer, ROOT_CONTEXT, "BREW", endpoint, "/x", 0, headers);
    expect(calls[1]?.[1]).toBe("HTTP");
    expect(spans).toBe(0);
    // It cannot say (baggage, another propagator): a span is started and injected as usual.
    answer = undefined;
    const spanned = startAttemptSpan(tracer, ROOT_CONTEXT, "GET", endpoint, "/x", 0, headers);
    expect(spans).toBe(1);
    expect(spanned.span).toBeDefined();
    expect(spanned.lines).toBe("");
    endAttemptSpan(spanned.span, 200, "");
  });
});
