/** Label names to values; every name must be declared in `labelNames`. */
export type Labels = Readonly<Record<string, string | number>>;

const FIXED = Symbol.for("tandem.fixedLabels");

/**
 * A labels object for a hot path: a frozen copy, marked so that an instrument finds its series by
 * the object itself instead of building a key from the values on every call. Make it once per
 * label set and pass it to every observation of that set.
 *
 *   const ok = fixedLabels({ route: "/orders", status: 200 });
 *   requests.inc(ok);
 */
export function fixedLabels<L extends Labels>(labels: L): L {
  const fixed = { ...labels };
  Object.defineProperty(fixed, FIXED, { value: true });
  return Object.freeze(fixed);
}

/** Whether `labels` came from `fixedLabels`. */
export function isFixedLabels(labels: Labels): boolean {
  return (labels as { [FIXED]?: boolean })[FIXED] === true;
}

/** Options shared by every instrument. */
export interface InstrumentOptions {
  help?: string;
  labelNames?: readonly string[];
}

/**
 * Options of a gauge. `aggregation` says how the sidecar combines the gauge reported by the
 * processes of one pod: added up (default), the highest, the lowest, or one series per process.
 */
export interface GaugeOptions extends InstrumentOptions {
  aggregation?: "sum" | "max" | "min" | "per-process";
}

/** Options of a histogram: bucket upper bounds in the metric's unit (seconds for durations). */
export interface HistogramOptions extends InstrumentOptions {
  buckets?: readonly number[];
}

/** A monotonically increasing count. */
export interface Counter {
  inc(labels?: Labels, value?: number): void;
}

/** A value that goes up and down. */
export interface Gauge {
  set(labels: Labels | undefined, value: number): void;
  inc(labels?: Labels, value?: number): void;
  dec(labels?: Labels, value?: number): void;
}

/** A distribution of observed values in buckets. */
export interface Histogram {
  observe(labels: Labels | undefined, value: number): void;
}

/** What a scrape handler returns: the exposition text and its content type. */
export interface Exposition {
  contentType: string;
  body: string;
}

/**
 * `rt.metrics`: Prometheus-style instruments. Asking twice for the same name returns the same
 * instrument; the same names and labels appear whichever mode runs.
 */
export interface Metrics {
  counter(name: string, options?: InstrumentOptions): Counter;
  gauge(name: string, options?: GaugeOptions): Gauge;
  histogram(name: string, options?: HistogramOptions): Histogram;
  /** Renders every metric, as Prometheus text or OpenMetrics according to `accept`. */
  expose(accept?: string): Promise<Exposition>;
}
