import { ConfigError } from "./errors.js";

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration as the config file writes it (`250ms`, `2s`, `1.5m`, `1h`) into
 * milliseconds. A bare number is milliseconds. `where` names the setting in errors.
 */
export function parseDuration(value: string | number, where: string): number {
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return value;
  const match = typeof value === "string" ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value) : null;
  if (match === null) {
    throw new ConfigError(`${where} is "${String(value)}"; expected a duration such as 250ms, 2s, 1m or 1h`, {
      details: { setting: where, value, expected: "duration" },
    });
  }
  return Math.round(Number(match[1]) * (DURATION_UNITS[match[2] ?? "ms"] as number));
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** Parses a size (`512kb`, `1mb`, `1048576`) into bytes. `where` names the setting in errors. */
export function parseSize(value: string | number, where: string): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return value;
  const match = typeof value === "string" ? /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)?\s*$/i.exec(value) : null;
  const unit = SIZE_UNITS[(match?.[2] ?? "b").toLowerCase()];
  if (match === null || unit === undefined) {
    throw new ConfigError(`${where} is "${String(value)}"; expected a size such as 512kb, 1mb or a number of bytes`, {
      details: { setting: where, value, expected: "size" },
    });
  }
  return Math.floor(Number(match[1]) * unit);
}
