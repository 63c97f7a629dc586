import { isFixedLabels, type Labels, TandemError } from "@tandem/core";

/** The three instrument kinds. */
export type MetricType = "counter" | "gauge" | "histogram";

/**
 * How the sidecar combines one gauge reported by several processes of a pod: added up (the
 * default, as prom-client's cluster mode does), the highest, the lowest, or kept apart with a
 * `process` label.
 */
export type GaugeAggregation = "sum" | "max" | "min" | "per-process";

/** What identifies a metric: two declarations of one name must agree on all of it. */
export interface MetricDefinition {
  name: string;
  type: MetricType;
  help: string;
  labelNames: readonly string[];
  /** Histograms: upper bounds, ascending, without +Inf. */
  buckets?: readonly number[];
  /** Gauges: how the sidecar merges processes. */
  aggregation?: GaugeAggregation;
}

/** One counter or gauge series. */
export interface ValueSeries {
  labels: readonly string[];
  value: number;
}

/** One histogram series: counts per bucket (not cumulative; the last is +Inf), sum and count. */
export interface HistogramSeries {
  labels: readonly string[];
  counts: number[];
  sum: number;
  count: number;
}

export type Series = ValueSeries | HistogramSeries;

/** Default histogram buckets, in seconds: OpenTelemetry's for HTTP durations. */
export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** The label value every label takes in the series that collects what went past the cap. */
export const OVERFLOW_LABEL = "__overflow__";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A metric declared or used wrongly: a bad name, an unknown label, a clashing redeclaration. */
export class MetricError extends TandemError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super("metric_invalid", message, { details, status: 400 });
  }
}

/** A bound on series across families: `take` says whether one more may be created. */
export interface SeriesBudget {
  take(): boolean;
}

/**
 * One metric and its series. Finding a series is one map lookup on a key built from the label
 * values; past `maxSeries` distinct label sets, new ones are folded into one overflow series
 * instead of growing memory without bound.
 */
export class MetricFamily {
  readonly definition: MetricDefinition;
  readonly series: Map<string, Series> = new SeriesMap(() => {
    this.#byFixed = new WeakMap();
  });
  /**
   * Series found by the identity of a `fixedLabels` object: a caller that keeps one per label
   * set (as `rt.http` does for its duration histogram) skips building the key on each
   * observation. Forgotten whenever a series is removed.
   */
  #byFixed = new WeakMap<Labels, Series>();
  readonly #maxSeries: number;
  readonly #budget: SeriesBudget | undefined;
  /** Label sets folded into the overflow series since start. */
  overflowed = 0;

  readonly #onOverflow: ((metric: string) => void) | undefined;

  constructor(
    definition: MetricDefinition,
    maxSeries: number,
    budget?: SeriesBudget,
    onOverflow?: (metric: string) => void,
  ) {
    this.definition = definition;
    this.#maxSeries = maxSeries;
    this.#budget = budget;
    this.#onOverflow = onOverflow;
  }

  /** The series for `labels`, created on first use. Throws `MetricError` on an undeclared label. */
  seriesFor(labels: Labels | undefined): Series {
    if (labels === undefined || !isFixedLabels(labels)) return this.#seriesFor(labels);
    return this.#byFixed.get(labels) ?? this.#seriesFor(labels, true);
  }

  /** `fixed`: remember the series for this labels object, once the family keeps it. */
  #seriesFor(labels: Labels | undefined, fixed = false): Series {
    const names = this.definition.labelNames;
    let key = "";
    let values: string[] | undefined;
    if (labels !== undefined) {
      let matched = 0;
      values = new Array<string>(names.length);
      for (let i = 0; i < names.length; i++) {
        const raw = labels[names[i] as string];
        if (raw !== undefined) matched++;
        const value = raw === undefined ? "" : String(raw);
        values[i] = value;
        key = i === 0 ? value : `${key}\u0000${value}`;
      }
      if (matched !== Object.keys(labels).length) this.#checkUnknown(labels);
    } else if (names.length > 0) {
      key = "\u0000".repeat(names.length - 1);
    }
    let series = this.series.get(key);
    if (series === undefined) {
      if (this.series.size >= this.#maxSeries) return this.#overflow();
      series = this.#create(values ?? names.map(() => ""));
      // Past the budget the value is recorded nowhere; the budget's owner counts the drop.
      if (this.#budget !== undefined && !this.#budget.take()) return series;
      this.series.set(key, series);
    }
    if (fixed) this.#byFixed.set(labels as Labels, series);
    return series;
  }

  /**
   * The series for label values given in declared order (as they arrive over the wire).
   * Throws `MetricError` when the count does not match.
   */
  seriesForValues(values: readonly string[]): Series {
    const names = this.definition.labelNames;
    if (values.length !== names.length) {
      throw new MetricError(
        `metric ${this.definition.name} has ${names.length} labels, a series gave ${values.length}`,
        {
          metric: this.definition.name,
        },
      );
    }
    const key = values.join("\u0000");
    let series = this.series.get(key);
    if (series === undefined) {
      if (this.series.size >= this.#maxSeries) return this.#overflow();
      series = this.#create([...values]);
      this.series.set(key, series);
    }
    return series;
  }

  #create(labels: readonly string[]): Series {
    if (this.definition.type !== "histogram") return { labels, value: 0 };
    const buckets = this.definition.buckets ?? DEFAULT_BUCKETS;
    return { labels, counts: new Array<number>(buckets.length + 1).fill(0), sum: 0, count: 0 };
  }

  #overflow(): Series {
    this.overflowed++;
    this.#onOverflow?.(this.definition.name);
    const labels = this.definition.labelNames.map(() => OVERFLOW_LABEL);
    const key = labels.join("\u0000");
    let series = this.series.get(key);
    if (series === undefined) {
      series = this.#create(labels);
      if (this.#budget !== undefined && !this.#budget.take()) return series;
      this.series.set(key, series);
    }
    return series;
  }

  /** Throws on a label name not declared; keys given as `undefined` are only absent labels. */
  #checkUnknown(labels: Labels): void {
    const unknown = Object.keys(labels).filter(
      (k) => labels[k] !== undefined && !this.definition.labelNames.includes(k),
    );
    if (unknown.length === 0) return;
    throw new MetricError(
      `metric ${this.definition.name} has no label ${unknown.map((u) => `"${u}"`).join(", ")}; its labels are: ${this.definition.labelNames.join(", ") || "(none)"}`,
      { metric: this.definition.name, unknown, labelNames: this.definition.labelNames },
    );
  }
}

/**
 * Checks a declaration: Prometheus names, counters ending in `_total`, label names that are not
 * reserved, ascending finite buckets. Throws `MetricError` saying what is wrong.
 */
export function validateDefinition(definition: MetricDefinition): void {
  const { name, type, labelNames, buckets } = definition;
  if (!METRIC_NAME.test(name)) {
    throw new MetricError(`metric name "${name}" is invalid; expected [a-zA-Z_:][a-zA-Z0-9_:]*`, { metric: name });
  }
  if (type === "counter" && !name.endsWith("_total")) {
    throw new MetricError(`counter "${name}" must end in _total (Prometheus and OpenMetrics naming)`, { metric: name });
  }
  if (type !== "counter" && name.endsWith("_total")) {
    throw new MetricError(`${type} "${name}" must not end in _total, which marks counters`, { metric: name });
  }
  if (definition.aggregation === "per-process" && labelNames.includes("process")) {
    throw new MetricError(
      `gauge ${name} is per-process, which adds the label "process": it cannot declare one itself`,
      {
        metric: name,
      },
    );
  }
  if (/^(process|nodejs)_/.test(name)) {
    throw new MetricError(`metric names starting with process_ or nodejs_ are kept for runtime metrics: ${name}`, {
      metric: name,
    });
  }
  const seen = new Set<string>();
  for (const label of labelNames) {
    if (!LABEL_NAME.test(label) || label.startsWith("__")) {
      throw new MetricError(
        `label name "${label}" of ${name} is invalid; expected [a-zA-Z_][a-zA-Z0-9_]*, not starting with __`,
        {
          metric: name,
          label,
        },
      );
    }
    if (type === "histogram" && label === "le")
      throw new MetricError(`histogram ${name} cannot have a label named le`, { metric: name });
    if (seen.has(label))
      throw new MetricError(`label "${label}" of ${name} is declared twice`, { metric: name, label });
    seen.add(label);
  }
  if (buckets !== undefined) {
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i] as number;
      if (!Number.isFinite(b) || (i > 0 && b <= (buckets[i - 1] as number))) {
        throw new MetricError(`buckets of ${name} must be finite and strictly ascending`, { metric: name, buckets });
      }
    }
  }
}

/** True when two declarations of one name agree (help may differ; the first one is kept). */
export function sameShape(a: MetricDefinition, b: MetricDefinition): boolean {
  return (
    a.type === b.type &&
    a.labelNames.length === b.labelNames.length &&
    a.labelNames.every((l, i) => l === b.labelNames[i]) &&
    JSON.stringify(a.buckets ?? null) === JSON.stringify(b.buckets ?? null) &&
    (a.aggregation ?? "sum") === (b.aggregation ?? "sum")
  );
}

/** A family's series by key, telling the family when one is removed. */
class SeriesMap extends Map<string, Series> {
  readonly #removed: () => void;

  constructor(removed: () => void) {
    super();
    this.#removed = removed;
  }

  override delete(key: string): boolean {
    const deleted = super.delete(key);
    if (deleted) this.#removed();
    return deleted;
  }

  override clear(): void {
    super.clear();
    this.#removed();
  }
}
