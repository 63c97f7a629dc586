import type { Concern, ConcernContext, Facets } from "@tandem/core";
import { registerResilienceProblems } from "./errors.js";
import { LocalHttp } from "./http/local-http.js";
import { LocalResilience } from "./local/local-resilience.js";
import { DeadlineWheel } from "./policies/deadline-wheel.js";

type ResilienceFacets = Pick<Facets, "resilience" | "http">;

function build(context: ConcernContext) {
  const config = context.facets.config;
  if (config === undefined) throw new Error("the resilience concern needs the config concern before it");
  const wheel = new DeadlineWheel();
  const resilience = new LocalResilience(config, context.facets.metrics, context.logger, wheel);
  const http = new LocalHttp(config, context.facets.metrics, context.logger, wheel);
  return {
    facets: { resilience, http },
    close: async () => {
      resilience.close();
      await http.close();
    },
  };
}

/**
 * Resilience: named policies for `rt.resilience.execute` and named upstreams for `rt.http`.
 * This build runs both in-process in either mode; in sidecar mode each process keeps its own
 * state (one breaker per process, not per pod) and says so once at start.
 */
export const resilienceConcern: Concern<ResilienceFacets> = {
  name: "resilience",

  async local(context) {
    return build(context);
  },

  async remote(context) {
    registerResilienceProblems();
    context.logger.warn(
      { event: "resilience_in_process" },
      "resilience runs in this process: breaker, bulkhead and rate-limit state is not yet shared through the sidecar",
    );
    return build(context);
  },
};
