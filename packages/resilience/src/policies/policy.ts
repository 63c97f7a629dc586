import { fullJitterDelay, TandemError, TimeoutError } from "@tandem/core";
import { BulkheadRejectedError, CircuitOpenError, RateLimitedError, RetryBudgetExhaustedError } from "../errors.js";
import { Bulkhead, type Waiter, waitForSlot } from "./bulkhead.js";
import { CircuitBreaker, type CircuitBreakerOptions, type CircuitState } from "./circuit-breaker.js";
import type { DeadlineWheel } from "./deadline-wheel.js";
import { TokenBucket } from "./rate-limit.js";
import { RetryBudget } from "./retry-budget.js";

/** A policy's settings as the config file gives them, durations in milliseconds. */
export interface PolicySettings {
  /** Per-attempt timeout. */
  timeout?: number | undefined;
  /** Bound on all attempts, backoff and queueing together. */
  totalTimeout?: number | undefined;
  retry?:
    | {
        attempts: number;
        backoff: { base: number; max: number };
        budget: { ratio: number; minPerSecond: number };
      }
    | undefined;
  circuitBreaker?: CircuitBreakerOptions | undefined;
  bulkhead?: { maxConcurrent: number; maxQueued: number } | undefined;
  rateLimit?: { rps: number; burst?: number | undefined } | undefined;
}

/** Why a call was refused without running, as `tandem_rejected_total{reason}` says. */
export type RejectReason = "bulkhead" | "ratelimit" | "circuit_open" | "budget";

/** What a policy reports as it works, for metrics. */
export interface PolicyEvents {
  retried(): void;
  /** A hedged attempt was sent (upstreams only). */
  hedged?(): void;
  /** A breaker starts in this state (a new or rebuilt policy): the state gauge is set, no transition counted. */
  started?(state: CircuitState): void;
  rejected(reason: RejectReason): void;
  transition(from: CircuitState, to: CircuitState): void;
}

/** What a policy runs on: the shared deadline wheel, the clock and the randomness of backoff. */
export interface PolicyRuntime {
  wheel: DeadlineWheel;
  now: () => number;
  random?: () => number;
  events: PolicyEvents;
}

type Work<T> = (signal: AbortSignal) => Promise<T>;

const NEVER = new AbortController().signal;

/**
 * One named policy, composed in a fixed order, outermost first: rate limit, bulkhead, total
 * timeout, retry (with its budget), circuit breaker, attempt timeout. A call that needs none
 * of the slow paths (no queueing, no retry) costs a few comparisons and one promise beyond the
 * work's own; timeouts share timers through the deadline wheel.
 */
export class Policy {
  readonly name: string;
  readonly settings: PolicySettings;
  readonly breaker: CircuitBreaker | undefined;
  readonly bulkhead: Bulkhead | undefined;
  readonly rate: TokenBucket | undefined;
  readonly budget: RetryBudget | undefined;
  readonly #rt: PolicyRuntime;

  constructor(name: string, settings: PolicySettings, runtime: PolicyRuntime) {
    this.name = name;
    this.settings = settings;
    this.#rt = runtime;
    const { circuitBreaker, bulkhead, rateLimit, retry } = settings;
    this.breaker =
      circuitBreaker === undefined
        ? undefined
        : new CircuitBreaker(circuitBreaker, runtime.now, (from, to) => runtime.events.transition(from, to));
    if (this.breaker !== undefined) runtime.events.started?.("closed");
    this.bulkhead = bulkhead === undefined ? undefined : new Bulkhead(bulkhead.maxConcurrent, bulkhead.maxQueued);
    this.rate = rateLimit === undefined ? undefined : new TokenBucket(rateLimit.rps, rateLimit.burst, runtime.now);
    this.budget =
      retry === undefined || retry.attempts <= 1
        ? undefined
        : new RetryBudget(retry.budget.ratio, retry.budget.minPerSecond, runtime.now);
  }

  // Made once: a closure per call would cost more than the bulkhead itself.
  readonly #release = <V>(value: V): V => {
    this.bulkhead?.exit();
    return value;
  };

  readonly #releaseAndThrow = (error: unknown): never => {
    this.bulkhead?.exit();
    throw error;
  };

  /** Where the policy reports retries, refusals and breaker changes (for the sidecar's permits too). */
  get events(): PolicyEvents {
    return this.#rt.events;
  }

  /** Runs `work` under the policy. The work gets a signal that aborts when its attempt is given up. */
  execute<T>(work: Work<T>): Promise<T> {
    if (this.rate !== undefined) {
      const waitMs = this.rate.take();
      if (waitMs > 0) {
        this.#rt.events.rejected("ratelimit");
        return Promise.reject(new RateLimitedError(this.name, this.rate.rps, waitMs));
      }
    }
    const total = this.settings.totalTimeout;
    const deadline = total === undefined ? Number.POSITIVE_INFINITY : this.#rt.now() + total;
    const bulkhead = this.bulkhead;
    if (bulkhead === undefined) return this.#run(work, deadline);
    const entered = bulkhead.enter();
    if (entered === false) {
      this.#rt.events.rejected("bulkhead");
      return Promise.reject(new BulkheadRejectedError(this.name, bulkhead.maxConcurrent, bulkhead.maxQueued));
    }
    if (entered === true) return this.#run(work, deadline).then(this.#release, this.#releaseAndThrow);
    return this.#queued(entered, deadline).then(() =>
      this.#run(work, deadline).then(this.#release, this.#releaseAndThrow),
    );
  }

  /** Waits for a bulkhead slot, no longer than the total timeout. */
  #queued(waiter: Waiter, deadline: number): Promise<void> {
    if (deadline === Number.POSITIVE_INFINITY) return waiter.granted;
    return waitForSlot(waiter, {
      wheel: this.#rt.wheel,
      timeoutMs: deadline - this.#rt.now(),
      timedOut: () => this.#timeout("total", this.settings.totalTimeout as number),
    });
  }

  #run<T>(work: Work<T>, deadline: number): Promise<T> {
    const retry = this.settings.retry;
    if (retry === undefined || retry.attempts <= 1) return this.#attempt(work, deadline);
    this.budget?.request();
    // The first attempt is not wrapped in an async function: a call that succeeds at once
    // pays for no retry machinery.
    return this.#attempt(work, deadline).then(undefined, (error: unknown) => this.#retry(error, work, deadline, retry));
  }

  async #retry<T>(
    first: unknown,
    work: Work<T>,
    deadline: number,
    retry: NonNullable<PolicySettings["retry"]>,
  ): Promise<T> {
    let error = first;
    for (let attempt = 1; ; attempt++) {
      if (attempt >= retry.attempts || !retryable(error)) throw error;
      const delay = fullJitterDelay(attempt - 1, retry.backoff.base, retry.backoff.max, this.#rt.random);
      // Waiting past the total deadline only to fail there helps nobody: fail now.
      if (this.#rt.now() + delay >= deadline) throw error;
      if (this.budget !== undefined && !this.budget.tryRetry()) {
        this.#rt.events.rejected("budget");
        throw new RetryBudgetExhaustedError(this.name, attempt, error);
      }
      this.#rt.events.retried();
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      try {
        return await this.#attempt(work, deadline);
      } catch (next) {
        error = next;
      }
    }
  }

  #attempt<T>(work: Work<T>, deadline: number): Promise<T> {
    const breaker = this.breaker;
    if (breaker !== undefined && !breaker.tryAcquire()) {
      this.#rt.events.rejected("circuit_open");
      return Promise.reject(new CircuitOpenError(this.name, breaker.retryAfterMs));
    }
    const now = this.#rt.now();
    const attemptTimeout = this.settings.timeout ?? Number.POSITIVE_INFINITY;
    const remaining = deadline - now;
    if (remaining <= 0) {
      breaker?.failure();
      return Promise.reject(this.#timeout("total", this.settings.totalTimeout as number));
    }
    const bound: "attempt" | "total" = attemptTimeout <= remaining ? "attempt" : "total";
    const timeoutMs = Math.min(attemptTimeout, remaining);
    if (timeoutMs === Number.POSITIVE_INFINITY) {
      if (breaker === undefined) return invoke(work, NEVER);
      return invoke(work, NEVER).then(
        (value) => {
          breaker.success(this.#rt.now() - now);
          return value;
        },
        (error: unknown) => {
          if (TandemError.is(error) && error.code === "aborted") breaker.release();
          else breaker.failure();
          throw error;
        },
      );
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const armed = this.#rt.wheel.arm(timeoutMs, () => {
        if (settled) return;
        settled = true;
        breaker?.failure();
        reject(this.#timeout(bound, bound === "attempt" ? attemptTimeout : (this.settings.totalTimeout as number)));
      });
      invoke(work, armed.signal).then(
        (value) => {
          if (settled) return;
          settled = true;
          armed.cancel();
          breaker?.success(this.#rt.now() - now);
          resolve(value);
        },
        (error: unknown) => {
          if (settled) return;
          settled = true;
          armed.cancel();
          if (TandemError.is(error) && error.code === "aborted") breaker?.release();
          else breaker?.failure();
          reject(error);
        },
      );
    });
  }

  #timeout(bound: "attempt" | "total", timeoutMs: number): TimeoutError {
    return new TimeoutError(`${this.name}: the ${bound} timeout of ${timeoutMs} ms passed`, {
      details: { policy: this.name, bound, timeoutMs },
    });
  }
}

function invoke<T>(work: Work<T>, signal: AbortSignal): Promise<T> {
  try {
    return Promise.resolve(work(signal));
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Refusals by a guard are final: retrying into an open breaker or a full bulkhead only adds
 * load; a call its caller aborted is not retried either.
 */
export function retryable(error: unknown): boolean {
  if (!TandemError.is(error)) return true;
  return !["circuit_open", "bulkhead_rejected", "rate_limited", "retry_budget_exhausted", "aborted"].includes(
    error.code,
  );
}
