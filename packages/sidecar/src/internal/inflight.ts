import type { CancelSignal } from "@tandem/core";
import type { Answer } from "./io.js";

/** One answer in progress: an entry of an `InflightList`. */
export class Inflight {
  /** Fires when the client of a proxied request goes away before its answer ended. */
  gone: CancelSignal | undefined = undefined;
  prev: Inflight | undefined = undefined;
  next: Inflight | undefined = undefined;
  listed = true;

  constructor(readonly res: Answer) {}
}

/**
 * The answers in progress, a list linked through its entries: adding and removing one allocates
 * the entry and nothing else. A Map or Set of them would rebuild its hash table as it empties and
 * fills again, on most requests at a modest rate, and V8 allocates a long-lived Map's new table in
 * the old generation: ~100 bytes of old-generation garbage a request, collected only by full GCs.
 */
export class InflightList {
  #head: Inflight | undefined = undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(res: Answer): Inflight {
    const entry = new Inflight(res);
    const head = this.#head;
    if (head !== undefined) {
      entry.next = head;
      head.prev = entry;
    }
    this.#head = entry;
    this.#size++;
    return entry;
  }

  /** Takes `entry` out; false when it was out already. */
  remove(entry: Inflight): boolean {
    if (!entry.listed) return false;
    entry.listed = false;
    const { prev, next } = entry;
    if (prev === undefined) this.#head = next;
    else prev.next = next;
    if (next !== undefined) next.prev = prev;
    // A removed entry points at nothing, so that it keeps no later request alive.
    entry.prev = undefined;
    entry.next = undefined;
    this.#size--;
    return true;
  }

  *[Symbol.iterator](): IterableIterator<Inflight> {
    for (let entry = this.#head; entry !== undefined; entry = entry.next) yield entry;
  }
}
