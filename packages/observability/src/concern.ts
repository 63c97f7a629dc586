import { randomBytes } from "node:crypto";
import type { Concern, ConcernInstance, Facets } from "@tandem/core";
import { PodMetrics } from "./metrics/pod-metrics.js";
import { RemoteMetrics } from "./remote/remote-metrics.js";
import { metricsRoutes } from "./routes.js";

type ObservabilityFacets = Pick<Facets, "metrics">;

interface LocalObservability extends ConcernInstance<ObservabilityFacets> {
  pod: PodMetrics;
}

/** This process's id in its pod: the pid alone may repeat across containers of one pod. */
function processId(): string {
  return `${process.pid}-${randomBytes(3).toString("hex")}`;
}

/**
 * Metrics: recorded in-process in both modes; exposed by the service in library mode, merged
 * for the whole pod by the sidecar in sidecar mode.
 */
export const observabilityConcern: Concern<ObservabilityFacets, LocalObservability> = {
  name: "observability",

  async local() {
    const pod = new PodMetrics({ self: processId() });
    return { pod, facets: { metrics: pod.ownMetrics() }, metricsText: (openMetrics) => pod.text(openMetrics) };
  },

  async remote(context) {
    const metrics = new RemoteMetrics({ client: context.client, logger: context.logger, process: processId() });
    return { facets: { metrics }, close: () => metrics.close() };
  },

  routes: (instance) => metricsRoutes(instance.pod),
};
