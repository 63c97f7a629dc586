import type { SidecarClient } from "../client/sidecar-client.js";
import type { TandemEnv } from "../env.js";
import type { Logger } from "./logger.js";
import type { RouteDefinition } from "./routes.js";
import type { Facets } from "./runtime.js";

/** What a concern's implementations are built from, in either mode. */
export interface ConcernContext {
  env: TandemEnv;
  /** The parsed config file (`{}` when there is none). */
  config: Readonly<Record<string, unknown>>;
  logger: Logger;
}

/** What a remote implementation gets in addition: the client of the sidecar. */
export interface RemoteConcernContext extends ConcernContext {
  client: SidecarClient;
}

/** A facet implementation plus how to release what it holds. */
export interface ConcernInstance<F extends Partial<Facets>> {
  facets: F;
  /** Drains and flushes; called once when the runtime or the sidecar closes. */
  close?(): Promise<void>;
}

/**
 * One concern (resilience, observability, configuration) as its package exports it: a local
 * implementation, a remote one that talks to the sidecar, and the sidecar routes that serve the
 * local one over the wire. The runtime and the sidecar compose a list of these, so adding a
 * concern never edits either of them.
 */
export interface Concern<F extends Partial<Facets> = Partial<Facets>> {
  readonly name: string;
  /** The in-process implementation: library mode, the fallback, and the sidecar's own engine. */
  local(context: ConcernContext): Promise<ConcernInstance<F>>;
  /** The sidecar-mode implementation, talking to the sidecar through `context.client`. */
  remote(context: RemoteConcernContext): Promise<ConcernInstance<F>>;
  /** The routes the sidecar serves for this concern, wrapping a local instance. */
  routes?(instance: ConcernInstance<F>, context: ConcernContext): readonly RouteDefinition[];
}
