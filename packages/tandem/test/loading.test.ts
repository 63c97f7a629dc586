import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const TANDEM = fileURLToPath(new URL("..", import.meta.url));

/**
 * Starts a library-mode runtime in a fresh Node process with `env`, makes a span, and reports
 * which of the OpenTelemetry SDK's packages the process loaded, before the first span and after.
 */
async function sdkLoaded(env: Record<string, string>): Promise<{ atStart: string[]; afterSpan: string[] }> {
  const source = `
    import { registerHooks } from "node:module";
    const loaded = new Set();
    registerHooks({ load(url, context, next) { loaded.add(url); return next(url, context); } });
    const sdk = () => ["sdk-trace", "resources"].filter((name) => [...loaded].some((url) => url.includes("/@opentelemetry/" + name + "/")));
    const { createRuntime } = await import("tandem");
    const { pino } = await import("pino");
    const rt = await createRuntime({ mode: "library", logger: pino({ level: "silent" }), env: ${JSON.stringify(env)} });
    const atStart = sdk();
    rt.tracer.startSpan("one").end();
    const afterSpan = sdk();
    await rt.close();
    console.log(JSON.stringify({ atStart, afterSpan }));
  `;
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", source], { cwd: TANDEM });
  return JSON.parse(stdout);
}

describe("what a process loads", () => {
  it("never loads the OpenTelemetry SDK when no span is exported, and loads it at start when spans are", async () => {
    expect(await sdkLoaded({})).toEqual({ atStart: [], afterSpan: [] });
    expect(
      await sdkLoaded({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9", OTEL_BSP_SCHEDULE_DELAY: "60000" }),
    ).toEqual({
      atStart: ["sdk-trace", "resources"],
      afterSpan: ["sdk-trace", "resources"],
    });
  });
});
