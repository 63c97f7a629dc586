import type { OtlpPayload } from "./otlp-body.js";

/** The bounds of the sidecar's traces queue. */
export interface QueueLimits {
  /** Bytes held at most, all requests together. */
  maxBytes: number;
  /** Requests held at most. */
  maxRequests: number;
}

/**
 * A FIFO of accepted OTLP requests, bounded by bytes and by count: `offer` refuses what does not
 * fit instead of growing, so a stalled collector costs a known amount of memory.
 */
export class OtlpQueue {
  readonly #items: OtlpPayload[] = [];
  readonly #limits: QueueLimits;
  #bytes = 0;

  constructor(limits: QueueLimits) {
    this.#limits = limits;
  }

  get length(): number {
    return this.#items.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Appends `payload` when it fits in both bounds; false (and nothing held) otherwise. */
  offer(payload: OtlpPayload): boolean {
    const size = payload.bytes.length;
    if (this.#items.length >= this.#limits.maxRequests || this.#bytes + size > this.#limits.maxBytes) return false;
    this.#items.push(payload);
    this.#bytes += size;
    return true;
  }

  /**
   * Takes the oldest requests of one encoding, as many as fit in `maxBytes` together, and always
   * at least one, so a request larger than a batch still leaves.
   */
  takeBatch(maxBytes: number): OtlpPayload[] {
    const first = this.#items[0];
    if (first === undefined) return [];
    let count = 0;
    let size = 0;
    for (const item of this.#items) {
      if (item.encoding !== first.encoding || (count > 0 && size + item.bytes.length > maxBytes)) break;
      count++;
      size += item.bytes.length;
    }
    this.#bytes -= size;
    return this.#items.splice(0, count);
  }

  /** Empties the queue and returns what it held. */
  clear(): OtlpPayload[] {
    this.#bytes = 0;
    return this.#items.splice(0, this.#items.length);
  }
}
