import type { Exposition, HistogramOptions, Metrics } from "@tandem/core";
import {
  type FamilySnapshot,
  OPENMETRICS_TEXT,
  PROMETHEUS_TEXT,
  wantsOpenMetrics,
  writeFamilies,
} from "./exposition.js";
import {
  type HistogramSeries,
  type MetricDefinition,
  MetricError,
  type MetricFamily,
  type ValueSeries,
} from "./metric-family.js";
import { type GaugeOptions, MetricRegistry } from "./metric-registry.js";

/** One metric as a process sends it: its definition and the series that changed. */
export interface FamilyBatch extends MetricDefinition {
  /** `[labels, value]` for counters (a delta) and gauges (the value); `[labels, counts, sum, count]` for histograms (deltas). */
  series: ([string[], number] | [string[], number[], number, number])[];
}

/** What a process sends every flush. */
export interface MetricsBatch {
  /** Identifies the process, so its gauges can be told apart and expired. */
  process: string;
  families: FamilyBatch[];
}

/** A family the pod refused, and why. */
export interface RejectedFamily {
  name: string;
  reason: string;
}

interface ProcessGauges {
  registry: MetricRegistry;
  lastSeen: number;
  /** The pod's own process never expires. */
  pinned: boolean;
}

/** Options of `PodMetrics`. */
export interface PodMetricsOptions {
  /** This process's id among the pod's (the sidecar, or the service in library mode). */
  self: string;
  /** A process that has not flushed for this long stops contributing gauges. Default 15 000 ms. */
  processTtlMs?: number;
  maxSeriesPerMetric?: number;
  /** Distinct metric names the pod keeps; a batch's new families past it are refused. Default 2000. */
  maxFamilies?: number;
}

const DEFAULT_MAX_FAMILIES = 2000;

/**
 * The metrics of a pod: counters and histograms from every process added up, gauges combined
 * as each declares (sum, max, min, or one series per process). In library mode the pod is the
 * service alone; the sidecar merges every process that sends it batches.
 */
export class PodMetrics {
  /** Counters and histograms of every process, summed; every definition, for conflicts. */
  readonly registry: MetricRegistry;
  readonly #gauges = new Map<string, ProcessGauges>();
  readonly #options: PodMetricsOptions;
  readonly #maxSeries: number;

  constructor(options: PodMetricsOptions) {
    this.#options = options;
    this.#maxSeries = options.maxSeriesPerMetric ?? 1000;
    this.registry = new MetricRegistry({ maxSeriesPerMetric: this.#maxSeries });
    this.#gauges.set(options.self, {
      registry: new MetricRegistry({ maxSeriesPerMetric: this.#maxSeries }),
      lastSeen: 0,
      pinned: true,
    });
  }

  /** Instruments that record straight into the pod, for this process's own metrics. */
  ownMetrics(): Metrics {
    const own = this.#gauges.get(this.#options.self) as ProcessGauges;
    return {
      counter: (name, options) => this.registry.counter(name, options),
      histogram: (name, options?: HistogramOptions) => this.registry.histogram(name, options),
      gauge: (name, options?: GaugeOptions) => {
        // Declared in the pod registry too, so a clash with another process's metric is caught.
        this.registry.gauge(name, options);
        return own.registry.gauge(name, options);
      },
      expose: async (accept) => this.expose(accept),
    };
  }

  /**
   * Adds a process's batch. A family that clashes with what the pod knows, or is malformed, is
   * refused whole (and named in the answer); the others apply.
   */
  apply(batch: MetricsBatch, now = Date.now()): RejectedFamily[] {
    const rejected: RejectedFamily[] = [];
    for (const family of batch.families) {
      try {
        this.#applyFamily(batch.process, family, now);
      } catch (error) {
        rejected.push({ name: family.name, reason: (error as Error).message });
      }
    }
    const gauges = this.#gauges.get(batch.process);
    if (gauges !== undefined) gauges.lastSeen = now;
    return rejected;
  }

  #applyFamily(process: string, batch: FamilyBatch, now: number): void {
    const { series, ...definition } = batch;
    // Each metric's label sets are capped; the number of metrics is too, or a process that
    // makes up names (one per path, per user) would grow the sidecar without bound.
    const maxFamilies = this.#options.maxFamilies ?? DEFAULT_MAX_FAMILIES;
    if (!this.registry.families.has(definition.name) && this.registry.families.size >= maxFamilies) {
      throw new MetricError(
        `the pod already has ${this.registry.families.size} metrics, the most it keeps; ${definition.name} is refused`,
        { metric: definition.name },
      );
    }
    const family = this.registry.define(definition);
    const def = family.definition;
    if (def.type === "gauge") {
      let gauges = this.#gauges.get(process);
      if (gauges === undefined) {
        // Processes that stopped reporting go before a new one comes in, scraped or not.
        this.#dropStale(now);
        gauges = {
          registry: new MetricRegistry({ maxSeriesPerMetric: this.#maxSeries }),
          lastSeen: now,
          pinned: false,
        };
        this.#gauges.set(process, gauges);
      }
      const own = gauges.registry.define(def);
      // A gauge batch is the process's whole state for that gauge.
      for (const entry of series)
        if (entry.length !== 2) throw new MetricError(`gauge ${def.name}: a series is not [labels, value]`);
      own.series.clear();
      for (const [labels, value] of series as [string[], number][])
        (own.seriesForValues(labels) as ValueSeries).value = value;
      return;
    }
    // Check every series before touching anything, so a refused family leaves no trace.
    const width = (def.buckets?.length ?? 0) + 1;
    for (const entry of series) {
      if (entry[0].length !== def.labelNames.length)
        throw new MetricError(
          `${def.name}: a series has ${entry[0].length} label values, expected ${def.labelNames.length}`,
        );
      if (def.type === "counter" && (entry.length !== 2 || !(entry[1] >= 0) || !Number.isFinite(entry[1]))) {
        throw new MetricError(`counter ${def.name}: deltas must be finite and not negative`);
      }
      if (
        def.type === "histogram" &&
        (entry.length !== 4 || entry[1].length !== width || entry[1].some((c) => !(c >= 0)))
      ) {
        throw new MetricError(`histogram ${def.name}: each series needs ${width} bucket counts, a sum and a count`);
      }
    }
    for (const entry of series) {
      const target = family.seriesForValues(entry[0]);
      if (entry.length === 2) {
        (target as ValueSeries).value += entry[1];
      } else {
        const h = target as HistogramSeries;
        for (let i = 0; i < width; i++) (h.counts[i] as number) += entry[1][i] as number;
        h.sum += entry[2];
        h.count += entry[3];
      }
    }
  }

  /** Every family as exposed, gauges combined across live processes. */
  families(now = Date.now()): FamilySnapshot[] {
    this.#dropStale(now);
    const out: FamilySnapshot[] = [];
    for (const family of this.registry.families.values()) {
      if (family.definition.type === "gauge") out.push(this.#combineGauge(family));
      else out.push({ definition: family.definition, series: family.series.values() });
    }
    return out;
  }

  #dropStale(now: number): void {
    const ttl = this.#options.processTtlMs ?? 15_000;
    for (const [process, gauges] of this.#gauges)
      if (!gauges.pinned && now - gauges.lastSeen > ttl) this.#gauges.delete(process);
  }

  #combineGauge(family: MetricFamily): FamilySnapshot {
    const definition = family.definition;
    const aggregation = definition.aggregation ?? "sum";
    const combined = new Map<string, ValueSeries>();
    const perProcess: ValueSeries[] = [];
    for (const [process, gauges] of this.#gauges) {
      const own = gauges.registry.families.get(definition.name);
      if (own === undefined) continue;
      for (const [key, series] of own.series) {
        const { labels, value } = series as ValueSeries;
        if (aggregation === "per-process") {
          perProcess.push({ labels: [...labels, process], value });
          continue;
        }
        const current = combined.get(key);
        if (current === undefined) combined.set(key, { labels, value });
        else if (aggregation === "sum") current.value += value;
        else if (aggregation === "max") current.value = Math.max(current.value, value);
        else current.value = Math.min(current.value, value);
      }
    }
    return aggregation === "per-process"
      ? { definition, extraLabels: ["process"], series: perProcess }
      : { definition, series: combined.values() };
  }

  /** Families as exposition text (no final `# EOF`), for the sidecar to join with its own. */
  text(openMetrics: boolean): string {
    return writeFamilies(this.families(), openMetrics);
  }

  /** The exposition for a scrape, in the format `accept` asks for. */
  expose(accept: string | undefined): Exposition {
    const openMetrics = wantsOpenMetrics(accept);
    return {
      contentType: openMetrics ? OPENMETRICS_TEXT : PROMETHEUS_TEXT,
      body: this.text(openMetrics) + (openMetrics ? "# EOF\n" : ""),
    };
  }
}
