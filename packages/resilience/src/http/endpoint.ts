import { ConfigError } from "@tandem/core";
import { Pool } from "undici";

const DECAY_MS = 10_000;

/**
 * One endpoint of an upstream: its connection pool and what the load balancer and the outlier
 * detector know of it.
 */
export class Endpoint {
  readonly url: string;
  readonly origin: string;
  /** `host:port`, the `server_address` of the metrics. */
  readonly address: string;
  readonly pool: Pool;
  /** Requests in flight. */
  active = 0;
  /** Peak-EWMA of the response time, in ms (Linkerd's model). */
  #ewma = 0;
  #ewmaAt = 0;
  consecutiveFailures = 0;
  ejectedUntil = 0;
  /** How many times it was ejected: each ejection lasts longer. */
  ejections = 0;

  constructor(url: string) {
    const parsed = new URL(url);
    if (parsed.pathname !== "/" || parsed.search !== "") {
      throw new ConfigError(
        `endpoint ${url} has a path or query: an endpoint is an origin (scheme, host, port); paths go in requests`,
        {
          details: { endpoint: url },
        },
      );
    }
    this.url = url;
    this.origin = parsed.origin;
    this.address = parsed.host;
    this.pool = new Pool(parsed.origin, { connections: 128, keepAliveTimeout: 30_000, pipelining: 1 });
  }

  /** Records a response time: a slower one is taken at once (the peak), faster ones decay in. */
  observe(ms: number, now: number): void {
    if (ms > this.#ewma || this.#ewmaAt === 0) {
      this.#ewma = ms;
    } else {
      const weight = Math.exp(-(now - this.#ewmaAt) / DECAY_MS);
      this.#ewma = this.#ewma * weight + ms * (1 - weight);
    }
    this.#ewmaAt = now;
  }

  /** Peak-EWMA's cost: expected latency times the queue it would join. */
  cost(): number {
    return (this.#ewma + 1) * (this.active + 1);
  }

  ejected(now: number): boolean {
    return this.ejectedUntil > now;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
