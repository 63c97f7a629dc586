import { collectDefaultMetrics, Gauge, Registry } from "prom-client";

const LINT_FAILING_DEFAULTS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/** The sidecar's own metrics registry: process metrics and its lifecycle state. */
export class ProcessMetrics {
  readonly registry = new Registry();
  readonly #ready: Gauge;
  readonly #inflight: Gauge;

  constructor(version: string) {
    collectDefaultMetrics({ register: this.registry });
    // Gauges named *_total break Prometheus naming (promtool flags them); the per-type gauges
    // without the suffix carry the same numbers.
    for (const name of LINT_FAILING_DEFAULTS) this.registry.removeSingleMetric(name);
    new Gauge({
      name: "tandem_build_info",
      help: "Always 1; the labels say which tandem build runs.",
      labelNames: ["version", "node_version"],
      registers: [this.registry],
    }).set({ version, node_version: process.version }, 1);
    this.#ready = new Gauge({
      name: "tandem_sidecar_ready",
      help: "1 while the sidecar is ready to serve, 0 while starting or draining.",
      registers: [this.registry],
    });
    this.#inflight = new Gauge({
      name: "tandem_sidecar_inflight_requests",
      help: "Requests the sidecar is serving now, event streams excluded.",
      registers: [this.registry],
    });
  }

  setReady(ready: boolean): void {
    this.#ready.set(ready ? 1 : 0);
  }

  setInflight(count: number): void {
    this.#inflight.set(count);
  }

  /** The exposition for a scrape, OpenMetrics when the scraper asks for it. */
  async expose(accept: string | undefined): Promise<{ contentType: string; body: string }> {
    const openMetrics = accept?.includes("application/openmetrics-text") ?? false;
    const contentType = openMetrics ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE;
    this.registry.setContentType(contentType as typeof Registry.PROMETHEUS_CONTENT_TYPE);
    return { contentType, body: await this.registry.metrics() };
  }
}
