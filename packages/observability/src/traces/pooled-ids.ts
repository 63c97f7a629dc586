import type { IdGenerator } from "@opentelemetry/sdk-trace";
import { fillRandom } from "@tandem/core";

const POOL_BYTES = 4096;
const ZEROS = /^0+$/;

/**
 * Trace and span ids cut from a pool of random bytes that is refilled 4 KiB at a time and turned
 * into hex at once: an id is a slice of that string, where the SDK's generator writes
 * `Math.random()` into a buffer four bytes at a time and converts each id. The bytes come from
 * `Math.random()` too (`fillRandom`): ids must not repeat, not be unguessable, and node:crypto
 * would bring OpenSSL into the sidecar for them. An id that came out all zeros (invalid) is
 * drawn again.
 */
export class PooledIdGenerator implements IdGenerator {
  readonly #pool = Buffer.allocUnsafe(POOL_BYTES);
  readonly #fill: (pool: Buffer) => void;
  #hex = "";
  #at = 0;

  /** `fill` puts random bytes in the whole pool: `fillRandom` unless given. */
  constructor(fill: (pool: Buffer) => void = fillRandom) {
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
