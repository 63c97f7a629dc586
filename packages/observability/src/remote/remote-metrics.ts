import {
  type Exposition,
  type HistogramOptions,
  type InstrumentOptions,
  type Logger,
  type Metrics,
  type SidecarClient,
  TandemError,
} from "@tandem/core";
import { OPENMETRICS_TEXT, PROMETHEUS_TEXT, wantsOpenMetrics } from "../metrics/exposition.js";
import type { HistogramSeries, ValueSeries } from "../metrics/metric-family.js";
import { type GaugeOptions, MetricRegistry } from "../metrics/metric-registry.js";
import type { FamilyBatch, MetricsBatch, RejectedFamily } from "../metrics/pod-metrics.js";
import { TELEMETRY_DROPPED } from "../telemetry-dropped.js";

/** Options of `RemoteMetrics`. */
export interface RemoteMetricsOptions {
  client: SidecarClient;
  logger: Logger;
  /** This process's id in the pod. */
  process: string;
  /** How often deltas go to the sidecar. Default 1000 ms. */
  flushIntervalMs?: number;
  /** Series held while the sidecar is away; beyond, new series are dropped and counted. Default 10 000. */
  maxPendingSeries?: number;
  maxSeriesPerMetric?: number;
}

/**
 * `rt.metrics` in sidecar mode. Recording is the same in-process work as in library mode (no
 * I/O per call); every second the changes go to the sidecar in one request: counter and
 * histogram deltas, gauge values. While the sidecar is away the deltas keep adding up, within a
 * bound on series; what the bound refuses is counted in `tandem_telemetry_dropped_total`.
 */
export class RemoteMetrics implements Metrics {
  readonly registry: MetricRegistry;
  readonly #options: RemoteMetricsOptions;
  readonly #timer: NodeJS.Timeout;
  readonly #rejected = new Set<string>();
  #pending = 0;
  #dropped = 0;
  #flushing: Promise<void> | undefined;
  #away = false;

  constructor(options: RemoteMetricsOptions) {
    this.#options = options;
    const max = options.maxPendingSeries ?? 10_000;
    this.registry = new MetricRegistry({
      ...(options.maxSeriesPerMetric === undefined ? {} : { maxSeriesPerMetric: options.maxSeriesPerMetric }),
      budget: {
        take: () => {
          if (this.#pending >= max) {
            this.#dropped++;
            return false;
          }
          this.#pending++;
          return true;
        },
      },
    });
    this.#timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 1000);
    this.#timer.unref();
  }

  counter(name: string, options?: InstrumentOptions) {
    return this.registry.counter(name, options);
  }

  gauge(name: string, options?: GaugeOptions) {
    return this.registry.gauge(name, options);
  }

  histogram(name: string, options?: HistogramOptions) {
    return this.registry.histogram(name, options);
  }

  /** The pod's metrics as the sidecar serves them, after sending what this process recorded. */
  async expose(accept?: string): Promise<Exposition> {
    await this.flush();
    const openMetrics = wantsOpenMetrics(accept);
    const body = await this.#options.client.get<string>("/v1/metrics", {
      headers: { accept: openMetrics ? "application/openmetrics-text; version=1.0.0" : "text/plain; version=0.0.4" },
    });
    return { contentType: openMetrics ? OPENMETRICS_TEXT : PROMETHEUS_TEXT, body };
  }

  /** Sends the changes now. Concurrent calls share one request. Never rejects. */
  flush(): Promise<void> {
    this.#flushing ??= this.#send().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  /** Stops the timer and sends what is left. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  async #send(): Promise<void> {
    const { batch, sent } = this.#snapshot();
    if (batch.families.length === 0) return;
    let rejected: RejectedFamily[];
    try {
      ({ rejected } = await this.#options.client.post<{ rejected: RejectedFamily[] }>("/v1/metrics", batch, {
        timeoutMs: 2000,
      }));
    } catch (error) {
      if (TandemError.is(error) && error.status >= 400 && error.status < 500) {
        // Refused as a whole (too large, malformed): sending it again would be refused again
        // and hold back every later metric. Drop it, count it, say so.
        let series = 0;
        for (const family of batch.families) series += family.series.length;
        for (const done of sent) done();
        this.#dropped += series;
        this.#options.logger.error(
          { event: "metrics_batch_refused", reason: error.message, series },
          "the sidecar refused a metrics batch; its series are dropped",
        );
        return;
      }
      if (!this.#away) {
        this.#away = true;
        this.#options.logger.warn(
          { event: "metrics_flush_failed", reason: (error as Error).message },
          "metrics kept in-process until the sidecar is back",
        );
      }
      return;
    }
    if (this.#away) {
      this.#away = false;
      this.#options.logger.info({ event: "metrics_flush_resumed" }, "metrics reach the sidecar again");
    }
    // Subtract what was sent rather than clearing: recording went on while the request flew.
    for (const done of sent) done();
    for (const { name, reason } of rejected) {
      if (this.#rejected.has(name)) continue;
      this.#rejected.add(name);
      this.#options.logger.error({ event: "metric_rejected", metric: name, reason }, "the sidecar refused a metric");
    }
  }

  #snapshot(): { batch: MetricsBatch; sent: (() => void)[] } {
    const families: FamilyBatch[] = [];
    const sent: (() => void)[] = [];
    for (const family of this.registry.families.values()) {
      const { definition } = family;
      if (this.#rejected.has(definition.name)) continue;
      const series: FamilyBatch["series"] = [];
      for (const [key, s] of family.series) {
        if (definition.type === "gauge") {
          series.push([[...s.labels], (s as ValueSeries).value]);
        } else if (definition.type === "counter") {
          const value = (s as ValueSeries).value;
          if (value === 0) continue;
          series.push([[...s.labels], value]);
          sent.push(() => {
            (s as ValueSeries).value -= value;
            if ((s as ValueSeries).value === 0 && family.series.delete(key)) this.#pending--;
          });
        } else {
          const h = s as HistogramSeries;
          if (h.count === 0) continue;
          const counts = [...h.counts];
          const { sum, count } = h;
          series.push([[...s.labels], counts, sum, count]);
          sent.push(() => {
            for (let i = 0; i < counts.length; i++) (h.counts[i] as number) -= counts[i] as number;
            h.sum -= sum;
            h.count -= count;
            if (h.count === 0 && family.series.delete(key)) this.#pending--;
          });
        }
      }
      if (series.length > 0 || definition.type === "gauge") families.push({ ...definition, series });
    }
    const dropped = this.#dropped;
    if (dropped > 0) {
      families.push({
        ...TELEMETRY_DROPPED,
        labelNames: [...TELEMETRY_DROPPED.labelNames],
        type: "counter",
        series: [[["metrics"], dropped]],
      });
      sent.push(() => {
        this.#dropped -= dropped;
      });
    }
    return { batch: { process: this.#options.process, families }, sent };
  }
}
