/**
 * A token bucket: `rps` tokens a second, up to `burst` saved. Refilled from the clock when a
 * call asks, so it needs no timer.
 */
export class TokenBucket {
  readonly rps: number;
  readonly #capacity: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  constructor(rps: number, burst: number | undefined, now: () => number) {
    this.rps = rps;
    this.#capacity = burst ?? Math.max(1, rps);
    this.#now = now;
    this.#tokens = this.#capacity;
    this.#last = now();
  }

  /** Takes a token at `now` (default: the clock's); returns 0 when granted, else the milliseconds until one is free. */
  take(now: number = this.#now()): number {
    this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#last) * this.rps) / 1000);
    this.#last = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return ((1 - this.#tokens) * 1000) / this.rps;
  }
}
