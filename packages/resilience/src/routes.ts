import { defineRoute, type RouteDefinition } from "@tandem/core";
import { z } from "zod";
import type { LocalHttp } from "./http/local-http.js";
import type { LocalResilience } from "./local/local-resilience.js";
import type { PermitService } from "./permits/permit-service.js";

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

const Outcomes = z
  .array(
    z.object({
      permit: z.string().max(64),
      ok: z.boolean(),
      aborted: z.boolean().optional().describe("The caller aborted the attempt: the breaker does not count it."),
      durationMs: z.number().nonnegative(),
      final: z.boolean().describe("The execution is over: its bulkhead slot is given back."),
    }),
  )
  .max(10_000);

const PermitBody = z.object({
  policy: z.string().min(1).max(256),
  execution: z.string().max(64).optional().describe("The execution a retry belongs to; absent for a first attempt."),
  outcomes: Outcomes.optional().describe("Outcomes not reported yet, applied before the decision."),
});

const OutcomesBody = z.object({ outcomes: Outcomes });

/**
 * The resilience routes: permits and outcomes for `rt.resilience.execute` in sidecar mode, and
 * the state of every breaker, bulkhead and endpoint, for operators.
 */
export function resilienceRoutes(
  http: LocalHttp,
  resilience: LocalResilience,
  permits: PermitService,
): RouteDefinition[] {
  return [
    defineRoute({
      method: "POST",
      path: "/v1/resilience/permits",
      tag: "resilience",
      summary:
        "Asks for a permit to make one attempt under a policy; the pod's rate limit, bulkhead, budget and breaker decide.",
      description:
        "A first attempt (no `execution`) goes through the rate limit and the bulkhead (waiting in its queue if it has one); a retry through the retry budget; every attempt through the breaker. Refusals are problems with the codes rate_limited, bulkhead_rejected, retry_budget_exhausted, circuit_open. Report each attempt to /v1/resilience/outcomes.",
      body: PermitBody,
      responses: {
        200: { description: "Granted.", schema: z.object({ execution: z.string(), permit: z.string() }) },
      },
      handler: async ({ body, signal }) => ({ body: await permits.acquire(body, signal) }),
    }),
    defineRoute({
      method: "POST",
      path: "/v1/resilience/outcomes",
      tag: "resilience",
      summary:
        "Reports how permitted attempts went, in a batch: the breaker counts them, final ones free their bulkhead slot.",
      body: OutcomesBody,
      responses: { 200: { description: "Applied.", schema: z.object({ applied: z.int() }) } },
      handler: ({ body }) => {
        permits.report(body.outcomes);
        return { body: { applied: body.outcomes.length } };
      },
    }),
    {
      method: "GET",
      path: "/v1/resilience/state",
      tag: "resilience",
      summary:
        "Breaker states and endpoints (load, ejections) of every upstream; breaker states and bulkhead use of every policy.",
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
