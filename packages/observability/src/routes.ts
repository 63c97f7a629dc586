import { defineRoute, type RouteDefinition } from "@tandem/core";
import { z } from "zod";
import type { PodMetrics } from "./metrics/pod-metrics.js";

const labels = z.array(z.string().max(1024)).max(32);

const Batch = z.object({
  process: z.string().min(1).max(128).describe("Identifies the sending process within the pod."),
  families: z
    .array(
      z.object({
        name: z.string().max(256),
        type: z.enum(["counter", "gauge", "histogram"]),
        help: z.string().max(4096),
        labelNames: z.array(z.string().max(128)).max(32),
        buckets: z.array(z.number()).max(64).optional(),
        aggregation: z.enum(["sum", "max", "min", "per-process"]).optional(),
        series: z
          .array(
            z.union([
              z.tuple([labels, z.number()]),
              z.tuple([labels, z.array(z.number()).max(65), z.number(), z.number()]),
            ]),
          )
          .max(10_000)
          .describe(
            "[labels, value] (counter delta, gauge value) or [labels, bucketCounts, sum, count] (histogram deltas).",
          ),
      }),
    )
    .max(1000),
});

/**
 * The sidecar's metrics routes: processes of the pod push what they recorded, and anyone with
 * the token can read the merged result (the admin `/metrics` serves it too, without a token).
 */
export function metricsRoutes(pod: PodMetrics): RouteDefinition[] {
  return [
    defineRoute({
      method: "POST",
      path: "/v1/metrics",
      tag: "metrics",
      summary: "Adds a process's metric deltas (counters, histograms) and values (gauges) to the pod's.",
      description:
        "Send every second or so. Families that clash with what the pod already has (another type or labels) are refused and named in `rejected`; the others apply.",
      body: Batch,
      responses: {
        200: {
          description: "Applied; any refused families are listed.",
          schema: z.object({ rejected: z.array(z.object({ name: z.string(), reason: z.string() })) }),
        },
      },
      handler: ({ body }) => ({ body: { rejected: pod.apply(body) } }),
    }),
    {
      method: "GET",
      path: "/v1/metrics",
      tag: "metrics",
      summary: "The pod's merged metrics, as Prometheus text or OpenMetrics (by Accept).",
      responses: { 200: { description: "The exposition.", contentType: "text/plain; version=0.0.4" } },
      handler: ({ req, res }) => {
        const { contentType, body } = pod.expose(req.headers.accept);
        res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
        res.end(body);
        return undefined;
      },
    },
  ];
}
