import { ConfigError } from "@tandem/core";
import { Http1Pool } from "./h1/http1-pool.js";

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
  readonly pool: Http1Pool;
  /** Requests in flight. */
  active = 0;
  /** Peak-EWMA of the response time, in ms (Linkerd's model). */
  #ewma = 0;
  #ewmaAt = 0;
  /** The last response time seen, in ms; `undefined` until the first answer. */
  #last: number | undefined;
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
    this.pool = new Http1Pool(parsed.origin, { connections: 128, keepAliveTimeout: 30_000 });
  }

  /**
   * Records an answer's response time. An answer slower than the average raises it at once to
   * the faster of itself and the answer before it (the peak), so two slow answers in a row do,
   * and a lone one (a pause of this process, a fresh connection) is only averaged in; faster ones
   * decay in. The endpoint's first answer only seeds that comparison: it paid for opening the
   * connection, and the process's first answer for code running the first time (undici compiles
   * its HTTP parser then), 10-20 ms on loopback against well under 1 ms after; taken as the peak
   * it would keep that one endpoint out of the rotation for most of a minute.
   */
  observe(ms: number, now: number): void {
    if (this.#last === undefined) {
      this.#last = ms;
      return;
    }
    this.#sample(ms, now);
  }

  /**
   * An attempt that ended without an answer after `ms` (it timed out, or a hedge won the race):
   * its response time is at least that. When that is above the average it counts as a slow
   * answer (two in a row raise the average to it); otherwise it says nothing new. A stalled
   * endpoint that never answers still looks slow.
   */
  observeAtLeast(ms: number, now: number): void {
    if (ms > this.#current(now)) this.#sample(ms, now);
  }

  #sample(ms: number, now: number): void {
    const confirmed = Math.min(ms, this.#last ?? ms);
    this.#last = ms;
    if (this.#ewmaAt === 0) {
      this.#ewma = confirmed;
    } else if (confirmed > this.#current(now)) {
      this.#ewma = confirmed;
    } else {
      const weight = Math.exp(-(now - this.#ewmaAt) / DECAY_MS);
      this.#ewma = this.#ewma * weight + ms * (1 - weight);
    }
    this.#ewmaAt = now;
  }

  /**
   * Peak-EWMA's cost at `now`: the expected latency times the queue it would join. The average
   * decays towards zero from its last sample as it is read (Finagle's), so an endpoint avoided
   * after a spike is tried again in time instead of never: otherwise only answers could bring
   * it down, and it would get none.
   */
  cost(now: number): number {
    return (this.#current(now) + 1) * (this.active + 1);
  }

  /** The average as of `now`, decayed since its last sample. */
  #current(now: number): number {
    if (this.#ewmaAt === 0) return this.#ewma;
    return this.#ewma * Math.exp(-Math.max(0, now - this.#ewmaAt) / DECAY_MS);
  }

  ejected(now: number): boolean {
    return this.ejectedUntil > now;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
