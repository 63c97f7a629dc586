import { collectDefaultMetrics, Gauge, Registry } from "prom-client";

const LINT_FAILING_DEFAULTS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

type Format = typeof Registry.PROMETHEUS_CONTENT_TYPE | typeof Registry.OPENMETRICS_CONTENT_TYPE;

/**
 * The sidecar's own metrics: process metrics and its lifecycle state. One registry per format:
 * prom-client renames counters in place while it renders OpenMetrics, so a registry shared by
 * both formats would serve broken text after the first OpenMetrics scrape.
 */
export class ProcessMetrics {
  readonly #registries: Record<"text" | "openmetrics", Registry<Format>>;
  readonly #ready: Gauge[] = [];
  readonly #inflight: Gauge[] = [];

  constructor(version: string) {
    const openmetrics = new Registry<Format>();
    openmetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    this.#registries = { text: new Registry<Format>(), openmetrics };
    for (const registry of Object.values(this.#registries)) {
      collectDefaultMetrics({ register: registry });
      // Gauges named *_total break Prometheus naming (promtool flags them); the per-type gauges
      // without the suffix carry the same numbers.
      for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name);
      new Gauge({
        name: "tandem_build_info",
        help: "Always 1; the labels say which tandem build runs.",
        labelNames: ["version", "node_version"],
        registers: [registry],
      }).set({ version, node_version: process.version }, 1);
      this.#ready.push(
        new Gauge({
          name: "tandem_sidecar_ready",
          help: "1 while the sidecar is ready to serve, 0 while starting or draining.",
          registers: [registry],
        }),
      );
      this.#inflight.push(
        new Gauge({
          name: "tandem_sidecar_inflight_requests",
          help: "Requests the sidecar is serving now, event streams excluded.",
          registers: [registry],
        }),
      );
    }
  }

  setReady(ready: boolean): void {
    for (const gauge of this.#ready) gauge.set(ready ? 1 : 0);
  }

  setInflight(count: number): void {
    for (const gauge of this.#inflight) gauge.set(count);
  }

  /** The exposition for a scrape, OpenMetrics when the scraper asks for it. */
  async expose(accept: string | undefined): Promise<{ contentType: string; body: string }> {
    const openMetrics = accept?.includes("application/openmetrics-text") ?? false;
    const registry = openMetrics ? this.#registries.openmetrics : this.#registries.text;
    return { contentType: registry.contentType, body: await registry.metrics() };
  }
}
