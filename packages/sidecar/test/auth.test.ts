import { describe, expect, it } from "vitest";
import { TokenCheck } from "../src/internal/auth.js";

describe("TokenCheck", () => {
  const check = new TokenCheck("s3cr3t-token");

  it("accepts the token as a bearer credential, exactly", () => {
    expect(check.matches("Bearer s3cr3t-token")).toBe(true);
  });

  it("refuses anything else: a wrong character, a prefix, a longer value, another scheme, nothing", () => {
    for (const header of [
      "Bearer s3cr3t-tokeN",
      "Bearer s3cr3t-toke",
      "Bearer s3cr3t-token ",
      "Bearer s3cr3t-tokens3cr3t-token",
      "bearer s3cr3t-token",
      "Basic s3cr3t-token",
      "s3cr3t-token",
      "Bearer ",
      "",
      undefined,
      // The token read round and round, as a shorter header is compared: still not the token.
      "Bearer s3c",
      "Bearer s3cr3t-token\u0000",
      "Bearer s3cr3t-tok\u00e9n",
    ]) {
      expect(check.matches(header), JSON.stringify(header)).toBe(false);
    }
  });

  it("works for any token, including one that repeats", () => {
    const repeating = new TokenCheck("abab");
    expect(repeating.matches("Bearer abab")).toBe(true);
    expect(repeating.matches("Bearer ab")).toBe(false);
    expect(repeating.matches("Bearer ababab")).toBe(false);
    expect(new TokenCheck("").matches("Bearer ")).toBe(true);
    expect(new TokenCheck("").matches("Bearer")).toBe(false);
  });
});
