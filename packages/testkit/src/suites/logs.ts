import { expect, it } from "vitest";
import type { ConformanceContext } from "../conformance.js";
import { eventually } from "../eventually.js";
import { type StartedSidecar, startSidecar } from "../start-sidecar.js";

/** What `logsSuite` needs: where each mode's lines end up, and the secret value to look for. */
export interface LogsSuiteOptions {
  /**
   * The lines written so far, parsed: in library mode what the runtime's `logDestination` got,
   * in sidecar mode the sidecar's `file` sink.
   */
  lines(mode: ConformanceContext["mode"]): Record<string, unknown>[];
  /** A secret value of the config (a file in its `secrets.dir`). */
  canary: string;
  /** The config file, for restarting the sidecar; it sets `telemetry.logs.level: debug`. */
  config: string;
  /** Registers a sidecar the suite started, for the file's afterAll to stop. */
  adopt(sidecar: StartedSidecar): void;
}

/**
 * Logs: `rt.logger` lines carry the active span's ids and never a secret value, whether the
 * service writes them itself (library mode) or ships them to the sidecar's sinks (sidecar
 * mode); lines logged while the sidecar is down wait and arrive once it is back.
 */
export function logsSuite(context: ConformanceContext, options: LogsSuiteOptions): void {
  const find = (probe: string) => options.lines(context.mode).filter((l) => l.probe === probe);

  it("puts the active span's trace id and span id on a line logged inside it", async () => {
    const probe = `traced-${context.mode}-${Date.now()}`;
    let ids: { traceId: string; spanId: string } | undefined;
    await context.runtime.tracer.startActiveSpan("logs-conformance", async (span) => {
      await new Promise((r) => setTimeout(r, 1));
      context.runtime.logger.info({ probe }, "inside a span");
      ids = span.spanContext();
      span.end();
    });
    context.runtime.logger.info({ probe: `${probe}-outside` }, "outside");
    await eventually(() => expect(find(probe)).toHaveLength(1), 10_000);
    expect(find(probe)[0]).toMatchObject({ msg: "inside a span", trace_id: ids?.traceId, span_id: ids?.spanId });
    await eventually(() => expect(find(`${probe}-outside`)).toHaveLength(1), 10_000);
    expect(find(`${probe}-outside`)[0]).not.toHaveProperty("trace_id");
  });

  it("logs at telemetry.logs.level of the config (debug here), and not below it", async () => {
    const probe = `level-${context.mode}-${Date.now()}`;
    context.runtime.logger.trace({ probe, at: "trace" }, "below the level");
    context.runtime.logger.debug({ probe, at: "debug" }, "at the level");
    await eventually(() => expect(find(probe).map((l) => l.at)).toEqual(["debug"]), 10_000);
  });

  it("never writes a secret value of the config, in a field or in the message", async () => {
    const probe = `secret-${context.mode}-${Date.now()}`;
    context.runtime.logger.info(
      { probe, leaked: options.canary, nested: { dsn: `x:${options.canary}@db` } },
      `oops ${options.canary}`,
    );
    await eventually(() => expect(find(probe)).toHaveLength(1), 10_000);
    const line = find(probe)[0];
    expect(line).toMatchObject({ leaked: "[redacted]", nested: { dsn: "x:[redacted]@db" }, msg: "oops [redacted]" });
    expect(JSON.stringify(options.lines(context.mode))).not.toContain(options.canary);
  });

  it("keeps the lines logged while the sidecar is down and delivers them once it is back", async () => {
    const probe = `outage-${context.mode}-${Date.now()}`;
    const sidecar = context.sidecar;
    if (sidecar !== undefined) {
      sidecar.kill("SIGKILL");
      await sidecar.exited;
    }
    for (let i = 0; i < 5; i++) context.runtime.logger.info({ probe, i }, "logged during the outage");
    if (sidecar !== undefined) {
      // Nothing can have arrived: the sink's writer is gone.
      await new Promise((r) => setTimeout(r, 1200));
      expect(find(probe)).toHaveLength(0);
      const restarted = await startSidecar({
        config: options.config,
        listen: new URL(sidecar.api).host,
        ...(sidecar.token === undefined ? { token: null } : { token: sidecar.token }),
      });
      options.adopt(restarted);
    }
    await eventually(() => expect(find(probe).map((l) => l.i)).toEqual([0, 1, 2, 3, 4]), 15_000);
  });
}
