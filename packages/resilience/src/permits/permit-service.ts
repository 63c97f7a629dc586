import { ConfigError, TandemError } from "@tandem/core";
import { BulkheadRejectedError, CircuitOpenError, RateLimitedError, RetryBudgetExhaustedError } from "../errors.js";
import type { LocalResilience } from "../local/local-resilience.js";
import type { Policy } from "../policies/policy.js";

/** What a process asks for before an attempt of `rt.resilience.execute`. */
export interface PermitRequest {
  policy: string;
  /** The execution this attempt belongs to; absent for the first attempt. */
  execution?: string | undefined;
  /** Outcomes not reported yet: applied first, so the decision sees them. */
  outcomes?: Outcome[] | undefined;
}

/** What the sidecar grants: ids to report the outcome with. */
export interface Permit {
  execution: string;
  permit: string;
}

/** An attempt's outcome, reported after the work ran in the process. */
export interface Outcome {
  permit: string;
  ok: boolean;
  /** The caller aborted the attempt: it says nothing about what the policy guards. */
  aborted?: boolean | undefined;
  durationMs: number;
  /** The execution is over: its bulkhead slot is given back. */
  final: boolean;
}

interface Execution {
  policy: Policy;
  holdsSlot: boolean;
  /** Renewed by every permit of the execution. */
  expires: number;
}

interface Granted {
  execution: string;
  policy: Policy;
  breaker: boolean;
  expires: number;
}

/** Leases are given back by themselves after this long past their deadline (a process died). */
const GRACE_MS = 5000;
const UNBOUNDED_LEASE_MS = 10 * 60_000;

/**
 * The pod's state for `rt.resilience.execute` in sidecar mode: every process asks here for a
 * permit before an attempt (rate limit and bulkhead for a new execution, retry budget for a
 * retry, the breaker for each attempt) and reports the outcome afterwards, so one breaker, one
 * bulkhead and one rate limit serve the whole pod. The work itself runs in the process. Permits
 * of a process that died are reclaimed when their lease runs out.
 */
export class PermitService {
  readonly #resilience: LocalResilience;
  readonly #executions = new Map<string, Execution>();
  readonly #permits = new Map<string, Granted>();
  readonly #now: () => number;
  #next = 0;

  constructor(resilience: LocalResilience, now: () => number = performance.now.bind(performance)) {
    this.#resilience = resilience;
    this.#now = now;
  }

  /** Grants a permit or throws the error the local policy would have thrown. */
  async acquire(request: PermitRequest, signal?: AbortSignal): Promise<Permit> {
    this.#reclaim();
    if (request.outcomes !== undefined) this.report(request.outcomes);
    const policy = this.#resilience.policy(request.policy);
    if (policy === undefined) {
      const known = this.#resilience.names();
      throw new ConfigError(
        `no policy named "${request.policy}" in the config; policies: ${known.join(", ") || "(none)"}`,
        {
          details: { policy: request.policy, known },
        },
      );
    }
    const now = this.#now();
    // A lease covers what one attempt (or the whole call) may take; each permit renews it.
    // Work with no timeout at all gets a long lease: a slot is only reclaimed from the dead.
    const lease = (policy.settings.totalTimeout ?? policy.settings.timeout ?? UNBOUNDED_LEASE_MS) + GRACE_MS;
    let executionId: string;
    if (request.execution === undefined) {
      const execution = await this.#start(policy, now + lease, signal);
      executionId = `e${++this.#next}`;
      this.#executions.set(executionId, execution);
    } else {
      executionId = request.execution;
      const execution = this.#executions.get(executionId);
      if (execution !== undefined) execution.expires = now + lease;
      if (execution === undefined) {
        throw new TandemError("not_found", `execution ${executionId} is unknown or expired`, {
          details: { execution: executionId },
        });
      }
      if (policy.budget !== undefined && !policy.budget.tryRetry()) {
        // The execution cannot go on: it ends here, and its bulkhead slot is given back.
        this.#finish(executionId);
        policy.events.rejected("budget");
        throw new RetryBudgetExhaustedError(policy.name, 0, undefined);
      }
      policy.events.retried();
    }
    const breaker = policy.breaker;
    if (breaker !== undefined && !breaker.tryAcquire()) {
      this.#finish(executionId);
      policy.events.rejected("circuit_open");
      throw new CircuitOpenError(policy.name, breaker.retryAfterMs);
    }
    const permit = `p${++this.#next}`;
    this.#permits.set(permit, { execution: executionId, policy, breaker: breaker !== undefined, expires: now + lease });
    return { execution: executionId, permit };
  }

  /** Applies reported outcomes; unknown permits (expired, reclaimed) are ignored. */
  report(outcomes: readonly Outcome[]): void {
    for (const outcome of outcomes) {
      const granted = this.#permits.get(outcome.permit);
      if (granted === undefined) continue;
      this.#permits.delete(outcome.permit);
      if (granted.breaker) {
        if (outcome.aborted === true) granted.policy.breaker?.release();
        else if (outcome.ok) granted.policy.breaker?.success(outcome.durationMs);
        else granted.policy.breaker?.failure();
      }
      if (outcome.final) this.#finish(granted.execution);
    }
  }

  /** Permits and executions held now (for tests and the state route). */
  get held(): { permits: number; executions: number } {
    return { permits: this.#permits.size, executions: this.#executions.size };
  }

  async #start(policy: Policy, expires: number, signal: AbortSignal | undefined): Promise<Execution> {
    if (policy.rate !== undefined) {
      const waitMs = policy.rate.take();
      if (waitMs > 0) {
        policy.events.rejected("ratelimit");
        throw new RateLimitedError(policy.name, policy.rate.rps, waitMs);
      }
    }
    let holdsSlot = false;
    const bulkhead = policy.bulkhead;
    if (bulkhead !== undefined) {
      const entered = bulkhead.enter();
      if (entered === false) {
        policy.events.rejected("bulkhead");
        throw new BulkheadRejectedError(policy.name, bulkhead.maxConcurrent, bulkhead.maxQueued);
      }
      if (entered !== true) {
        // The caller gave up waiting (its request went away): give the place up too.
        const onAbort = () => entered.cancel();
        signal?.addEventListener("abort", onAbort, { once: true });
        await entered.granted;
        signal?.removeEventListener("abort", onAbort);
      }
      holdsSlot = true;
    }
    policy.budget?.request();
    return { policy, holdsSlot, expires };
  }

  #finish(id: string): void {
    const execution = this.#executions.get(id);
    if (execution === undefined) return;
    this.#executions.delete(id);
    if (execution.holdsSlot) execution.policy.bulkhead?.exit();
  }

  #reclaim(): void {
    const now = this.#now();
    for (const [id, granted] of this.#permits) {
      if (granted.expires > now) continue;
      this.#permits.delete(id);
      if (granted.breaker) granted.policy.breaker?.release();
    }
    for (const [id, execution] of this.#executions) if (execution.expires <= now) this.#finish(id);
  }
}
