import type { RouteDefinition } from "@tandem/core";
import { z } from "zod";
import type { LocalHttp } from "./http/local-http.js";
import type { LocalResilience } from "./local/local-resilience.js";

const Breaker = z.enum(["closed", "open", "half_open"]).optional().describe("Absent when the policy has no breaker.");

const State = z.object({
  upstreams: z.record(
    z.string(),
    z.object({
      breaker: Breaker,
      endpoints: z.array(
        z.object({
          address: z.string(),
          active: z.int().describe("Requests in flight."),
          ejected: z.boolean(),
          ejectedForMs: z.int().describe("Time left of the ejection; 0 when not ejected."),
          ejections: z.int().describe("Times ejected since start."),
        }),
      ),
    }),
  ),
  policies: z.record(
    z.string(),
    z.object({
      breaker: Breaker,
      bulkhead: z.object({ active: z.int(), queued: z.int() }).optional(),
    }),
  ),
});

/** The resilience routes: the state of every breaker, bulkhead and endpoint, for operators. */
export function resilienceRoutes(http: LocalHttp, resilience: LocalResilience): RouteDefinition[] {
  return [
    {
      method: "GET",
      path: "/v1/resilience/state",
      tag: "resilience",
      summary: "Breaker states, ejected endpoints and bulkhead use of every upstream and policy, shared by the pod.",
      responses: { 200: { description: "The state now.", schema: State } },
      handler: () => {
        const now = performance.now();
        const upstreams: Record<string, unknown> = {};
        for (const name of http.names()) {
          const upstream = http.upstream(name);
          if (upstream === undefined) continue;
          upstreams[name] = {
            ...(upstream.breaker === undefined ? {} : { breaker: upstream.breaker.state }),
            endpoints: upstream.endpoints.map((e) => ({
              address: e.address,
              active: e.active,
              ejected: e.ejected(now),
              ejectedForMs: Math.max(0, Math.round(e.ejectedUntil - now)),
              ejections: e.ejections,
            })),
          };
        }
        const policies: Record<string, unknown> = {};
        for (const name of resilience.names()) {
          const policy = resilience.policy(name);
          if (policy === undefined) continue;
          policies[name] = {
            ...(policy.breaker === undefined ? {} : { breaker: policy.breaker.state }),
            ...(policy.bulkhead === undefined
              ? {}
              : { bulkhead: { active: policy.bulkhead.active, queued: policy.bulkhead.queued } }),
          };
        }
        return { body: { upstreams, policies } };
      },
    },
  ];
}
