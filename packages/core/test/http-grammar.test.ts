import { describe, expect, it } from "vitest";
import {
  asciiAt,
  badFieldValue,
  fieldName,
  fieldValue,
  HTTP_CHUNKED_LAST,
  httpDigits,
} from "../src/internal/http-grammar.js";

describe("fieldName", () => {
  it("lower-cases a token, the same string each time, and refuses what is not one", () => {
    expect(fieldName("Content-Type")).toBe("content-type");
    expect(fieldName("Content-Type")).toBe("content-type");
    expect(fieldName("x-a_b.c~!#$%&'*+^`|")).toBe("x-a_b.c~!#$%&'*+^`|");
    for (const bad of ["", "a b", "a:b", "a\r\nb", "é", "a\tb", "(x)", "a\0"])
      expect(fieldName(bad), bad).toBeUndefined();
  });

  it("still checks every name once its table of known names is full", () => {
    for (let i = 0; i < 2000; i++) expect(fieldName(`X-Name-${i}`)).toBe(`x-name-${i}`);
    expect(fieldName("X Name")).toBeUndefined();
    expect(fieldName("X-Late-Name")).toBe("x-late-name");
  });
});

describe("badFieldValue", () => {
  it("allows tabs, visible ASCII, spaces and obs-text, and nothing else", () => {
    expect(badFieldValue("")).toBe(false);
    expect(badFieldValue("text/html; q=0.9,\t*/*")).toBe(false);
    expect(badFieldValue("caf\u00e9 \u00ff")).toBe(false);
    for (const bad of ["a\rb", "a\nb", "a\0b", "a\u007fb", "a\u0001b", "a\u0100b", "snow \u2603"]) {
      expect(badFieldValue(bad), JSON.stringify(bad)).toBe(true);
    }
  });
});

describe("fieldValue", () => {
  it("takes the spaces and tabs around a value away, and nothing else", () => {
    expect(fieldValue("name: \t a b \t ", 5, 14)).toBe("a b");
    expect(fieldValue("x:", 2, 2)).toBe("");
    expect(fieldValue("x: \u00a0v\u00a0 ", 2, 7)).toBe("\u00a0v\u00a0");
  });
});

describe("HTTP_CHUNKED_LAST", () => {
  it("says chunked only when chunked is the last coding, in any case", () => {
    for (const yes of ["chunked", "gzip, chunked", "Gzip,CHUNKED ", " chunked"])
      expect(HTTP_CHUNKED_LAST.test(yes), yes).toBe(true);
    for (const no of ["chunked, gzip", "notchunked", "gzip", ""]) expect(HTTP_CHUNKED_LAST.test(no), no).toBe(false);
  });
});

describe("httpDigits", () => {
  it("takes 1 to 15 ASCII digits and nothing else, as /^\\d{1,15}$/ does", () => {
    for (const good of ["0", "7", "42", "000", "123456789012345"]) expect(httpDigits(good), good).toBe(true);
    const bad = ["", " 1", "1 ", "+1", "-1", "1.0", "1e3", "0x1", "1,2", "١", "1234567890123456", "/", ":"];
    for (const value of bad) expect(httpDigits(value), value).toBe(false);
    // Every one- and two-character string of the first 256 code points, against the expression.
    for (let a = 0; a < 256; a++) {
      const one = String.fromCharCode(a);
      expect(httpDigits(one), one).toBe(/^\d{1,15}$/.test(one));
      for (let b = 0; b < 256; b += 17) {
        const two = one + String.fromCharCode(b);
        expect(httpDigits(two), two).toBe(/^\d{1,15}$/.test(two));
      }
    }
  });
});

describe("asciiAt", () => {
  it("finds ASCII text in bytes only where every byte of it is, and not past their end", () => {
    const bytes = Buffer.from("GET http://a/ HTTP/1.1", "latin1");
    expect(asciiAt(bytes, 0, "GET")).toBe(true);
    expect(asciiAt(bytes, 13, " HTTP/1.1")).toBe(true);
    expect(asciiAt(bytes, 13, " HTTP/1.0")).toBe(false);
    expect(asciiAt(bytes, 14, " HTTP/1.1")).toBe(false);
    expect(asciiAt(bytes, 14, "HTTP/1.1 ")).toBe(false);
    expect(asciiAt(bytes, 0, "get")).toBe(false);
    expect(asciiAt(bytes, 22, "")).toBe(true);
  });
});
