/** A place in the bulkhead's queue. */
export interface Waiter {
  /** Resolves when a slot is handed over. */
  granted: Promise<void>;
  /** Gives the place up (the caller stopped waiting); a slot handed over later goes to the next. */
  cancel(): void;
}

interface Entry {
  resolve: () => void;
  cancelled: boolean;
}

/**
 * Bounds concurrency: `maxConcurrent` calls run, `maxQueued` more wait in order, the rest are
 * refused. Entering with a free slot is synchronous: no promise on the fast path.
 */
export class Bulkhead {
  readonly maxConcurrent: number;
  readonly maxQueued: number;
  #active = 0;
  #waiting = 0;
  readonly #queue: Entry[] = [];

  constructor(maxConcurrent: number, maxQueued: number) {
    this.maxConcurrent = maxConcurrent;
    this.maxQueued = maxQueued;
  }

  get active(): number {
    return this.#active;
  }

  get queued(): number {
    return this.#waiting;
  }

  /** `true`: a slot is taken. A `Waiter`: queued. `false`: full, refused. */
  enter(): true | false | Waiter {
    if (this.#active < this.maxConcurrent) {
      this.#active++;
      return true;
    }
    if (this.#waiting >= this.maxQueued) return false;
    const entry: Entry = { resolve: () => {}, cancelled: false };
    const granted = new Promise<void>((resolve) => {
      entry.resolve = resolve;
    });
    this.#queue.push(entry);
    this.#waiting++;
    return {
      granted,
      cancel: () => {
        if (entry.cancelled) return;
        entry.cancelled = true;
        this.#waiting--;
      },
    };
  }

  /** Frees a slot, handing it straight to the longest live waiter if there is one. */
  exit(): void {
    for (let next = this.#queue.shift(); next !== undefined; next = this.#queue.shift()) {
      if (next.cancelled) continue;
      this.#waiting--;
      next.cancelled = true;
      next.resolve();
      return;
    }
    this.#active--;
  }
}

/** What a queued caller gives up on: its timeout and, if it has one, its own signal. */
export interface WaitLimits {
  wheel: { arm(timeoutMs: number, onTimeout: () => void): { cancel(): void } };
  timeoutMs: number;
  timedOut: () => Error;
  signal?: AbortSignal | undefined;
  aborted?: () => Error;
}

/**
 * Waits for a bulkhead slot no longer than `timeoutMs`, or until `signal` aborts; either way
 * the place in the queue is given up, so a slot freed later goes to the next waiter.
 */
export function waitForSlot(waiter: Waiter, limits: WaitLimits): Promise<void> {
  const { signal } = limits;
  return new Promise((resolve, reject) => {
    const give = (error: Error) => {
      waiter.cancel();
      armed.cancel();
      signal?.removeEventListener("abort", onAbort);
      reject(error);
    };
    const onAbort = () => give(limits.aborted?.() ?? new Error("aborted"));
    const armed = limits.wheel.arm(Math.max(0, limits.timeoutMs), () => give(limits.timedOut()));
    signal?.addEventListener("abort", onAbort, { once: true });
    void waiter.granted.then(() => {
      armed.cancel();
      signal?.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}
