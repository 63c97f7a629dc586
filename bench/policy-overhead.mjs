// Policy overhead in library mode: the cost a full policy stack adds around a call that does
// nothing, next to a bare call, cockatiel and opossum, measured in one run on this machine.
// Reports the median of several rounds with min and max, as nanoseconds per call and as
// ratios to the bare call. tandem is timed twice: through `rt.resilience.execute` (the policy
// looked up by name, as an application calls it) and its `Policy` alone. Writes
// bench/results/policy-overhead.json.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeadlineWheel, Policy } from "@tandem/resilience";
import { bulkhead, circuitBreaker, handleAll, retry, SamplingBreaker, TimeoutStrategy, timeout, wrap } from "cockatiel";
import CircuitBreakerOpossum from "opossum";
import { pino } from "pino";
import { createRuntime } from "tandem";
import { QUICK, writeResult } from "./lib/stats.mjs";

const CALLS = Number(process.env.BENCH_CALLS ?? (QUICK ? 200_000 / 10 : 200_000));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 3 : 7));
const work = () => Promise.resolve(1);

const settings = {
  timeout: 1000,
  retry: { attempts: 3, backoff: { base: 25, max: 1000 }, budget: { ratio: 0.2, minPerSecond: 10 } },
  circuitBreaker: { failureRatio: 0.5, minThroughput: 20, window: 10_000, breakFor: 5000, halfOpenProbes: 3 },
  bulkhead: { maxConcurrent: 100, maxQueued: 0 },
};
const tandem = new Policy("bench", settings, {
  wheel: new DeadlineWheel(),
  now: performance.now.bind(performance),
  events: { retried() {}, rejected() {}, transition() {} },
});

// The same policy, by name, through a library-mode runtime reading it from its config file.
const dir = mkdtempSync(join(tmpdir(), "tandem-bench-policy-"));
writeFileSync(join(dir, "tandem.json"), JSON.stringify({ policies: { bench: settings } }));
const rt = await createRuntime({
  mode: "library",
  configPath: join(dir, "tandem.json"),
  logger: pino({ level: "silent" }),
  env: {},
});

// The same four policies; the breaker opens on a failure ratio over a window, as tandem's does.
const cockatielPolicy = wrap(
  bulkhead(100, 0),
  retry(handleAll, { maxAttempts: 2 }),
  circuitBreaker(handleAll, {
    halfOpenAfter: 5000,
    breaker: new SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 2 }),
  }),
  timeout(1000, TimeoutStrategy.Cooperative),
);

const opossum = new CircuitBreakerOpossum(work, { timeout: 1000, errorThresholdPercentage: 50, volumeThreshold: 20 });

const subjects = {
  "bare call": () => work(),
  "tandem rt.resilience.execute (timeout+retry+breaker+bulkhead)": () => rt.resilience.execute("bench", work),
  "tandem (timeout+retry+breaker+bulkhead)": () => tandem.execute(work),
  "cockatiel wrap (bulkhead+retry+breaker+timeout)": () => cockatielPolicy.execute(work),
  "opossum fire (breaker+timeout)": () => opossum.fire(),
};

async function round(fn) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) await fn();
  return Number(process.hrtime.bigint() - start) / CALLS;
}

// Each subject warmed up, then the rounds, every subject once per round in turn: a moment the
// machine is slower falls on all of them alike.
const samples = Object.fromEntries(Object.keys(subjects).map((name) => [name, []]));
for (const fn of Object.values(subjects)) await round(fn);
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of Object.entries(subjects)) samples[name].push(await round(fn));
}
const results = {};
for (const [name, xs] of Object.entries(samples)) {
  xs.sort((a, b) => a - b);
  results[name] = { medianNs: xs[Math.floor(xs.length / 2)], minNs: xs[0], maxNs: xs.at(-1) };
}
opossum.shutdown();
await rt.close();
rmSync(dir, { recursive: true, force: true });

const bare = results["bare call"].medianNs;
const rows = Object.entries(results).map(([name, r]) => ({
  subject: name,
  "ns/call (median)": r.medianNs.toFixed(0),
  "min..max": `${r.minNs.toFixed(0)}..${r.maxNs.toFixed(0)}`,
  "added ns": (r.medianNs - bare).toFixed(0),
  "x bare": (r.medianNs / bare).toFixed(2),
}));
console.table(rows);
const tandemAdded = results["tandem rt.resilience.execute (timeout+retry+breaker+bulkhead)"].medianNs - bare;
writeResult("policy-overhead", {
  calls: CALLS,
  rounds: ROUNDS,
  method: {
    interleaved: true,
    cockatielBreaker: "new SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 2 })",
  },
  results,
  tandemAddedNs: tandemAdded,
});
console.log(`tandem adds ${tandemAdded.toFixed(0)} ns per call over a bare call (target < 1000 ns).`);
