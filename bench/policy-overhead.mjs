// Policy overhead in library mode: the cost a full policy stack adds around a call that does
// nothing, next to a bare call, cockatiel and opossum, measured in one run on this machine.
// Reports the median of several rounds with min and max, as nanoseconds per call and as
// ratios to the bare call. Writes bench/results/policy-overhead.json.
import { DeadlineWheel, Policy } from "@tandem/resilience";
import {
  bulkhead,
  ConsecutiveBreaker,
  circuitBreaker,
  handleAll,
  retry,
  TimeoutStrategy,
  timeout,
  wrap,
} from "cockatiel";
import CircuitBreakerOpossum from "opossum";
import { QUICK, writeResult } from "./lib/stats.mjs";

const CALLS = Number(process.env.BENCH_CALLS ?? (QUICK ? 200_000 / 10 : 200_000));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 3 : 7));
const work = () => Promise.resolve(1);

const tandem = new Policy(
  "bench",
  {
    timeout: 1000,
    retry: { attempts: 3, backoff: { base: 25, max: 1000 }, budget: { ratio: 0.2, minPerSecond: 10 } },
    circuitBreaker: { failureRatio: 0.5, minThroughput: 20, window: 10_000, breakFor: 5000, halfOpenProbes: 3 },
    bulkhead: { maxConcurrent: 100, maxQueued: 0 },
  },
  {
    wheel: new DeadlineWheel(),
    now: performance.now.bind(performance),
    events: { retried() {}, rejected() {}, transition() {} },
  },
);

const cockatielPolicy = wrap(
  bulkhead(100, 0),
  retry(handleAll, { maxAttempts: 2 }),
  circuitBreaker(handleAll, { halfOpenAfter: 5000, breaker: new ConsecutiveBreaker(5) }),
  timeout(1000, TimeoutStrategy.Cooperative),
);

const opossum = new CircuitBreakerOpossum(work, { timeout: 1000, errorThresholdPercentage: 50, volumeThreshold: 20 });

const subjects = {
  "bare call": () => work(),
  "tandem (timeout+retry+breaker+bulkhead)": () => tandem.execute(work),
  "cockatiel wrap (bulkhead+retry+breaker+timeout)": () => cockatielPolicy.execute(work),
  "opossum fire (breaker+timeout)": () => opossum.fire(),
};

async function round(fn) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) await fn();
  return Number(process.hrtime.bigint() - start) / CALLS;
}

const results = {};
for (const [name, fn] of Object.entries(subjects)) {
  await round(fn); // warm up
  const samples = [];
  for (let r = 0; r < ROUNDS; r++) samples.push(await round(fn));
  samples.sort((a, b) => a - b);
  results[name] = { medianNs: samples[Math.floor(samples.length / 2)], minNs: samples[0], maxNs: samples.at(-1) };
}
opossum.shutdown();

const bare = results["bare call"].medianNs;
const rows = Object.entries(results).map(([name, r]) => ({
  subject: name,
  "ns/call (median)": r.medianNs.toFixed(0),
  "min..max": `${r.minNs.toFixed(0)}..${r.maxNs.toFixed(0)}`,
  "added ns": (r.medianNs - bare).toFixed(0),
  "x bare": (r.medianNs / bare).toFixed(2),
}));
console.table(rows);
const tandemAdded = results["tandem (timeout+retry+breaker+bulkhead)"].medianNs - bare;
writeResult("policy-overhead", { calls: CALLS, rounds: ROUNDS, results, tandemAddedNs: tandemAdded });
console.log(`tandem adds ${tandemAdded.toFixed(0)} ns per call over a bare call (target < 1000 ns).`);
