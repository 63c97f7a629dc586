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

  it("fills a view that starts off a word boundary, and nothing around it", () => {
    let untouched = 0;
    for (let n = 0; n < 200; n++) {
      const whole = new Uint8Array(16).fill(0xaa);
      fillRandom(whole.subarray(1, 15));
      expect(whole[0]).toBe(0xaa);
      expect(whole[15]).toBe(0xaa);
      for (let i = 1; i < 15; i++) if (whole[i] === 0xaa) untouched++;
    }
    // 2 800 bytes written: ~11 are 0xaa by chance; a byte never written would be, all 200 times.
    expect(untouched).toBeLessThan(40);
  });

  it("fills the bytes after the last whole word of an aligned buffer", () => {
    const bytes = new Uint8Array(4096 + 3).fill(0xaa);
    let untouched = 0;
    for (let n = 0; n < 200; n++) {
      bytes.fill(0xaa, 4096);
      fillRandom(bytes);
      for (let i = 4096; i < bytes.length; i++) if (bytes[i] === 0xaa) untouched++;
    }
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
