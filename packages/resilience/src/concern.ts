import type { Concern, ConcernContext, ConcernInstance, Facets, Http } from "@tandem/core";
import { registerResilienceProblems } from "./errors.js";
import { forwardProxy } from "./http/forward-proxy.js";
import { LocalHttp } from "./http/local-http.js";
import { RemoteHttp } from "./http/remote-http.js";
import { LocalResilience } from "./local/local-resilience.js";
import { DeadlineWheel } from "./policies/deadline-wheel.js";
import { resilienceRoutes } from "./routes.js";

type ResilienceFacets = Pick<Facets, "resilience" | "http">;

interface LocalResilienceInstance extends ConcernInstance<ResilienceFacets> {
  local: { http: LocalHttp; resilience: LocalResilience };
}

function config(context: ConcernContext) {
  const config = context.facets.config;
  if (config === undefined) throw new Error("the resilience concern needs the config concern before it");
  return config;
}

/**
 * Resilience: named policies for `rt.resilience.execute` and named upstreams for `rt.http`.
 * In sidecar mode `rt.http` goes through the sidecar's forward proxy, so the pod shares one
 * set of breakers, ejections and budgets per upstream; `rt.resilience.execute` still runs its
 * policies in-process in this build (state per process), and says so once at start.
 */
export const resilienceConcern: Concern<ResilienceFacets, LocalResilienceInstance> = {
  name: "resilience",

  async local(context) {
    const wheel = new DeadlineWheel();
    const resilience = new LocalResilience(config(context), context.facets.metrics, context.logger, wheel);
    const http = new LocalHttp(config(context), context.facets.metrics, context.logger, wheel);
    return {
      local: { http, resilience },
      facets: { resilience, http },
      forwardProxy: forwardProxy(http),
      close: async () => {
        resilience.close();
        await http.close();
      },
    };
  },

  routes: (instance) => resilienceRoutes(instance.local.http, instance.local.resilience),

  async remote(context) {
    registerResilienceProblems();
    const cfg = config(context);
    context.logger.warn(
      { event: "resilience_in_process" },
      "rt.resilience.execute runs its policies in this process: their state is not yet shared through the sidecar",
    );
    const wheel = new DeadlineWheel();
    const resilience = new LocalResilience(cfg, context.facets.metrics, context.logger, wheel);
    let local: LocalHttp | undefined;
    const fallbacks = context.facets.metrics?.counter("tandem_sidecar_fallback_total", {
      help: "Times this process ran on the local implementation because the sidecar was unreachable.",
    });
    const http = new RemoteHttp(
      context.client,
      (): Http => {
        local ??= new LocalHttp(cfg, context.facets.metrics, context.logger, wheel);
        return local;
      },
      () => {
        fallbacks?.inc();
        context.logger.warn(
          { event: "sidecar_fallback", facet: "http" },
          "sidecar unreachable: request served in-process",
        );
      },
      (upstream) => cfg.get<number>(`upstreams.${upstream}.timeout.total`) ?? 10_000,
      () => Object.keys(cfg.get<Record<string, unknown>>("upstreams") ?? {}),
    );
    return {
      facets: { resilience, http },
      close: async () => {
        resilience.close();
        await local?.close();
      },
    };
  },
};
