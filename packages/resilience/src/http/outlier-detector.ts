import type { Endpoint } from "./endpoint.js";

/** Settings of outlier detection, durations in ms. */
export interface OutlierSettings {
  consecutive5xx: number;
  baseEjection: number;
  maxEjectionPercent: number;
  /** Also eject when this share (%) of an endpoint's requests in `window` failed; off when unset. */
  failurePercentage?: number | undefined;
  /** Requests an endpoint needs in `window` before its failure percentage counts. Default 20. */
  minRequests?: number | undefined;
  /** The rolling window of `failurePercentage`, in ms. Default 10 s. */
  window?: number | undefined;
}

const BUCKETS = 10;

/** An endpoint's requests and failures over a rolling window of ten buckets, refreshed from the clock. */
class FailureWindow {
  readonly #bucketMs: number;
  readonly #starts = new Float64Array(BUCKETS).fill(-1);
  readonly #requests = new Uint32Array(BUCKETS);
  readonly #failures = new Uint32Array(BUCKETS);

  constructor(windowMs: number) {
    this.#bucketMs = Math.max(1, windowMs / BUCKETS);
  }

  /** Records one outcome and returns the window's totals. */
  record(failed: boolean, now: number): { requests: number; failures: number } {
    const slot = Math.floor(now / this.#bucketMs);
    const i = slot % BUCKETS;
    if (this.#starts[i] !== slot) {
      this.#starts[i] = slot;
      this.#requests[i] = 0;
      this.#failures[i] = 0;
    }
    (this.#requests[i] as number)++;
    if (failed) (this.#failures[i] as number)++;
    let requests = 0;
    let failures = 0;
    for (let b = 0; b < BUCKETS; b++) {
      if (slot - (this.#starts[b] as number) < BUCKETS) {
        requests += this.#requests[b] as number;
        failures += this.#failures[b] as number;
      }
    }
    return { requests, failures };
  }

  clear(): void {
    this.#starts.fill(-1);
  }
}

/** Envoy's cap on one ejection. */
const MAX_EJECTION_MS = 300_000;

/**
 * Envoy-style outlier detection: an endpoint that answers `consecutive5xx` 5xx, connection
 * failures or attempt timeouts in a row, or (with `failurePercentage`) whose failures reach
 * that share of at least `minRequests` requests in the rolling `window`, is ejected for `baseEjection` times the number of its ejections (capped at
 * 300 s), unless that would eject more than `maxEjectionPercent` of the endpoints; one endpoint
 * always stays. An ejected endpoint returns by itself when its time is up.
 */
export class OutlierDetector {
  readonly #settings: OutlierSettings;
  readonly #endpoints: readonly Endpoint[];
  readonly #onChange: (ejected: number) => void;
  #reported = 0;
  readonly #windows = new WeakMap<Endpoint, FailureWindow>();

  constructor(settings: OutlierSettings, endpoints: readonly Endpoint[], onChange: (ejected: number) => void) {
    this.#settings = settings;
    this.#endpoints = endpoints;
    this.#onChange = onChange;
  }

  /** Reports the number of ejected endpoints when it changed, ejections that ended included. */
  refresh(now: number): void {
    const ejected = this.ejectedCount(now);
    if (ejected !== this.#reported) {
      this.#reported = ejected;
      this.#onChange(ejected);
    }
  }

  success(endpoint: Endpoint, now: number): void {
    endpoint.consecutiveFailures = 0;
    this.#window(endpoint)?.record(false, now);
  }

  /** A 5xx, a connection failure or an attempt timeout; returns true when it ejected the endpoint. */
  failure(endpoint: Endpoint, now: number): boolean {
    endpoint.consecutiveFailures++;
    const window = this.#window(endpoint);
    const counts = window?.record(true, now);
    const { failurePercentage, minRequests = 20 } = this.#settings;
    const tooManyFailures =
      counts !== undefined &&
      failurePercentage !== undefined &&
      counts.requests >= minRequests &&
      counts.failures * 100 >= failurePercentage * counts.requests;
    if ((endpoint.consecutiveFailures < this.#settings.consecutive5xx && !tooManyFailures) || endpoint.ejected(now)) {
      return false;
    }
    const ejected = this.ejectedCount(now);
    const total = this.#endpoints.length;
    if (ejected + 1 >= total || ((ejected + 1) * 100) / total > this.#settings.maxEjectionPercent) return false;
    endpoint.ejections++;
    endpoint.consecutiveFailures = 0;
    // Back from an ejection, an endpoint is judged on what it does from then on.
    window?.clear();
    endpoint.ejectedUntil = now + Math.min(MAX_EJECTION_MS, this.#settings.baseEjection * endpoint.ejections);
    this.#reported = ejected + 1;
    this.#onChange(ejected + 1);
    return true;
  }

  /** The endpoint's failure window, when `failurePercentage` is set (endpoints from DNS come and go). */
  #window(endpoint: Endpoint): FailureWindow | undefined {
    if (this.#settings.failurePercentage === undefined) return undefined;
    let window = this.#windows.get(endpoint);
    if (window === undefined) {
      window = new FailureWindow(this.#settings.window ?? 10_000);
      this.#windows.set(endpoint, window);
    }
    return window;
  }

  ejectedCount(now: number): number {
    let n = 0;
    for (const e of this.#endpoints) if (e.ejected(now)) n++;
    return n;
  }
}
