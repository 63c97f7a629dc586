// Shared statistics for the benchmarks: a rounds runner (warm-up, then N rounds, reported as the
// median with the fastest and slowest round), HdrHistogram helpers, the quick mode switch and
// the writer of bench/results/<name>.json.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as hdr from "hdr-histogram-js";
import { describeMachine } from "./machine.mjs";

/** `BENCH_QUICK=1`: every scenario shortens its runs to seconds, for a smoke run. */
export const QUICK = process.env.BENCH_QUICK === "1";

/** `full` normally, `quick` under `BENCH_QUICK=1`. */
export function pick(full, quick) {
  return QUICK ? quick : full;
}

/** Median, min and max of a list of numbers (the median of an even count is the mean of the middle two). */
export function summarize(values) {
  const sorted = values.filter((v) => typeof v === "number" && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return { median: null, min: null, max: null, n: 0 };
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted.at(-1), n: sorted.length };
}

/**
 * Runs `run(roundIndex)` `warmup` times (results dropped), then `rounds` times. Each run returns a
 * number or an object of numbers (nested objects allowed); the answer keeps every round and, for
 * each numeric field, `{ median, min, max, n }` over the rounds.
 */
export async function runRounds({ warmup = 1, rounds = 5, run, onRound }) {
  if (typeof run !== "function") throw new TypeError("runRounds: run must be a function");
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`runRounds: rounds must be >= 1, got ${rounds}`);
  for (let i = 0; i < warmup; i++) await run(-1 - i);
  const all = [];
  for (let i = 0; i < rounds; i++) {
    const r = await run(i);
    all.push(r);
    onRound?.(r, i);
  }
  return { rounds: all, summary: summarizeRounds(all) };
}

/** For a list of numbers or of objects of numbers: the summary of each numeric field. */
export function summarizeRounds(rounds) {
  if (rounds.every((r) => typeof r === "number")) return summarize(rounds);
  const out = {};
  const keys = new Set(rounds.flatMap((r) => (r && typeof r === "object" ? Object.keys(r) : [])));
  for (const key of keys) {
    const values = rounds.map((r) => r?.[key]);
    if (values.every((v) => typeof v === "number" || v === null || v === undefined)) {
      if (values.some((v) => typeof v === "number")) out[key] = summarize(values);
    } else if (values.every((v) => v === undefined || v === null || (typeof v === "object" && !Array.isArray(v)))) {
      out[key] = summarizeRounds(values.map((v) => v ?? {}));
    }
  }
  return out;
}

/** A histogram of latencies in microseconds, 1 µs to 60 s, 3 significant digits. */
export function createLatencyHistogram() {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

/** Records a latency given in milliseconds (floating point) into a microsecond histogram. */
export function recordMs(histogram, ms) {
  histogram.recordValue(Math.min(60_000_000, Math.max(1, Math.round(ms * 1000))));
}

/** The percentiles of a microsecond histogram, in milliseconds. */
export function histogramSummary(histogram) {
  const ms = (us) => Math.round(us) / 1000;
  if (histogram.totalCount === 0)
    return { count: 0, mean: null, p50: null, p90: null, p99: null, p999: null, max: null };
  return {
    count: histogram.totalCount,
    mean: Math.round(histogram.mean) / 1000,
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p99: ms(histogram.getValueAtPercentile(99)),
    p999: ms(histogram.getValueAtPercentile(99.9)),
    max: ms(histogram.maxValue),
  };
}

/** The histogram as compressed base64, to pass between processes or keep in a result file. */
export function encodeHistogram(histogram) {
  return hdr.encodeIntoCompressedBase64(histogram);
}

export function decodeHistogram(base64) {
  return hdr.decodeFromCompressedBase64(base64);
}

/**
 * The revision of tandem a run measured: the commit checked out, with "+changes" when the packages
 * differ from it (a change not committed yet); null outside a git work tree.
 */
function measuredRevision() {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  try {
    const git = (...args) =>
      execFileSync("git", args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const commit = git("rev-parse", "--short=12", "HEAD").trim();
    return git("status", "--porcelain", "--", "packages").trim() === "" ? commit : `${commit}+changes`;
  } catch {
    return null;
  }
}

/**
 * Writes `bench/results/<name>.json` (or into `BENCH_RESULTS_DIR`, as the harness's smoke test
 * does) with the date, the revision and the machine, and returns the path.
 */
export function writeResult(name, data) {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`writeResult: bad result name ${JSON.stringify(name)}`);
  const elsewhere = process.env.BENCH_RESULTS_DIR;
  const dir =
    elsewhere === undefined || elsewhere === ""
      ? new URL("../results/", import.meta.url)
      : pathToFileURL(`${resolve(elsewhere)}/`);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${name}.json`, dir);
  const body = {
    scenario: name,
    date: new Date().toISOString(),
    quick: QUICK,
    revision: measuredRevision(),
    machine: describeMachine(),
    ...data,
  };
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
  return file.pathname;
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
