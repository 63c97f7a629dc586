// A short smoke run of the harness: two scenarios that need no system tool, run as `pnpm bench`
// runs them (their own process, quick mode, fewer calls), their results written to a temporary
// directory and rendered as the page renders them. No timing is asserted: only that each
// scenario measured every subject, recorded where it ran, and that its report states a verdict.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import renderPolicy from "../report/policy-overhead.mjs";
import renderTelemetry from "../report/telemetry.mjs";

const bench = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "tandem-bench-smoke-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `script` as a scenario with a few calls per round; returns what it wrote. */
function run(script, name, calls) {
  execFileSync(process.execPath, [script], {
    cwd: bench,
    env: { ...process.env, BENCH_QUICK: "1", BENCH_ROUNDS: "2", BENCH_CALLS: String(calls), BENCH_RESULTS_DIR: dir },
    stdio: ["ignore", "ignore", "pipe"],
    timeout: 120_000,
  });
  return JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8"));
}

describe("a smoke run of the harness", () => {
  it("measures the policy overhead of tandem and both peers, and reports the target", () => {
    const result = run("policy-overhead.mjs", "policy-overhead", 2000);
    expect(result.quick).toBe(true);
    expect(result.machine.software.cockatiel).toMatch(/^\d+\./);
    for (const subject of Object.values(result.results)) {
      expect(subject.medianNs).toBeGreaterThan(0);
      expect(subject.minNs).toBeLessThanOrEqual(subject.maxNs);
    }
    expect(Object.keys(result.results)).toContain("tandem rt.resilience.execute (timeout+retry+breaker+bulkhead)");
    expect(renderPolicy(result).markdown).toMatch(
      /Target: tandem adds under 1 000 ns per call with all four policies: \*\*(met|missed)\*\*/,
    );
  }, 150_000);

  it("measures telemetry in both modes against a real sidecar, and reports the sidecar-mode target", () => {
    const result = run("telemetry.mjs", "telemetry", 20_000);
    expect(result.results["flush to the sidecar (ms)"].medianMs).toBeGreaterThan(0);
    expect(result.results["counter.inc, sidecar mode"].medianNs).toBeGreaterThan(0);
    expect(renderTelemetry(result).markdown).toMatch(/target within 1\.5×: \*\*(met|missed)\*\*/);
  }, 150_000);
});
