const SECONDS = 10;

/**
 * Finagle's retry budget: over the last ten seconds, retries may add at most `ratio` of the
 * requests, plus `minPerSecond` a second so that low traffic can still retry. It keeps retries
 * from multiplying an outage: when everything fails, the load grows by `ratio`, not by the
 * number of attempts.
 */
export class RetryBudget {
  readonly #ratio: number;
  readonly #minPerSecond: number;
  readonly #now: () => number;
  readonly #seconds = new Float64Array(SECONDS).fill(-1);
  readonly #requests = new Float64Array(SECONDS);
  readonly #retries = new Float64Array(SECONDS);

  constructor(ratio: number, minPerSecond: number, now: () => number) {
    this.#ratio = ratio;
    this.#minPerSecond = minPerSecond;
    this.#now = now;
  }

  /** Counts a request (a first attempt) made at `now` (default: the clock's). */
  request(now: number = this.#now()): void {
    (this.#requests[this.#slot(now)] as number)++;
  }

  /** Takes a retry from the budget; `false` when it is spent. */
  tryRetry(): boolean {
    const current = Math.floor(this.#now() / 1000);
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < SECONDS; i++) {
      if (current - (this.#seconds[i] as number) < SECONDS) {
        requests += this.#requests[i] as number;
        retries += this.#retries[i] as number;
      }
    }
    if (retries + 1 > requests * this.#ratio + this.#minPerSecond * SECONDS) return false;
    (this.#retries[this.#slot(this.#now())] as number)++;
    return true;
  }

  #slot(now: number): number {
    const second = Math.floor(now / 1000);
    const i = second % SECONDS;
    if (this.#seconds[i] !== second) {
      this.#seconds[i] = second;
      this.#requests[i] = 0;
      this.#retries[i] = 0;
    }
    return i;
  }
}
