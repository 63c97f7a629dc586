import type { Concern, Facets } from "@tandem/core";
import { registerResilienceProblems } from "./errors.js";
import { LocalResilience } from "./local/local-resilience.js";

type ResilienceFacets = Pick<Facets, "resilience">;

/**
 * Resilience: named policies for `rt.resilience.execute`. This build runs them in-process in
 * both modes; in sidecar mode each process keeps its own policy state (one breaker per process,
 * not per pod) and says so once at start.
 */
export const resilienceConcern: Concern<ResilienceFacets> = {
  name: "resilience",

  async local(context) {
    const config = context.facets.config;
    if (config === undefined) throw new Error("the resilience concern needs the config concern before it");
    const resilience = new LocalResilience(config, context.facets.metrics, context.logger);
    return { facets: { resilience }, close: async () => resilience.close() };
  },

  async remote(context) {
    registerResilienceProblems();
    const config = context.facets.config;
    if (config === undefined) throw new Error("the resilience concern needs the config concern before it");
    context.logger.warn(
      { event: "resilience_in_process" },
      "resilience policies run in this process: their state (breakers, bulkheads, rate limits) is not yet shared through the sidecar",
    );
    const resilience = new LocalResilience(config, context.facets.metrics, context.logger);
    return { facets: { resilience }, close: async () => resilience.close() };
  },
};
