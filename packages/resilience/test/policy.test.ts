import { TimeoutError } from "@tandem/core";
import {
  BulkheadRejectedError,
  CircuitOpenError,
  DeadlineWheel,
  Policy,
  type PolicySettings,
  RateLimitedError,
  RetryBudgetExhaustedError,
} from "@tandem/resilience";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

const now = () => Date.now();
let events: string[];

function policy(settings: PolicySettings, random = () => 1): Policy {
  return new Policy("db", settings, {
    wheel: new DeadlineWheel(now),
    now,
    random,
    events: {
      retried: () => events.push("retry"),
      rejected: (reason) => events.push(`rejected:${reason}`),
      transition: (from, to) => events.push(`${from}->${to}`),
    },
  });
}

const never = () => new Promise<never>(() => {});
const fail = (message = "boom") => Promise.reject(new Error(message));
const retry = (attempts: number, budget = { ratio: 1, minPerSecond: 100 }) => ({
  attempts,
  backoff: { base: 10, max: 40 },
  budget,
});
const breaker = {
  failureRatio: 0.5,
  minThroughput: 4,
  window: 10_000,
  breakFor: 1000,
  halfOpenProbes: 2,
};

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
  events = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe("timeouts", () => {
  it("fails an attempt that outlives its timeout, aborting its signal", async () => {
    let signal: AbortSignal | undefined;
    const call = policy({ timeout: 100 }).execute((s) => {
      signal = s;
      return never();
    });
    const outcome = call.catch((e) => e);
    await vi.advanceTimersByTimeAsync(99);
    expect(signal?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(2);
    const error = await outcome;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.details).toEqual({ policy: "db", bound: "attempt", timeoutMs: 100 });
    expect(signal?.aborted).toBe(true);
  });

  it("never fires for a call that finished, and a slow call does not touch a fast one", async () => {
    const p = policy({ timeout: 100 });
    const fast = p.execute(async () => "fast");
    const slow = p.execute(never).catch((e) => e);
    expect(await fast).toBe("fast");
    await vi.advanceTimersByTimeAsync(150);
    expect(await slow).toBeInstanceOf(TimeoutError);
  });

  it("bounds every attempt and the backoff with the total timeout", async () => {
    let attempts = 0;
    const call = policy({ timeout: 100, totalTimeout: 250, retry: retry(10) })
      .execute(() => {
        attempts++;
        return never();
      })
      .catch((e) => e);
    await vi.advanceTimersByTimeAsync(400);
    const error = await call;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(3);
  });
});

describe("retries", () => {
  it("retries failures with full-jitter backoff and returns the first success", async () => {
    let attempts = 0;
    const call = policy({ retry: retry(3) }).execute(async () => {
      attempts++;
      if (attempts < 3) throw new Error("transient");
      return "ok";
    });
    // random() = 1: the backoff ceilings themselves, 10 ms then 20 ms.
    await vi.advanceTimersByTimeAsync(9);
    expect(attempts).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(attempts).toBe(2);
    await vi.advanceTimersByTimeAsync(20);
    expect(await call).toBe("ok");
    expect(events).toEqual(["retry", "retry"]);
  });

  it("gives up after the last attempt with the last error", async () => {
    const call = policy({ retry: retry(2) })
      .execute(() => fail("still down"))
      .catch((e) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect((await call).message).toBe("still down");
    expect(events).toEqual(["retry"]);
  });

  it("stops retrying when the budget is spent", async () => {
    // No ratio, 1 retry a second: ten retries per ten-second window.
    const p = policy({ retry: retry(2, { ratio: 0, minPerSecond: 1 }) });
    const outcomes = [];
    for (let i = 0; i < 12; i++) outcomes.push(p.execute(() => fail()).catch((e) => e));
    await vi.advanceTimersByTimeAsync(100);
    const errors = await Promise.all(outcomes);
    expect(errors.filter((e) => e instanceof RetryBudgetExhaustedError)).toHaveLength(2);
    expect(events.filter((e) => e === "retry")).toHaveLength(10);
    expect(events.filter((e) => e === "rejected:budget")).toHaveLength(2);
  });
});

describe("circuit breaker", () => {
  it("opens on the failure ratio, fails fast, half-opens for N probes, and closes when they pass", async () => {
    const p = policy({ circuitBreaker: breaker });
    await p.execute(async () => 1);
    await p.execute(async () => 1);
    await p.execute(() => fail()).catch(() => {});
    expect(p.breaker?.state).toBe("closed");
    await p.execute(() => fail()).catch(() => {});
    expect(p.breaker?.state).toBe("open");
    const fast = await p.execute(async () => 1).catch((e) => e);
    expect(fast).toBeInstanceOf(CircuitOpenError);
    expect(fast.details.retryAfterMs).toBe(1000);
    vi.advanceTimersByTime(1000);
    // Half-open: two probes at once, a third is refused.
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const probes = [p.execute(() => gate.then(() => 1)), p.execute(() => gate.then(() => 2))];
    expect(await p.execute(async () => 3).catch((e) => e)).toBeInstanceOf(CircuitOpenError);
    release();
    expect(await Promise.all(probes)).toEqual([1, 2]);
    expect(p.breaker?.state).toBe("closed");
    expect(events).toEqual([
      "closed->open",
      "rejected:circuit_open",
      "open->half_open",
      "rejected:circuit_open",
      "half_open->closed",
    ]);
  });

  it("does not count a call that started before it half-opened as a trial", async () => {
    const p = policy({ circuitBreaker: { ...breaker, minThroughput: 1, failureRatio: 1, halfOpenProbes: 1 } });
    let finishSlow!: () => void;
    const slow = p.execute(() => new Promise<number>((r) => (finishSlow = () => r(1))));
    await p.execute(() => fail()).catch(() => {});
    expect(p.breaker?.state).toBe("open");
    vi.advanceTimersByTime(1000);
    expect(p.breaker?.state).toBe("half_open");
    // The slow call from before succeeds now: it must not close the breaker.
    finishSlow();
    await slow;
    expect(p.breaker?.state).toBe("half_open");
    await p.execute(async () => 2);
    expect(p.breaker?.state).toBe("closed");
  });

  it("reopens when a probe fails", async () => {
    const p = policy({ circuitBreaker: { ...breaker, minThroughput: 1, failureRatio: 1 } });
    await p.execute(() => fail()).catch(() => {});
    vi.advanceTimersByTime(1000);
    await p.execute(() => fail()).catch(() => {});
    expect(p.breaker?.state).toBe("open");
  });

  it("opens after consecutive failures, and counts slow calls as failures", async () => {
    const p = policy({ circuitBreaker: { ...breaker, minThroughput: 1000, consecutiveFailures: 3, slowCall: 50 } });
    const slow = () =>
      new Promise<number>((r) => {
        setTimeout(() => r(1), 60);
      });
    for (let i = 0; i < 3; i++) {
      const call = p.execute(slow);
      await vi.advanceTimersByTimeAsync(60);
      expect(await call).toBe(1);
    }
    expect(p.breaker?.state).toBe("open");
  });
});

describe("bulkhead", () => {
  it("runs maxConcurrent, queues maxQueued in order, refuses the rest", async () => {
    const p = policy({ bulkhead: { maxConcurrent: 2, maxQueued: 1 } });
    const order: number[] = [];
    const releases: (() => void)[] = [];
    const job = (n: number) => () =>
      new Promise<number>((resolve) => {
        order.push(n);
        releases.push(() => resolve(n));
      });
    const calls = [p.execute(job(1)), p.execute(job(2)), p.execute(job(3))];
    const refused = await p.execute(job(4)).catch((e) => e);
    expect(refused).toBeInstanceOf(BulkheadRejectedError);
    expect(refused.details).toEqual({ policy: "db", maxConcurrent: 2, maxQueued: 1 });
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual([1, 2]);
    releases[0]?.();
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual([1, 2, 3]);
    releases[1]?.();
    releases[2]?.();
    expect(await Promise.all(calls)).toEqual([1, 2, 3]);
    expect(p.bulkhead?.active).toBe(0);
  });

  it("stops waiting in the queue at the total timeout, without ever running the work", async () => {
    const p = policy({ bulkhead: { maxConcurrent: 1, maxQueued: 2 }, totalTimeout: 100 });
    const ran: number[] = [];
    const job = (n: number) => () => {
      ran.push(n);
      return new Promise<number>((r) => setTimeout(() => r(n), 80));
    };
    const calls = [1, 2, 3].map((n) => p.execute(job(n)).catch((e) => e));
    await vi.advanceTimersByTimeAsync(200);
    const [first, second, third] = await Promise.all(calls);
    expect(first).toBe(1);
    // The second got the slot at 80 ms and ran out of total time at 100 ms.
    expect(second).toBeInstanceOf(TimeoutError);
    // The third was still queued when its total time ran out: it never ran.
    expect(third).toBeInstanceOf(TimeoutError);
    expect(ran).toEqual([1, 2]);
    expect(p.bulkhead?.active).toBe(0);
    expect(p.bulkhead?.queued).toBe(0);
  });
});

describe("rate limit", () => {
  it("lets the burst through, refuses with the wait, refills with time", async () => {
    const p = policy({ rateLimit: { rps: 10, burst: 2 } });
    expect(await p.execute(async () => 1)).toBe(1);
    expect(await p.execute(async () => 2)).toBe(2);
    const refused = await p.execute(async () => 3).catch((e) => e);
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect(refused.details).toEqual({ policy: "db", rps: 10, retryAfterMs: 100 });
    vi.advanceTimersByTime(100);
    expect(await p.execute(async () => 4)).toBe(4);
    expect(events).toEqual(["rejected:ratelimit"]);
  });
});

describe("DeadlineWheel", () => {
  it("keeps one lane per whole-millisecond timeout, and drops lanes once they are empty", async () => {
    const wheel = new DeadlineWheel(now);
    for (let i = 0; i < 1000; i++) wheel.arm(50 + i / 1000, () => {}).cancel();
    // 50.000..50.999 are all 51 ms, rounded up: one lane, not a thousand.
    expect(wheel.lanes).toBeLessThanOrEqual(2);
    await vi.advanceTimersByTimeAsync(100);
    expect(wheel.lanes).toBe(0);
  });

  it("does not wake up for calls that settled in time, and still fires for the one that did not", async () => {
    const wheel = new DeadlineWheel(now);
    const setTimer = vi.spyOn(globalThis, "setTimeout");
    const fired: number[] = [];
    // A call every millisecond for 1 s, each settled 2 ms after it started, under a 50 ms
    // timeout; call 500 never settles.
    const pending: { cancel(): void }[] = [];
    for (let i = 0; i < 1000; i++) {
      pending.push(wheel.arm(50, () => fired.push(i)));
      if (i >= 2 && i - 2 !== 500) (pending[i - 2] as { cancel(): void }).cancel();
      await vi.advanceTimersByTimeAsync(1);
    }
    pending[998]?.cancel();
    pending[999]?.cancel();
    await vi.advanceTimersByTimeAsync(100);
    expect(fired).toEqual([500]);
    // A timer per millisecond would be a thousand; the lane's timer skips the settled buckets.
    expect(setTimer.mock.calls.length).toBeLessThan(50);
    expect(wheel.lanes).toBe(0);
    setTimer.mockRestore();
  });
});
