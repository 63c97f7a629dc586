import {
  type Config,
  ConfigError,
  type ExecuteOptions,
  fullJitterDelay,
  type Resilience,
  type SidecarClient,
  TandemError,
  TimeoutError,
} from "@tandem/core";
import { RetryBudgetExhaustedError } from "../errors.js";
import { withCallOptions } from "../policies/call-options.js";
import type { DeadlineWheel } from "../policies/deadline-wheel.js";
import { type PolicySettings, retryable } from "../policies/policy.js";
import type { Outcome, Permit } from "./permit-service.js";

type Work<T> = (signal: AbortSignal) => Promise<T>;

const NEVER = new AbortController().signal;

/**
 * `rt.resilience.execute` in sidecar mode. The work runs here; the state it is judged by lives
 * in the sidecar, shared by every process of the pod: before each attempt one round trip asks
 * for a permit (rate limit, bulkhead, retry budget, breaker), and outcomes go back in batches
 * without holding up the caller. Timeouts and backoff are applied here, from the same config.
 * When the sidecar cannot be reached, `fallback` runs the policy in-process.
 */
export class RemoteResilience implements Resilience {
  readonly #client: SidecarClient;
  readonly #config: Config;
  readonly #wheel: DeadlineWheel;
  readonly #fallback: () => Resilience;
  readonly #onFallback: () => void;
  #outcomes: Outcome[] = [];
  #flushing = false;
  /** A batch of outcomes on its way: a permit waits for it, so the sidecar sees them first. */
  #sending: Promise<void> | undefined;

  constructor(
    client: SidecarClient,
    config: Config,
    wheel: DeadlineWheel,
    fallback: () => Resilience,
    onFallback: () => void,
  ) {
    this.#client = client;
    this.#config = config;
    this.#wheel = wheel;
    this.#fallback = fallback;
    this.#onFallback = onFallback;
  }

  execute<T>(name: string, work: Work<T>, options?: ExecuteOptions<T>): Promise<T> {
    return withCallOptions(name, (w) => this.#execute(name, w), work, options);
  }

  async #execute<T>(name: string, work: Work<T>): Promise<T> {
    const settings = this.#config.get<PolicySettings>(`policies.${name}`);
    if (settings === undefined) {
      const known = Object.keys(this.#config.get<Record<string, unknown>>("policies") ?? {});
      throw new ConfigError(`no policy named "${name}" in the config; policies: ${known.join(", ") || "(none)"}`, {
        details: { policy: name, known },
      });
    }
    const now = performance.now();
    const deadline = settings.totalTimeout === undefined ? Number.POSITIVE_INFINITY : now + settings.totalTimeout;
    const attempts = settings.retry?.attempts ?? 1;
    let execution: string | undefined;
    let lastError: unknown;
    for (let attempt = 1; ; attempt++) {
      let permit: Permit;
      try {
        // Outcomes still queued ride along, so this process's last failures count before the
        // breaker decides, as they would in-process.
        if (this.#sending !== undefined) await this.#sending;
        const outcomes = this.#outcomes;
        this.#outcomes = [];
        permit = await this.#client.post<Permit>(
          "/v1/resilience/permits",
          {
            policy: name,
            ...(execution === undefined ? {} : { execution }),
            ...(outcomes.length === 0 ? {} : { outcomes }),
          },
          { timeoutMs: Math.min(30_000, Math.max(1, deadline - performance.now())) },
        );
      } catch (error) {
        if (execution === undefined && TandemError.is(error) && error.code === "sidecar_unavailable") {
          this.#onFallback();
          return this.#fallback().execute(name, work);
        }
        if (TandemError.is(error) && error.code === "timeout" && deadline !== Number.POSITIVE_INFINITY) {
          throw this.#timeout(name, "total", settings.totalTimeout as number);
        }
        if (TandemError.is(error) && error.code === "retry_budget_exhausted") {
          throw new RetryBudgetExhaustedError(name, attempt - 1, lastError);
        }
        throw error;
      }
      execution = permit.execution;
      const started = performance.now();
      const remaining = deadline - started;
      const attemptTimeout = settings.timeout ?? Number.POSITIVE_INFINITY;
      const bound: "attempt" | "total" = attemptTimeout <= remaining ? "attempt" : "total";
      const timeoutMs = Math.min(attemptTimeout, remaining);
      try {
        const value = await this.#run(work, timeoutMs, () =>
          this.#timeout(name, bound, bound === "attempt" ? attemptTimeout : (settings.totalTimeout as number)),
        );
        this.#report({ permit: permit.permit, ok: true, durationMs: performance.now() - started, final: true });
        return value;
      } catch (error) {
        lastError = error;
        const last = attempt >= attempts || !retryable(error);
        const delay = last
          ? 0
          : fullJitterDelay(attempt - 1, settings.retry?.backoff.base ?? 25, settings.retry?.backoff.max ?? 1000);
        const giveUp = last || performance.now() + delay >= deadline;
        this.#report({
          permit: permit.permit,
          ok: false,
          aborted: TandemError.is(error) && error.code === "aborted",
          durationMs: performance.now() - started,
          final: giveUp,
        });
        if (giveUp) throw error;
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  #run<T>(work: Work<T>, timeoutMs: number, timeout: () => Error): Promise<T> {
    if (timeoutMs === Number.POSITIVE_INFINITY) return invoke(work, NEVER);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const armed = this.#wheel.arm(Math.max(0, timeoutMs), () => {
        if (settled) return;
        settled = true;
        reject(timeout());
      });
      invoke(work, armed.signal).then(
        (value) => {
          if (settled) return;
          settled = true;
          armed.cancel();
          resolve(value);
        },
        (error: unknown) => {
          if (settled) return;
          settled = true;
          armed.cancel();
          reject(error);
        },
      );
    });
  }

  #timeout(name: string, bound: "attempt" | "total", timeoutMs: number): TimeoutError {
    return new TimeoutError(`${name}: the ${bound} timeout of ${timeoutMs} ms passed`, {
      details: { policy: name, bound, timeoutMs },
    });
  }

  /**
   * Queues an outcome; one request carries every outcome queued in the same turn of the event
   * loop. A lost batch only delays the release of the leases, which expire by themselves.
   */
  #report(outcome: Outcome): void {
    this.#outcomes.push(outcome);
    if (this.#flushing) return;
    this.#flushing = true;
    setImmediate(() => {
      const batch = this.#outcomes;
      this.#outcomes = [];
      this.#flushing = false;
      if (batch.length === 0) return;
      const sent = this.#client.post("/v1/resilience/outcomes", { outcomes: batch }).then(
        () => {},
        () => {},
      );
      this.#sending = sent;
      void sent.then(() => {
        if (this.#sending === sent) this.#sending = undefined;
      });
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
