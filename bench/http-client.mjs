// Scenario 2, the HTTP client in library mode: requests per second and latency percentiles of
// undici.request, Node's fetch and tandem's rt.http (every policy on) against the same local
// upstream over keep-alive connections, one subject at a time, rounds interleaved so that noise
// on the machine hits every subject alike. Closed loop: a fixed number of requests in flight,
// each sent as soon as the previous one on its lane is answered. Each subject runs in a client
// process of its own, as a service runs one HTTP client: what one subject leaves in V8's heap and
// its heuristics does not weigh on another. The processes are started once with Node's default
// flags and once without V8's allocation-site pretenuring (docs/operations.md#sizing), since that
// heuristic decides how much of every request's garbage is collected young. Writes
// bench/results/http-client.json.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PerformanceObserver } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { createRuntime } from "tandem";
import { Agent, request } from "undici";
import { startWorker } from "./lib/child.mjs";
import { allPoliciesConfig } from "./lib/client-config.mjs";
import { startUpstream } from "./lib/proxies.mjs";
import {
  createLatencyHistogram,
  histogramSummary,
  pick,
  QUICK,
  recordMs,
  summarizeRounds,
  writeResult,
} from "./lib/stats.mjs";

const SELF = fileURLToPath(import.meta.url);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ROUNDS = pick(25, 2);
const ROUND_S = pick(2, 1);
const WARMUP_S = pick(4, 1);
const CONNECTIONS = 32;
/** Objects each client process makes at start and holds, as a service holds its own (~5 MB). */
const HELD_OBJECTS = 50_000;
const BASELINE = "undici.request";
const TANDEM = "tandem rt.http (all policies)";
const HEDGED = "tandem rt.http (all policies + hedging at p99)";
const SUBJECTS = [BASELINE, "fetch", TANDEM, HEDGED];
/** What a client process holds for as long as it runs. */
const HELD = [];
/** The client process's V8 settings; the first is Node's as it comes. */
const SETTINGS = [
  { name: "Node's defaults", flags: [] },
  { name: "--no-allocation-site-pretenuring", flags: ["--no-allocation-site-pretenuring"] },
];

if (process.argv[2] === "--client") {
  // The first message sets the subject up; each later one runs a round of it.
  let client;
  process.on("message", (message) => {
    const job =
      client === undefined
        ? startClient(message).then((run) => {
            client = run;
            return "ready";
          })
        : client(message);
    job.then(
      (result) => process.send({ result }),
      (error) => process.send({ error: error?.stack ?? String(error) }),
    );
  });
  process.once("disconnect", () => process.exit(0));
} else {
  await main();
}

async function main() {
  const upstream = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), "tandem-bench-http-"));
  try {
    const base = allPoliciesConfig(upstream.url, { concurrency: CONCURRENCY, attempt: "2s", total: "5s" });
    const hedged = base.replace(
      "upstreams:\n  bench:",
      "upstreams:\n  bench:\n    hedging: { after: p99, maxHedges: 1 }",
    );
    writeFileSync(join(dir, "all.yaml"), base);
    writeFileSync(join(dir, "hedged.yaml"), hedged);
    const settings = [];
    for (const setting of SETTINGS) {
      console.log(`client processes with ${setting.name}`);
      const out = await runSetting(setting.flags, { url: `${upstream.url}/`, dir });
      settings.push({ ...setting, ...out });
    }
    const file = writeResult("http-client", {
      method: {
        upstream: upstream.kind,
        concurrency: CONCURRENCY,
        connections: CONNECTIONS,
        roundSeconds: ROUND_S,
        warmupSeconds: WARMUP_S,
        rounds: ROUNDS,
        heldObjects: HELD_OBJECTS,
        tandemConfig: base.trim(),
        hedgingConfig: "hedging: { after: p99, maxHedges: 1 } added to the same upstream",
      },
      baseline: BASELINE,
      target: { subject: TANDEM, minThroughputRatio: 0.9 },
      settings,
    });
    for (const s of settings) {
      console.log(s.name);
      console.table(
        Object.fromEntries(
          Object.entries(s.summary).map(([n, v]) => [
            n,
            {
              "req/s": v.rps.median,
              "x undici": s.throughputRatios[n].toFixed(2),
              "p99 ms": v.p99.median,
              "GC %": v.gcPercent.median.toFixed(1),
            },
          ]),
        ),
      );
    }
    console.log(`wrote ${file}${QUICK ? " (quick mode)" : ""}`);
  } finally {
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Starts a client process per subject with `flags`, warms each up, then runs the rounds: in each,
 * every subject in turn, in a rotating order. Returns the rounds and their summary.
 */
async function runSetting(flags, options) {
  const workers = new Map();
  try {
    for (const subject of SUBJECTS) {
      const worker = await startWorker({
        file: SELF,
        args: ["--client"],
        execArgv: [...process.execArgv, ...flags],
        message: { ...options, subject },
        limitMs: 60_000,
        name: `the client process of ${subject}`,
      });
      workers.set(subject, worker);
    }
    const round = (subject, seconds) => workers.get(subject).ask({ seconds }, seconds * 1000 + 30_000);
    for (const subject of SUBJECTS) await round(subject, WARMUP_S);
    const rounds = Object.fromEntries(SUBJECTS.map((n) => [n, []]));
    for (let r = 0; r < ROUNDS; r++) {
      // Rotate the order each round so no subject always runs first or last.
      for (const name of SUBJECTS.map((_, i) => SUBJECTS[(i + r) % SUBJECTS.length])) {
        const result = await round(name, ROUND_S);
        rounds[name].push(result);
        console.log(
          `round ${r + 1}/${ROUNDS} ${name}: ${result.rps} req/s, p99 ${result.p99} ms, GC ${result.gcPercent.toFixed(1)} %, errors ${result.errors}`,
        );
      }
    }
    const summary = Object.fromEntries(SUBJECTS.map((n) => [n, summarizeRounds(rounds[n])]));
    const baseline = summary[BASELINE].rps.median;
    const throughputRatios = Object.fromEntries(SUBJECTS.map((n) => [n, summary[n].rps.median / baseline]));
    return { rounds, summary, throughputRatios };
  } finally {
    for (const worker of workers.values()) worker.stop();
  }
}

/**
 * A client process's subject, set up: a function that runs it for a round. The process first
 * makes and holds a few MB of objects, as a service holds its config, caches and modules: V8's
 * allocation-site pretenuring, which the first setting leaves on, depends on it.
 */
async function startClient({ url, dir, subject }) {
  for (let i = 0; i < HELD_OBJECTS; i++) HELD.push({ i, name: `held-${i}`, pair: [i, i + 1] });
  const silent = pino({ level: "silent" });
  const runtime = (file) => createRuntime({ mode: "library", configPath: join(dir, file), logger: silent, env: {} });
  let send;
  if (subject === BASELINE) {
    const agent = new Agent({ connections: CONNECTIONS, keepAliveTimeout: 30_000 });
    send = async () => {
      const res = await request(url, { dispatcher: agent });
      await res.body.dump();
      return res.statusCode;
    };
  } else if (subject === "fetch") {
    send = async () => {
      const res = await fetch(url);
      await res.arrayBuffer();
      return res.status;
    };
  } else {
    const rt = await runtime(subject === HEDGED ? "hedged.yaml" : "all.yaml");
    send = async () => {
      const res = await rt.http.request("bench", { path: "/" });
      await res.body.dump();
      return res.statusCode;
    };
  }

  // Time spent in garbage-collection pauses, as V8 reports each one.
  let gcMs = 0;
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration;
  });
  gcObserver.observe({ entryTypes: ["gc"] });

  return async function closedLoop({ seconds }) {
    const histogram = createLatencyHistogram();
    const end = performance.now() + seconds * 1000;
    let ok = 0;
    let errors = 0;
    const lane = async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const status = await send();
          if (status === 200) ok++;
          else errors++;
        } catch {
          errors++;
        }
        recordMs(histogram, performance.now() - t0);
      }
    };
    const gcBefore = gcMs;
    const start = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
    const elapsedMs = performance.now() - start;
    // GC entries arrive after the pause that made them: let the last ones in.
    await new Promise((resolve) => setImmediate(resolve));
    const gcPercent = ((gcMs - gcBefore) / elapsedMs) * 100;
    const { p50, p90, p99, p999, max } = histogramSummary(histogram);
    return { rps: Math.round(ok / (elapsedMs / 1000)), ok, errors, p50, p90, p99, p999, max, gcPercent };
  };
}
