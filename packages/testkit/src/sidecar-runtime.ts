import { pino } from "pino";
import { createRuntime, type Runtime, type RuntimeOptions } from "tandem";
import type { StartedSidecar } from "./start-sidecar.js";

/** A sidecar-mode runtime connected to `sidecar`, logging nothing unless `options` says so. */
export function sidecarRuntime(sidecar: StartedSidecar, options: RuntimeOptions = {}): Promise<Runtime> {
  return createRuntime({
    env: {},
    logger: pino({ level: "silent" }),
    ...options,
    mode: "sidecar",
    sidecar: sidecar.api,
    ...(sidecar.token === undefined ? {} : { token: sidecar.token }),
  });
}
