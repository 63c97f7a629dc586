import { NotAvailableError, TandemError } from "tandem";
import { expect, it } from "vitest";
import type { ConformanceContext } from "../conformance.js";

/**
 * The runtime's own promises, the same in both modes: it runs in the mode asked for, reports
 * it, keeps the pino logging API, says plainly which facets this build lacks, and closes twice
 * without harm.
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

  it("names the one method this build does not provide, with the same error in both modes", () => {
    let thrown: unknown;
    try {
      context.runtime.http.dispatcher("payments");
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(NotAvailableError);
    expect(TandemError.is(thrown) && thrown.code).toBe("not_available");
    expect((thrown as Error).message).toBe("rt.http.dispatcher() is not available in this build of tandem");
  });

  it("provides every other facet in both modes", () => {
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
