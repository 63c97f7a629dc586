import { describe, expect, it } from "vitest";
import { fillRandom, randomHex } from "../src/internal/random.js";

describe("fillRandom", () => {
  it("writes every byte, to the last of a length that is not a multiple of four", () => {
    let untouched = 0;
    for (let n = 0; n < 1000; n++) {
      const bytes = new Uint8Array(7).fill(0xaa);
      fillRandom(bytes);
      if (bytes[6] === 0xaa) untouched++;
    }
    // A random byte is 0xaa one time in 256; a byte never written, every time.
    expect(untouched).toBeLessThan(20);
  });

  it("draws every byte value, evenly", () => {
    const bytes = new Uint8Array(256 * 400);
    fillRandom(bytes);
    const counts = new Array<number>(256).fill(0);
    for (const byte of bytes) counts[byte] = (counts[byte] as number) + 1;
    // 400 expected of each; a spread this wide is ~10 standard deviations out.
    expect(Math.min(...counts)).toBeGreaterThan(200);
    expect(Math.max(...counts)).toBeLessThan(600);
  });
});

describe("randomHex", () => {
  it("gives two hex digits a byte, different each time", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => randomHex(8)));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{16}$/);
  });
});
