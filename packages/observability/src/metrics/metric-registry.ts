import type {
  Counter,
  Gauge,
  GaugeOptions,
  Histogram,
  HistogramOptions,
  InstrumentOptions,
  Labels,
} from "@tandem/core";
import {
  DEFAULT_BUCKETS,
  type HistogramSeries,
  type MetricDefinition,
  MetricError,
  MetricFamily,
  type MetricType,
  type SeriesBudget,
  sameShape,
  type ValueSeries,
  validateDefinition,
} from "./metric-family.js";

export type { GaugeOptions };

/** The counter of label sets folded into overflow series, by metric. */
const OVERFLOW_COUNTER = "tandem_metric_overflow_total";

/** Options of a `MetricRegistry`. */
export interface MetricRegistryOptions {
  /** Distinct label sets per metric before new ones fold into the overflow series. Default 1000. */
  maxSeriesPerMetric?: number;
  /** A bound on series across all metrics (sidecar mode's pending deltas). */
  budget?: SeriesBudget;
}

/**
 * Where instruments record, in both modes: plain numbers in maps, no I/O and no timer per
 * call. Library mode exposes it as it is; sidecar mode sends what changed to the sidecar.
 */
export class MetricRegistry {
  readonly families = new Map<string, MetricFamily>();
  readonly #maxSeries: number;
  readonly #budget: SeriesBudget | undefined;

  constructor(options: MetricRegistryOptions = {}) {
    this.#maxSeries = options.maxSeriesPerMetric ?? 1000;
    this.#budget = options.budget;
  }

  /**
   * The family for `definition`, created on first use. Declaring a name again with another
   * type, labels or buckets is a `MetricError`: two meanings for one name would corrupt both.
   */
  define(definition: MetricDefinition): MetricFamily {
    const existing = this.families.get(definition.name);
    const normal: MetricDefinition =
      definition.type === "histogram" ? { ...definition, buckets: definition.buckets ?? DEFAULT_BUCKETS } : definition;
    if (existing !== undefined) {
      if (!sameShape(existing.definition, normal)) {
        throw new MetricError(
          `metric ${definition.name} is already declared as a ${existing.definition.type} with labels [${existing.definition.labelNames.join(", ")}]`,
          { metric: definition.name },
        );
      }
      return existing;
    }
    validateDefinition(normal);
    const family = new MetricFamily(normal, this.#maxSeries, this.#budget, (metric) => this.#overflowed(metric));
    this.families.set(definition.name, family);
    return family;
  }

  /** Counts label sets folded into a metric's overflow series, so the cap never hides silently. */
  #overflowed(metric: string): void {
    if (metric === OVERFLOW_COUNTER) return;
    this.counter(OVERFLOW_COUNTER, {
      help: "Label sets folded into a metric's __overflow__ series because it reached its cap of distinct label sets.",
      labelNames: ["metric"],
    }).inc({ metric });
  }

  counter(name: string, options: InstrumentOptions = {}): Counter {
    const family = this.define(definitionOf(name, "counter", options));
    return {
      inc(labels?: Labels, value = 1) {
        if (!(value >= 0)) throw new MetricError(`counter ${name} cannot go down (inc by ${value})`, { metric: name });
        (family.seriesFor(labels) as ValueSeries).value += value;
      },
    };
  }

  gauge(name: string, options: GaugeOptions = {}): Gauge {
    const family = this.define({ ...definitionOf(name, "gauge", options), aggregation: options.aggregation ?? "sum" });
    return {
      set(labels: Labels | undefined, value: number) {
        (family.seriesFor(labels) as ValueSeries).value = value;
      },
      inc(labels?: Labels, value = 1) {
        (family.seriesFor(labels) as ValueSeries).value += value;
      },
      dec(labels?: Labels, value = 1) {
        (family.seriesFor(labels) as ValueSeries).value -= value;
      },
    };
  }

  histogram(name: string, options: HistogramOptions = {}): Histogram {
    const family = this.define({
      ...definitionOf(name, "histogram", options),
      ...(options.buckets === undefined ? {} : { buckets: options.buckets }),
    });
    const buckets = family.definition.buckets as readonly number[];
    return {
      observe(labels: Labels | undefined, value: number) {
        const series = family.seriesFor(labels) as HistogramSeries;
        let i = 0;
        while (i < buckets.length && value > (buckets[i] as number)) i++;
        (series.counts[i] as number)++;
        series.sum += value;
        series.count++;
      },
    };
  }
}

function definitionOf(name: string, type: MetricType, options: InstrumentOptions): MetricDefinition {
  return { name, type, help: options.help ?? name, labelNames: options.labelNames ?? [] };
}
