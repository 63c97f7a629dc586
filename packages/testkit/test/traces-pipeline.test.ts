import { type OtlpReceiver, samples, startOtlpReceiver, startSidecar } from "@tandem/testkit";
import { pino } from "pino";
import { createRuntime, type Runtime } from "tandem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const silent = pino({ level: "silent" });
// A delay no test waits for: only a flush on close can deliver within the test.
const HELD = { OTEL_BSP_SCHEDULE_DELAY: "60000" };
let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(() => receiver.close());

const names = () => receiver.spans().map((s) => s.name);

describe("traces end to end", () => {
  it("library mode: rt.close() exports the spans still buffered", async () => {
    const rt = await createRuntime({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: "closing-library", ...HELD },
      mode: "library",
      logger: silent,
    });
    rt.tracer.startSpan("flushed-on-close-library").end();
    await rt.close();
    const span = receiver.spans().find((s) => s.name === "flushed-on-close-library");
    expect(span?.resource["service.name"]).toBe("closing-library");
  });

  it("sidecar mode: rt.close() sends the spans to the sidecar, and its drain forwards what it queued", async () => {
    const sidecar = await startSidecar({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } });
    const rt = await connect(sidecar.api, sidecar.token, { OTEL_SERVICE_NAME: "closing-sidecar", ...HELD });
    rt.tracer.startSpan("flushed-on-close-sidecar").end();
    await rt.close();
    // The sidecar holds a batch up to 200 ms: stopping it at once leaves the drain to send it.
    expect(await sidecar.stop()).toEqual({ code: 0, signal: null });
    expect(names()).toContain("flushed-on-close-sidecar");
  });

  it("sidecar mode: the sidecar retries a collector answering 503 and 429 with Retry-After", async () => {
    const sidecar = await startSidecar({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } });
    const rt = await connect(sidecar.api, sidecar.token, { OTEL_BSP_SCHEDULE_DELAY: "20" });
    const before = receiver.requests.length;
    receiver.fail(503, { status: 429, retryAfter: 1 });
    rt.tracer.startSpan("delivered-after-faults").end();
    await receiver.waitFor((spans) => spans.some((s) => s.name === "delivered-after-faults"));
    expect(receiver.requests.slice(before).map((r) => r.status)).toEqual([503, 429, 200]);
    await rt.close();
    await sidecar.stop();
  });

  it("sidecar mode: spans ended while the sidecar is away wait for it to be back (within the export timeout)", async () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url };
    const first = await startSidecar({ env });
    const rt = await connect(first.api, first.token, { OTEL_BSP_SCHEDULE_DELAY: "20" });
    first.kill("SIGKILL");
    await first.exited;
    rt.tracer.startSpan("ended-while-away").end();
    // Away longer than a few quick retries; less than OTEL_EXPORTER_OTLP_TIMEOUT (10 s).
    await new Promise((r) => setTimeout(r, 3000));
    const listen = first.api.replace("http://", "");
    const second = await startSidecar({ env, listen, ...(first.token === undefined ? {} : { token: first.token }) });
    try {
      await receiver.waitFor((spans) => spans.some((s) => s.name === "ended-while-away"), 10_000);
    } finally {
      await rt.close();
      await second.stop();
    }
  });

  it("sidecar mode with nowhere to forward: the sidecar refuses, the app counts the spans it drops", async () => {
    const sidecar = await startSidecar({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: "" } });
    const refused = await fetch(`${sidecar.api}/v1/traces`, {
      method: "POST",
      headers: { authorization: `Bearer ${sidecar.token}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(refused.status).toBe(501);
    expect(((await refused.json()) as { code: string }).code).toBe("not_configured");
    const rt = await connect(sidecar.api, sidecar.token, HELD);
    rt.tracer.startSpan("nowhere-1").end();
    rt.tracer.startSpan("nowhere-2").end();
    await rt.close();
    const text = await (await fetch(`${sidecar.admin}/metrics`)).text();
    expect(samples(text, "tandem_telemetry_dropped_total")).toContain(
      'tandem_telemetry_dropped_total{signal="traces"} 2',
    );
    await sidecar.stop();
  });
});

function connect(api: string, token: string | undefined, env: Record<string, string>): Promise<Runtime> {
  return createRuntime({
    env,
    mode: "sidecar",
    sidecar: api,
    sidecarRequired: true,
    logger: silent,
    ...(token === undefined ? {} : { token }),
  });
}
