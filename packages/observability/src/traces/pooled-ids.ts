import { randomFillSync } from "node:crypto";
import type { IdGenerator } from "@opentelemetry/sdk-trace";

const POOL_BYTES = 4096;
const ZEROS = /^0+$/;

/**
 * Trace and span ids cut from a pool of random bytes that is refilled 4 KiB at a time from the
 * system's generator and turned into hex at once: an id is a slice of that string, where the
 * SDK's generator writes `Math.random()` into a buffer four bytes at a time and converts each id.
 * An id that came out all zeros (invalid) is drawn again.
 */
export class PooledIdGenerator implements IdGenerator {
  readonly #pool = Buffer.allocUnsafe(POOL_BYTES);
  readonly #fill: (pool: Buffer) => void;
  #hex = "";
  #at = 0;

  /** `fill` puts random bytes in the whole pool: the system's generator unless given. */
  constructor(fill: (pool: Buffer) => void = randomFillSync) {
    this.#fill = fill;
  }

  generateTraceId(): string {
    return this.#next(32);
  }

  generateSpanId(): string {
    return this.#next(16);
  }

  #next(chars: number): string {
    for (;;) {
      if (this.#at + chars > this.#hex.length) {
        this.#fill(this.#pool);
        this.#hex = this.#pool.toString("hex");
        this.#at = 0;
      }
      const id = this.#hex.slice(this.#at, this.#at + chars);
      this.#at += chars;
      // One character in sixteen is "0": the test almost always stops at the first.
      if (id.charCodeAt(0) !== 48 || !ZEROS.test(id)) return id;
    }
  }
}
