import type { Tracer } from "@opentelemetry/api";
import type { Mode } from "../env.js";
import type { Config, Secrets } from "./config.js";
import type { Flags } from "./flags.js";
import type { Http } from "./http.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import type { Resilience } from "./resilience.js";

/** Why the runtime runs in the mode it does, for dashboards and health endpoints. */
export interface RuntimeStatus {
  /** The mode asked for (env or options). */
  requestedMode: Mode;
  /** The mode in force: `library` when sidecar mode fell back because the sidecar was away. */
  mode: Mode;
  /** True when sidecar mode was asked for and the runtime fell back to library mode. */
  degraded: boolean;
  /** How often this runtime fell back to library mode (`tandem_sidecar_fallback_total`). */
  sidecarFallbacks: number;
  /** The sidecar address in use, in `TANDEM_SIDECAR` form; absent in library mode. */
  sidecar?: string;
}

/**
 * Everything tandem gives a service, behind one interface that does not change with the mode.
 * Create it with `createRuntime()` from the `tandem` package and close it on shutdown.
 */
export interface Runtime {
  readonly mode: Mode;
  readonly http: Http;
  readonly resilience: Resilience;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
  readonly logger: Logger;
  readonly config: Config;
  readonly flags: Flags;
  readonly secrets: Secrets;
  status(): RuntimeStatus;
  /** Drains in-flight work and flushes buffers; the runtime is unusable afterwards. Safe to call twice. */
  close(): Promise<void>;
}

/** The facets a concern package can provide. */
export type Facets = Omit<Runtime, "mode" | "status" | "close">;
