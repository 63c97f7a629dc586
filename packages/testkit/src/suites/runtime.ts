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

  it("names every facet this build does not provide, with the same error in both modes", () => {
    const calls: [string, () => unknown][] = [
      ["rt.http.dispatcher()", () => context.runtime.http.dispatcher("payments")],
      ["rt.config.get()", () => context.runtime.config.get("app.maxItems")],
      ["rt.flags.getBooleanValue()", () => context.runtime.flags.getBooleanValue("f", false)],
      ["rt.secrets.get()", () => context.runtime.secrets.get("s")],
    ];
    for (const [facet, call] of calls) {
      let thrown: unknown;
      try {
        const result = call();
        // A provided facet may answer with a promise that rejects (no such flag or secret).
        if (result instanceof Promise) result.catch(() => {});
      } catch (error) {
        thrown = error;
      }
      if (thrown === undefined) continue; // provided by a concern in this build
      expect(thrown).toBeInstanceOf(NotAvailableError);
      expect(TandemError.is(thrown) && thrown.code).toBe("not_available");
      expect((thrown as Error).message).toContain(facet);
    }
  });
}
