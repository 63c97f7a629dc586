/** The three states of a breaker. */
export type CircuitState = "closed" | "open" | "half_open";

/** Settings of a breaker, durations in milliseconds. */
export interface CircuitBreakerOptions {
  failureRatio: number;
  minThroughput: number;
  consecutiveFailures?: number | undefined;
  window: number;
  breakFor: number;
  halfOpenProbes: number;
  slowCall?: number | undefined;
}

const BUCKETS = 10;

/**
 * A circuit breaker: opens when the failure ratio over a rolling window (with at least
 * `minThroughput` calls) reaches `failureRatio`, or after `consecutiveFailures` in a row; calls
 * slower than `slowCall` count as failures. Open for `breakFor`, then half-open: up to
 * `halfOpenProbes` trial calls go through at once, and it closes once that many succeed; any
 * failure reopens it. The window is ten buckets refreshed from the clock, so recording a
 * call is a few additions and no timer.
 */
export class CircuitBreaker {
  readonly #o: CircuitBreakerOptions;
  readonly #now: () => number;
  readonly #onTransition: (from: CircuitState, to: CircuitState) => void;
  readonly #bucketMs: number;
  readonly #starts = new Float64Array(BUCKETS).fill(-1);
  readonly #calls = new Uint32Array(BUCKETS);
  readonly #failures = new Uint32Array(BUCKETS);
  #state: CircuitState = "closed";
  #openedAt = 0;
  #consecutive = 0;
  #probes = 0;
  #probeSuccesses = 0;
  #halfOpenedAt = 0;

  constructor(
    options: CircuitBreakerOptions,
    now: () => number,
    onTransition: (from: CircuitState, to: CircuitState) => void,
  ) {
    this.#o = options;
    this.#now = now;
    this.#onTransition = onTransition;
    this.#bucketMs = Math.max(1, options.window / BUCKETS);
  }

  get state(): CircuitState {
    return this.#current(undefined);
  }

  /** The state at `now` (the clock is read only when open and no time is given). */
  #current(now: number | undefined): CircuitState {
    if (this.#state === "open") {
      const at = now ?? this.#now();
      if (at - this.#openedAt >= this.#o.breakFor) this.#move("half_open", at);
    }
    return this.#state;
  }

  /** Milliseconds until an open breaker lets a trial call through. */
  get retryAfterMs(): number {
    return this.#state === "open" ? this.#o.breakFor - (this.#now() - this.#openedAt) : 0;
  }

  /**
   * Asks to make a call. `false`: refused (open, or half-open with every probe slot taken).
   * A granted call must be reported with `success` or `failure`. `now`: when the call starts,
   * if the caller has read the clock already.
   */
  tryAcquire(now?: number): boolean {
    const state = this.#current(now);
    if (state === "closed") return true;
    if (state === "open" || this.#probes >= this.#o.halfOpenProbes) return false;
    this.#probes++;
    return true;
  }

  /** Gives back a granted call that neither succeeded nor failed (a cancelled hedge). */
  release(): void {
    if (this.#state === "half_open" && this.#probes > 0) this.#probes--;
  }

  /** Reports a call that succeeded after `durationMs`, ending at `now` (default: the clock's). */
  success(durationMs: number, now: number = this.#now()): void {
    if (this.#o.slowCall !== undefined && durationMs > this.#o.slowCall) {
      this.failure(now);
      return;
    }
    this.#consecutive = 0;
    if (this.#state === "half_open") {
      // A call that started before the breaker half-opened is no trial: it proves nothing now.
      if (now - durationMs < this.#halfOpenedAt) return;
      if (this.#probes > 0) this.#probes--;
      if (++this.#probeSuccesses >= this.#o.halfOpenProbes) this.#move("closed");
      return;
    }
    this.#record(false, now);
  }

  /** Reports a call that failed, at `now` (default: the clock's). */
  failure(now: number = this.#now()): void {
    if (this.#state === "half_open") {
      if (this.#probes > 0) this.#probes--;
      this.#move("open", now);
      return;
    }
    if (this.#state === "open") return;
    this.#consecutive++;
    const ratioTripped = this.#record(true, now);
    const consecutiveTripped =
      this.#o.consecutiveFailures !== undefined && this.#consecutive >= this.#o.consecutiveFailures;
    if (ratioTripped || consecutiveTripped) this.#move("open", now);
  }

  /** Records a call in the window; for a failure, says whether the ratio now trips the breaker. */
  #record(failed: boolean, now: number): boolean {
    const slot = Math.floor(now / this.#bucketMs);
    const i = slot % BUCKETS;
    if (this.#starts[i] !== slot) {
      this.#starts[i] = slot;
      this.#calls[i] = 0;
      this.#failures[i] = 0;
    }
    (this.#calls[i] as number)++;
    if (!failed) return false;
    (this.#failures[i] as number)++;
    let calls = 0;
    let failures = 0;
    for (let b = 0; b < BUCKETS; b++) {
      if (slot - (this.#starts[b] as number) < BUCKETS) {
        calls += this.#calls[b] as number;
        failures += this.#failures[b] as number;
      }
    }
    return calls >= this.#o.minThroughput && failures / calls >= this.#o.failureRatio;
  }

  #move(to: CircuitState, now: number = this.#now()): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    if (to === "open") this.#openedAt = now;
    if (to === "half_open") {
      this.#probes = 0;
      this.#probeSuccesses = 0;
      this.#halfOpenedAt = now;
    }
    if (to === "closed") {
      this.#consecutive = 0;
      this.#starts.fill(-1);
    }
    this.#onTransition(from, to);
  }
}
