import { ConfigError, parseDuration, parseSize } from "@tandem/core";
import { describe, expect, it } from "vitest";

describe("units", () => {
  it.each([
    ["250ms", 250],
    ["2s", 2000],
    ["1.5m", 90_000],
    ["1h", 3_600_000],
    ["40", 40],
    [15, 15],
  ] as const)("parses the duration %s", (value, ms) => {
    expect(parseDuration(value, "timeout")).toBe(ms);
  });

  it("names the setting and the expected form for a bad duration", () => {
    let error: unknown;
    try {
      parseDuration("2 seconds", "upstreams.payments.timeout.attempt");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe(
      'upstreams.payments.timeout.attempt is "2 seconds"; expected a duration such as 250ms, 2s, 1m or 1h',
    );
    expect(() => parseDuration(-1, "x")).toThrow(ConfigError);
  });

  it("parses sizes and rejects unknown units", () => {
    expect(parseSize("1mb", "--max-body")).toBe(1_048_576);
    expect(parseSize("512kb", "--max-body")).toBe(524_288);
    expect(parseSize(100, "--max-body")).toBe(100);
    expect(() => parseSize("1 parsec", "--max-body")).toThrow(/--max-body is "1 parsec"/);
  });
});
