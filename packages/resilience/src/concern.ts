import type { Concern, ConcernContext, ConcernInstance, Facets, Http, Resilience } from "@tandem/core";
import { registerResilienceProblems } from "./errors.js";
import { forwardProxy } from "./http/forward-proxy.js";
import { LocalHttp } from "./http/local-http.js";
import { RemoteHttp } from "./http/remote-http.js";
import { LocalResilience } from "./local/local-resilience.js";
import { PermitService } from "./permits/permit-service.js";
import { RemoteResilience } from "./permits/remote-resilience.js";
import { DeadlineWheel } from "./policies/deadline-wheel.js";
import { resilienceRoutes } from "./routes.js";

type ResilienceFacets = Pick<Facets, "resilience" | "http">;

interface LocalResilienceInstance extends ConcernInstance<ResilienceFacets> {
  local: { http: LocalHttp; resilience: LocalResilience; permits: PermitService };
}

function config(context: ConcernContext) {
  const config = context.facets.config;
  if (config === undefined) throw new Error("the resilience concern needs the config concern before it");
  return config;
}

/**
 * Resilience: named policies for `rt.resilience.execute` and named upstreams for `rt.http`.
 * In sidecar mode `rt.http` goes through the sidecar's forward proxy and
 * `rt.resilience.execute` asks the sidecar for a permit before each attempt, so the pod shares
 * one breaker, bulkhead, rate limit and retry budget per upstream and per policy. When the
 * sidecar is unreachable, both serve in-process with the same config (counted).
 */
export const resilienceConcern: Concern<ResilienceFacets, LocalResilienceInstance> = {
  name: "resilience",

  async local(context) {
    const wheel = new DeadlineWheel();
    const resilience = new LocalResilience(config(context), context.facets.metrics, context.logger, wheel);
    const http = new LocalHttp(config(context), context.facets.metrics, context.logger, wheel, context.facets.tracer);
    return {
      local: { http, resilience, permits: new PermitService(resilience) },
      facets: { resilience, http },
      forwardProxy: forwardProxy(http),
      close: async () => {
        resilience.close();
        await http.close();
      },
    };
  },

  routes: (instance) => resilienceRoutes(instance.local.http, instance.local.resilience, instance.local.permits),

  async remote(context) {
    registerResilienceProblems();
    const cfg = config(context);
    const wheel = new DeadlineWheel();
    let localHttp: LocalHttp | undefined;
    let localResilience: LocalResilience | undefined;
    const fallbacks = context.facets.metrics?.counter("tandem_sidecar_fallback_total", {
      help: "Times this process ran on the local implementation because the sidecar was unreachable.",
    });
    let warned = false;
    const onFallback = (facet: string) => () => {
      fallbacks?.inc();
      if (warned) return;
      warned = true;
      context.logger.warn({ event: "sidecar_fallback", facet }, "sidecar unreachable: served in-process");
    };
    const http = new RemoteHttp(
      context.client,
      (): Http => {
        localHttp ??= new LocalHttp(cfg, context.facets.metrics, context.logger, wheel, context.facets.tracer);
        return localHttp;
      },
      onFallback("http"),
      (upstream) => cfg.get<number>(`upstreams.${upstream}.timeout.total`) ?? 10_000,
      () => Object.keys(cfg.get<Record<string, unknown>>("upstreams") ?? {}),
      wheel,
    );
    const resilience = new RemoteResilience(
      context.client,
      cfg,
      wheel,
      (): Resilience => {
        localResilience ??= new LocalResilience(cfg, context.facets.metrics, context.logger, wheel);
        return localResilience;
      },
      onFallback("resilience"),
    );
    return {
      facets: { resilience, http },
      close: async () => {
        localResilience?.close();
        await localHttp?.close();
      },
    };
  },
};
