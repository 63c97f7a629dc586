import type { Endpoint } from "./endpoint.js";

/** The three balancing algorithms an upstream can use. */
export type LoadBalancing = "round-robin" | "least-request" | "peak-ewma";

/**
 * Picks the endpoint for one attempt among `candidates` (never empty): round robin; least
 * request with two random choices (Envoy's default, `choice_count` 2); or peak-EWMA, two random
 * choices compared on latency times load (Linkerd's).
 */
export class LoadBalancer {
  readonly #kind: LoadBalancing;
  readonly #random: () => number;
  #next = 0;

  constructor(kind: LoadBalancing, random: () => number = Math.random) {
    this.#kind = kind;
    this.#random = random;
  }

  /** `now` (ms, the runtime's clock) is when peak-EWMA reads the costs. */
  pick(candidates: readonly Endpoint[], now: number): Endpoint {
    const n = candidates.length;
    if (n === 1) return candidates[0] as Endpoint;
    if (this.#kind === "round-robin") return candidates[this.#next++ % n] as Endpoint;
    const i = Math.floor(this.#random() * n);
    let j = Math.floor(this.#random() * (n - 1));
    if (j >= i) j++;
    const a = candidates[i] as Endpoint;
    const b = candidates[j] as Endpoint;
    if (this.#kind === "least-request") return a.active <= b.active ? a : b;
    return a.cost(now) <= b.cost(now) ? a : b;
  }
}
