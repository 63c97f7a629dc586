/** What a caller holds while its deadline is armed. */
export interface Deadline {
  /** Aborts when the deadline passes (shared with calls that started in the same millisecond). */
  readonly signal: AbortSignal;
  /** The call settled: its callback will not run. */
  cancel(): void;
}

/** What runs when a deadline passes: a function, or an object's `expire()` (no closure per call). */
export type OnDeadline = (() => void) | { expire(): void };

interface Bucket {
  at: number;
  controller: AbortController | undefined;
  callbacks: (OnDeadline | undefined)[];
  pending: number;
}

interface Lane {
  buckets: Bucket[];
  head: number;
  timer: NodeJS.Timeout | undefined;
}

/** A slot in a bucket: a plain object with its methods on the prototype, cheap to make. */
class ArmedDeadline implements Deadline {
  readonly #bucket: Bucket;
  readonly #index: number;

  constructor(bucket: Bucket, index: number) {
    this.#bucket = bucket;
    this.#index = index;
  }

  get signal(): AbortSignal {
    this.#bucket.controller ??= new AbortController();
    return this.#bucket.controller.signal;
  }

  cancel(): void {
    const bucket = this.#bucket;
    if (bucket.callbacks[this.#index] !== undefined) {
      bucket.callbacks[this.#index] = undefined;
      bucket.pending--;
    }
  }
}

/**
 * Deadlines without a timer per call. Calls that start in the same millisecond with the same
 * timeout share a bucket: one AbortController, one timer for the whole lane of that timeout
 * (armed for its earliest bucket still waiting). A call that settles in time only clears its
 * slot; buckets whose calls all settled are skipped, so when calls finish well within their
 * timeout, as most do, a lane's timer fires about once per timeout, not once per millisecond.
 */
export class DeadlineWheel {
  readonly #lanes = new Map<number, Lane>();

  /** Lanes alive now (one per timeout value in use). */
  get lanes(): number {
    return this.#lanes.size;
  }
  readonly #now: () => number;

  constructor(now: () => number = performance.now.bind(performance)) {
    this.#now = now;
  }

  /** Calls `onTimeout` after `timeoutMs` (rounded up to whole milliseconds) unless cancelled. */
  arm(timeoutMs: number, onTimeout: OnDeadline): Deadline {
    // Whole milliseconds: a lane per distinct value, and what remains of a total timeout is
    // rarely a round number. Empty lanes are dropped, so the map holds live lanes only.
    const key = Math.max(0, Math.ceil(timeoutMs));
    let lane = this.#lanes.get(key);
    if (lane === undefined) {
      lane = { buckets: [], head: 0, timer: undefined };
      this.#lanes.set(key, lane);
    }
    timeoutMs = key;
    const at = Math.ceil(this.#now() + timeoutMs);
    let bucket = lane.buckets[lane.buckets.length - 1];
    if (bucket === undefined || lane.buckets.length === lane.head || bucket.at !== at) {
      settle(lane);
      bucket = { at, controller: undefined, callbacks: [], pending: 0 };
      lane.buckets.push(bucket);
    }
    const index = bucket.callbacks.push(onTimeout) - 1;
    bucket.pending++;
    if (lane.timer === undefined) this.#schedule(timeoutMs, lane);
    return new ArmedDeadline(bucket, index);
  }

  #schedule(timeoutMs: number, lane: Lane): void {
    settle(lane);
    const head = lane.buckets[lane.head];
    if (head === undefined) {
      lane.timer = undefined;
      this.#lanes.delete(timeoutMs);
      return;
    }
    lane.timer = setTimeout(() => this.#fire(timeoutMs, lane), Math.max(0, head.at - this.#now()));
    lane.timer.unref();
  }

  #fire(timeoutMs: number, lane: Lane): void {
    const now = this.#now();
    while (lane.head < lane.buckets.length) {
      const bucket = lane.buckets[lane.head] as Bucket;
      if (bucket.at > now) break;
      lane.head++;
      if (bucket.pending === 0) continue;
      bucket.controller?.abort(new DOMException("the attempt timed out", "TimeoutError"));
      for (const callback of bucket.callbacks) {
        if (typeof callback === "function") callback();
        else callback?.expire();
      }
    }
    this.#schedule(timeoutMs, lane);
  }
}

/**
 * Moves a lane's head past the buckets whose calls all settled and drops them, so a busy lane
 * neither keeps every bucket it ever had nor wakes up for buckets nobody waits on.
 */
function settle(lane: Lane): void {
  const buckets = lane.buckets;
  while (lane.head < buckets.length && (buckets[lane.head] as Bucket).pending === 0) lane.head++;
  // Dropped at once when all settled (the usual case: calls end well within their timeout), so
  // buckets die young instead of living long enough to be promoted to the old generation.
  if (lane.head === buckets.length) {
    buckets.length = 0;
    lane.head = 0;
  } else if (lane.head > 64) {
    buckets.splice(0, lane.head);
    lane.head = 0;
  }
}
