// Telemetry and flag costs: a counter increment and a histogram observation in library mode
// and in sidecar mode (client-side aggregation, flushed to a real sidecar), prom-client's own
// instruments as the peer, the time to render 10 000 series, and flag evaluations per second
// through tandem's OpenFeature client next to @openfeature/flagd-core alone. Median of several
// rounds with min and max. Writes bench/results/telemetry.json.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlagdCore } from "@openfeature/flagd-core";
import { OpenFeature } from "@openfeature/server-sdk";
import { parseSidecarAddress, SidecarClient } from "@tandem/core";
import { PodMetrics, RemoteMetrics } from "@tandem/observability";
import { startSidecar } from "@tandem/testkit";
import { pino } from "pino";
import { Counter, Histogram, Registry } from "prom-client";
import { createRuntime } from "tandem";
import { QUICK, summarize, writeResult } from "./lib/stats.mjs";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 3 : 7));
const CALLS = Number(process.env.BENCH_CALLS ?? (QUICK ? 1_000_000 / 10 : 1_000_000));

/** A summary of per-call nanoseconds over the rounds. */
function nsSummary(xs) {
  const { median, min, max } = summarize(xs);
  return { medianNs: median, minNs: min, maxNs: max };
}

/** A summary of milliseconds over the rounds. */
function msSummary(xs) {
  const { median, min, max } = summarize(xs);
  return { medianMs: median, minMs: min, maxMs: max };
}

/**
 * Times `fn` (CALLS calls) over the rounds after a warm-up. With `flush` (sidecar mode) each
 * round ends with the flush of what it recorded to the sidecar, timed with the calls: one flush
 * per round, as a process making CALLS calls a second has one.
 */
async function measure(fn, flush) {
  fn();
  await flush?.();
  const samples = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    fn();
    await flush?.();
    samples.push(Number(process.hrtime.bigint() - start) / CALLS);
  }
  return nsSummary(samples);
}

/** The value of the sample `name` in a Prometheus text exposition, summed over its series. */
function sampleTotal(text, name) {
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

const results = {};

// Library mode: tandem's own registry.
const local = new PodMetrics({ self: "bench" }).ownMetrics();
const lc = local.counter("bench_requests_total", { labelNames: ["route"] });
const lh = local.histogram("bench_duration_seconds", { labelNames: ["route"] });
results["counter.inc, library"] = await measure(() => {
  for (let i = 0; i < CALLS; i++) lc.inc({ route: "/orders" });
});
results["histogram.observe, library"] = await measure(() => {
  for (let i = 0; i < CALLS; i++) lh.observe({ route: "/orders" }, 0.012);
});

// Sidecar mode: the same recording, and each round's flush of it to a real sidecar.
const sidecar = await startSidecar();
const client = new SidecarClient({ address: parseSidecarAddress(sidecar.api), token: sidecar.token });
const remote = new RemoteMetrics({ client, logger: pino({ level: "silent" }), process: "bench" });
const rc = remote.counter("bench_requests_total", { labelNames: ["route"] });
const rh = remote.histogram("bench_duration_seconds", { labelNames: ["route"] });
const flush = () => remote.flush();
results["counter.inc, sidecar mode"] = await measure(() => {
  for (let i = 0; i < CALLS; i++) rc.inc({ route: "/orders" });
}, flush);
results["histogram.observe, sidecar mode"] = await measure(() => {
  for (let i = 0; i < CALLS; i++) rh.observe({ route: "/orders" }, 0.012);
}, flush);
// What one flush costs by itself: a counter and a histogram series changed since the last.
const flushRounds = [];
for (let r = 0; r < ROUNDS; r++) {
  rc.inc({ route: "/orders" });
  rh.observe({ route: "/orders" }, 0.012);
  const start = process.hrtime.bigint();
  await flush();
  flushRounds.push(Number(process.hrtime.bigint() - start) / 1e6);
}
results["flush to the sidecar (ms)"] = msSummary(flushRounds);
// The sidecar holds every call recorded: the flushes timed above carried them.
const recorded = (ROUNDS + 1) * CALLS + ROUNDS;
const exposed = (await remote.expose()).body;
for (const name of ["bench_requests_total", "bench_duration_seconds_count"]) {
  const got = sampleTotal(exposed, name);
  if (got !== recorded) throw new Error(`the sidecar shows ${got} for ${name} where ${recorded} calls were recorded`);
}
await remote.close();
await client.close();
await sidecar.stop();

// Peer: prom-client's instruments.
const registry = new Registry();
const pc = new Counter({ name: "peer_requests_total", help: "h", labelNames: ["route"], registers: [registry] });
const ph = new Histogram({ name: "peer_duration_seconds", help: "h", labelNames: ["route"], registers: [registry] });
results["counter.inc, prom-client"] = await measure(() => {
  for (let i = 0; i < CALLS; i++) pc.inc({ route: "/orders" });
});
results["histogram.observe, prom-client"] = await measure(() => {
  for (let i = 0; i < CALLS; i++) ph.observe({ route: "/orders" }, 0.012);
});

// Rendering 10 000 series.
const pod = new PodMetrics({ self: "scrape", maxSeriesPerMetric: 20_000 });
const many = pod.ownMetrics().counter("bench_series_total", { labelNames: ["id"] });
for (let i = 0; i < 10_000; i++) many.inc({ id: String(i) });
const scrapeRounds = [];
for (let r = 0; r < ROUNDS; r++) {
  const start = process.hrtime.bigint();
  pod.text(false);
  scrapeRounds.push(Number(process.hrtime.bigint() - start) / 1e6);
}
results["render 10 000 series (ms)"] = msSummary(scrapeRounds);

// Flags: tandem's OpenFeature client against flagd-core alone.
const definitions = JSON.stringify({
  flags: {
    checkout: {
      state: "ENABLED",
      variants: { on: true, off: false },
      defaultVariant: "off",
      targeting: { fractional: [{ cat: [{ var: "$flagd.flagKey" }, { var: "userId" }] }, ["on", 10], ["off", 90]] },
    },
  },
});
const core = new FlagdCore();
core.setConfigurations(definitions);
const FLAG_CALLS = 100_000;
/**
 * Each subject warmed up, then ROUNDS rounds in which every subject runs once, in turn: both see
 * the same moments of a shared machine, and their ratio is taken round by round.
 */
const flagRounds = async (subjects) => {
  for (const fn of Object.values(subjects)) await fn();
  const samples = Object.fromEntries(Object.keys(subjects).map((name) => [name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, fn] of Object.entries(subjects)) {
      const start = process.hrtime.bigint();
      await fn();
      samples[name].push(Number(process.hrtime.bigint() - start) / FLAG_CALLS);
    }
  }
  return samples;
};
// rt.flags itself, from a runtime reading the same definitions from its flags file.
const flagDir = mkdtempSync(join(tmpdir(), "tandem-bench-flags-"));
writeFileSync(join(flagDir, "flags.json"), definitions);
writeFileSync(join(flagDir, "tandem.yaml"), `flags:\n  source: ${join(flagDir, "flags.json")}\n`);
const flagRuntime = await createRuntime({
  mode: "library",
  configPath: join(flagDir, "tandem.yaml"),
  logger: pino({ level: "silent" }),
  env: {},
});
const evaluateThroughTandem = async () => {
  for (let i = 0; i < FLAG_CALLS; i++)
    await flagRuntime.flags.getBooleanValue("checkout", false, { userId: `u${i % 1000}` });
};
const flagSamples = await flagRounds({
  core: async () => {
    for (let i = 0; i < FLAG_CALLS; i++) core.resolveBooleanEvaluation("checkout", false, { userId: `u${i % 1000}` });
  },
  // The floor for an API that answers with a promise, as OpenFeature's does: the same call, awaited.
  awaited: async () => {
    for (let i = 0; i < FLAG_CALLS; i++)
      await core.resolveBooleanEvaluation("checkout", false, { userId: `u${i % 1000}` });
  },
  tandem: evaluateThroughTandem,
});
results["flag evaluation, flagd-core alone"] = nsSummary(flagSamples.core);
results["flag evaluation, flagd-core alone, awaited"] = nsSummary(flagSamples.awaited);
results["flag evaluation, tandem (OpenFeature client)"] = nsSummary(flagSamples.tandem);
// The same rounds' ratios, so that a round the machine slowed counts for both subjects alike.
const flagRoundRatios = flagSamples.tandem.map((ns, i) => ns / flagSamples.core[i]);
// With a hook registered: rt.flags runs the hooks itself; the peer is the OpenFeature SDK's own
// evaluation, through a plain SDK client bound to the same provider, with the same hook.
OpenFeature.addHooks({ after: () => {} });
await OpenFeature.setProviderAndWait("bench-sdk", OpenFeature.getProvider(flagRuntime.flags.metadata.domain));
const sdkClient = OpenFeature.getClient("bench-sdk");
const hookedSamples = await flagRounds({
  tandem: evaluateThroughTandem,
  sdk: async () => {
    for (let i = 0; i < FLAG_CALLS; i++) await sdkClient.getBooleanValue("checkout", false, { userId: `u${i % 1000}` });
  },
});
results["flag evaluation, tandem with an OpenFeature hook"] = nsSummary(hookedSamples.tandem);
results["flag evaluation, OpenFeature SDK with an OpenFeature hook"] = nsSummary(hookedSamples.sdk);
OpenFeature.clearHooks();
await flagRuntime.close();
rmSync(flagDir, { recursive: true, force: true });

const rows = Object.entries(results).map(([name, r]) => ({
  subject: name,
  median: r.medianNs === undefined ? `${r.medianMs.toFixed(1)} ms` : `${r.medianNs.toFixed(0)} ns`,
  "min..max":
    r.medianNs === undefined
      ? `${r.minMs.toFixed(1)}..${r.maxMs.toFixed(1)} ms`
      : `${r.minNs.toFixed(0)}..${r.maxNs.toFixed(0)} ns`,
}));
console.table(rows);
const ratio = (a, b) => results[a].medianNs / results[b].medianNs;
const ratios = {
  "counter sidecar/library": ratio("counter.inc, sidecar mode", "counter.inc, library"),
  "histogram sidecar/library": ratio("histogram.observe, sidecar mode", "histogram.observe, library"),
  "counter tandem/prom-client": ratio("counter.inc, library", "counter.inc, prom-client"),
  "histogram tandem/prom-client": ratio("histogram.observe, library", "histogram.observe, prom-client"),
  "flag tandem/flagd-core": summarize(flagRoundRatios).median,
  "flag tandem with a hook/flagd-core": ratio(
    "flag evaluation, tandem with an OpenFeature hook",
    "flag evaluation, flagd-core alone",
  ),
  "flag SDK with a hook/tandem with a hook": summarize(hookedSamples.sdk.map((ns, i) => ns / hookedSamples.tandem[i]))
    .median,
};
console.table(Object.entries(ratios).map(([k, v]) => ({ ratio: k, value: v.toFixed(2) })));
writeResult("telemetry", { calls: CALLS, rounds: ROUNDS, results, ratios, flagRoundRatios });
