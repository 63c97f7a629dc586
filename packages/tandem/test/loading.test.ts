import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startSidecar } from "@tandem/testkit";
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

/**
 * Starts a sidecar process with `env`, and reports the files it loaded by the time it was ready:
 * tandem's own by path in the repository, the others by npm package.
 */
async function sidecarFiles(env: Record<string, string>): Promise<{ tandem: string[]; packages: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), "tandem-loading-"));
  const log = join(dir, "loaded.txt");
  const hook = join(dir, "hook.mjs");
  writeFileSync(
    hook,
    `import { registerHooks } from "node:module";
    import { appendFileSync } from "node:fs";
    registerHooks({ load(url, context, next) { appendFileSync(${JSON.stringify(log)}, url + "\\n"); return next(url, context); } });`,
  );
  try {
    const sidecar = await startSidecar({ env: { ...env, NODE_OPTIONS: `--import=${hook}` } });
    await sidecar.stop();
    const urls = readFileSync(log, "utf8")
      .split("\n")
      .filter((url) => url.startsWith("file:") && !url.endsWith(hook));
    const tandem = new Set<string>();
    const packages = new Set<string>();
    for (const url of urls) {
      const npm = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url.slice(url.lastIndexOf("/node_modules/")));
      if (npm !== null) packages.add(npm[1] as string);
      else tandem.add(url.slice(url.indexOf("/packages/") + 1));
    }
    return { tandem: [...tandem].sort(), packages: [...packages].sort() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("what a process loads", () => {
  it("a sidecar runs from the CLI bundle: none of the packages' modules, and of npm packages only undici", async () => {
    const idle = await sidecarFiles({});
    expect(idle.tandem).toEqual(["packages/tandem/bin/tandem.js", "packages/tandem/dist/tandem-cli.cjs"]);
    expect(idle.packages).toEqual(["undici"]);
    // Exporting spans adds the OpenTelemetry SDK, loaded from its packages, and still nothing of tandem.
    const exporting = await sidecarFiles({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" });
    expect(exporting.tandem).toEqual(["packages/tandem/bin/tandem.js", "packages/tandem/dist/tandem-cli.cjs"]);
    expect(exporting.packages).toEqual(
      expect.arrayContaining(["@opentelemetry/sdk-trace", "@opentelemetry/resources", "undici"]),
    );
  });

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
