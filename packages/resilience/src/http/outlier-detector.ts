import type { Endpoint } from "./endpoint.js";

/** Settings of outlier detection, durations in ms. */
export interface OutlierSettings {
  consecutive5xx: number;
  baseEjection: number;
  maxEjectionPercent: number;
}

/** Envoy's cap on one ejection. */
const MAX_EJECTION_MS = 300_000;

/**
 * Envoy-style outlier detection: an endpoint that answers `consecutive5xx` 5xx, connection
 * failures or attempt timeouts in a row is ejected for `baseEjection` times the number of its ejections (capped at
 * 300 s), unless that would eject more than `maxEjectionPercent` of the endpoints; one endpoint
 * always stays. An ejected endpoint returns by itself when its time is up.
 */
export class OutlierDetector {
  readonly #settings: OutlierSettings;
  readonly #endpoints: readonly Endpoint[];
  readonly #onChange: (ejected: number) => void;
  #reported = 0;

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

  success(endpoint: Endpoint): void {
    endpoint.consecutiveFailures = 0;
  }

  /** A 5xx, a connection failure or an attempt timeout; returns true when it ejected the endpoint. */
  failure(endpoint: Endpoint, now: number): boolean {
    endpoint.consecutiveFailures++;
    if (endpoint.consecutiveFailures < this.#settings.consecutive5xx || endpoint.ejected(now)) return false;
    const ejected = this.ejectedCount(now);
    const total = this.#endpoints.length;
    if (ejected + 1 >= total || ((ejected + 1) * 100) / total > this.#settings.maxEjectionPercent) return false;
    endpoint.ejections++;
    endpoint.consecutiveFailures = 0;
    endpoint.ejectedUntil = now + Math.min(MAX_EJECTION_MS, this.#settings.baseEjection * endpoint.ejections);
    this.#reported = ejected + 1;
    this.#onChange(ejected + 1);
    return true;
  }

  ejectedCount(now: number): number {
    let n = 0;
    for (const e of this.#endpoints) if (e.ejected(now)) n++;
    return n;
  }
}
