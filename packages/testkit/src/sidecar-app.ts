import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { StartedSidecar } from "./start-sidecar.js";

// Resolved from here, where `tandem` and `pino` are dependencies.
const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));

/**
 * Starts another real process of the app, in sidecar mode against `sidecar`: it creates a
 * runtime as `rt` (logging nothing) and runs `body`, an ES module's statements using `rt`. For
 * tests of what several processes of a pod share through one sidecar.
 *
 * @example
 * spawnSidecarApp(sidecar, `rt.metrics.counter("jobs_total").inc(); await rt.close();`);
 */
export function spawnSidecarApp(sidecar: StartedSidecar, body: string, stdio: StdioOptions = "inherit"): ChildProcess {
  const source = `import { createRuntime } from "tandem";
const rt = await createRuntime({ logger: (await import("pino")).pino({ level: "silent" }) });
${body}`;
  return spawn(process.execPath, ["--input-type=module", "-e", source], {
    cwd: PACKAGE_DIR,
    env: {
      ...process.env,
      TANDEM_MODE: "sidecar",
      TANDEM_SIDECAR: sidecar.api,
      TANDEM_TOKEN: sidecar.token ?? "",
      TANDEM_SIDECAR_REQUIRED: "true",
    },
    stdio,
  });
}
