import { randomFillSync } from "node:crypto";
import type { IdGenerator } from "@opentelemetry/sdk-trace";

const POOL_BYTES = 4096;

/**
 * Trace and span ids cut from a pool of random bytes that is refilled 4 KiB at a time from the
 * system's generator: one hex conversion per id, where the SDK's generator writes `Math.random()`
 * into a buffer four bytes at a time first. An id that came out all zeros (invalid) is drawn again.
 */
export class PooledIdGenerator implements IdGenerator {
  readonly #pool = Buffer.allocUnsafe(POOL_BYTES);
  #at = POOL_BYTES;

  generateTraceId(): string {
    return this.#next(16);
  }

  generateSpanId(): string {
    return this.#next(8);
  }

  #next(bytes: number): string {
    for (;;) {
      if (this.#at + bytes > POOL_BYTES) {
        randomFillSync(this.#pool);
        this.#at = 0;
      }
      const start = this.#at;
      this.#at += bytes;
      for (let i = start; i < start + bytes; i++) {
        if (this.#pool[i] !== 0) return this.#pool.toString("hex", start, start + bytes);
      }
    }
  }
}
