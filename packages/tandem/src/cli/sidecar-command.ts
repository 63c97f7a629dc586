import { resolveEnv } from "@tandem/core";
import { formatListenAddress, Sidecar } from "@tandem/sidecar";
import { type Logger, pino } from "pino";
import { builtinConcerns } from "../concerns.js";
import { SIDECAR_HELP } from "./help.js";
import { keepMemoryReducerWorking } from "./memory-reducer.js";
import { parse, SIDECAR_FLAGS, sidecarOptions } from "./options.js";
import { exitCodeForSignal, type ReadyMessage } from "./protocol.js";

/**
 * `tandem sidecar`: runs until a signal or `/v1/shutdown`, drains, and resolves with the exit
 * code. When started by `tandem run` (an IPC channel exists) it reports its addresses once ready
 * and stops by itself if its supervisor goes away.
 */
export async function sidecarCommand(argv: readonly string[], version: string): Promise<number> {
  const { values } = parse("sidecar", argv, SIDECAR_FLAGS, false);
  if (values.help === true) {
    process.stdout.write(`${SIDECAR_HELP}\n`);
    return 0;
  }
  const env = resolveEnv(process.env);
  const logger = pino({ level: env.logLevel ?? "info", base: { component: "tandem-sidecar", pid: process.pid } });
  const options = sidecarOptions(values, process.env);
  let sidecar: Sidecar;
  try {
    sidecar = await Sidecar.start({
      ...options,
      concerns: builtinConcerns,
      version,
      logger,
      env,
      variables: process.env,
    });
  } catch (error) {
    logger.fatal({ event: "start_failed", err: error }, `sidecar failed to start: ${(error as Error).message}`);
    return 1;
  }
  releaseStartupMemory(logger);
  const reducer = keepMemoryReducerWorking();
  if (options.token === undefined) {
    logger.warn(
      { event: "no_token" },
      "no token is set: any local process can call the API (set TANDEM_TOKEN or --token-file)",
    );
  }
  let signalled = false;
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      if (signalled) {
        logger.warn({ event: "forced_exit", signal }, "second signal, exiting at once");
        process.exit(exitCodeForSignal(signal));
      }
      signalled = true;
      void sidecar.stop(signal);
    });
  }
  if (process.send !== undefined) {
    // The supervisor may have gone while the sidecar started: then there is nobody to serve.
    if (!process.connected) {
      await sidecar.stop("supervisor went away");
      return 0;
    }
    const ready: ReadyMessage = {
      type: "tandem:ready",
      api: formatListenAddress(sidecar.api),
      admin: formatListenAddress(sidecar.admin),
      pid: process.pid,
    };
    process.once("disconnect", () => void sidecar.stop("supervisor went away"));
    process.send(ready, undefined, undefined, (error) => {
      if (error !== null) void sidecar.stop("supervisor went away");
    });
  }
  await sidecar.stopped;
  clearInterval(reducer);
  return 0;
}

/**
 * Gives back the memory that starting took, when `gc` is exposed (`NODE_OPTIONS=--expose-gc`).
 * Loading and compiling the modules grows V8's heap, its young generation to the maximum, and
 * V8 keeps what it grew until it next reduces memory, which an idle process never does. One
 * last-resort collection once started, before the ready message, returns it: ~6.5 MB less
 * resident memory idle. Under load the sidecar then held more, not less (103-119 MB against
 * 95-100 MB at 1000 req/s), at more CPU per request, so it is not the default
 * (docs/operations.md#sizing).
 */
function releaseStartupMemory(logger: Logger): void {
  const gc = (globalThis as { gc?: (options: { type: string; execution: string; flavor: string }) => void }).gc;
  if (gc === undefined) return;
  const before = process.memoryUsage().heapTotal;
  gc({ type: "major", execution: "sync", flavor: "last-resort" });
  const after = process.memoryUsage().heapTotal;
  logger.info(
    { event: "startup_memory_released", heapTotalBefore: before, heapTotalAfter: after },
    `V8's heap went from ${(before / 2 ** 20).toFixed(1)} MB to ${(after / 2 ** 20).toFixed(1)} MB once started`,
  );
}
