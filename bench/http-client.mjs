// Scenario 2, the HTTP client in library mode: requests per second and latency percentiles of
// undici.request, Node's fetch and tandem's rt.http (every policy on) against the same local
// upstream over keep-alive connections, in one process, one subject at a time, rounds
// interleaved so that noise on the machine hits every subject alike. Closed loop: a fixed number
// of requests in flight, each sent as soon as the previous one on its lane is answered.
// Writes bench/results/http-client.json.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { createRuntime } from "tandem";
import { Agent, request } from "undici";
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

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ROUNDS = pick(9, 2);
const ROUND_S = pick(4, 1);
const WARMUP_S = pick(3, 1);
const CONNECTIONS = 32;

const upstream = await startUpstream();
const dir = mkdtempSync(join(tmpdir(), "tandem-bench-http-"));
try {
  const base = `
upstreams:
  bench:
    endpoints: [${upstream.url}]
    loadBalancer: least-request
    timeout: { attempt: 2s, total: 5s }
    retry: { attempts: 3, backoff: { base: 25ms, max: 1s }, budget: { ratio: 0.2, minPerSecond: 10 } }
    circuitBreaker: { failureRatio: 0.5, minThroughput: 20, window: 10s, breakFor: 5s }
    outlierDetection: { consecutive5xx: 5, baseEjection: 30s }
    bulkhead: { maxConcurrent: ${CONCURRENCY * 4}, maxQueued: 0 }
    rateLimit: { rps: 1000000 }
`;
  const hedged = base.replace(
    "upstreams:\n  bench:",
    "upstreams:\n  bench:\n    hedging: { after: p99, maxHedges: 1 }",
  );
  writeFileSync(join(dir, "all.yaml"), base);
  writeFileSync(join(dir, "hedged.yaml"), hedged);
  const silent = pino({ level: "silent" });
  const rt = await createRuntime({ mode: "library", configPath: join(dir, "all.yaml"), logger: silent, env: {} });
  const rtHedged = await createRuntime({
    mode: "library",
    configPath: join(dir, "hedged.yaml"),
    logger: silent,
    env: {},
  });
  const agent = new Agent({ connections: CONNECTIONS, keepAliveTimeout: 30_000 });
  const url = `${upstream.url}/`;

  const subjects = {
    "undici.request": async () => {
      const res = await request(url, { dispatcher: agent });
      await res.body.dump();
      return res.statusCode;
    },
    fetch: async () => {
      const res = await fetch(url);
      await res.arrayBuffer();
      return res.status;
    },
    "tandem rt.http (all policies)": async () => {
      const res = await rt.http.request("bench", { path: "/" });
      await res.body.dump();
      return res.statusCode;
    },
    "tandem rt.http (all policies + hedging at p99)": async () => {
      const res = await rtHedged.http.request("bench", { path: "/" });
      await res.body.dump();
      return res.statusCode;
    },
  };

  async function closedLoop(fn, seconds) {
    const histogram = createLatencyHistogram();
    const end = performance.now() + seconds * 1000;
    let ok = 0;
    let errors = 0;
    const lane = async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const status = await fn();
          if (status === 200) ok++;
          else errors++;
        } catch {
          errors++;
        }
        recordMs(histogram, performance.now() - t0);
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
    const elapsed = (performance.now() - start) / 1000;
    return { rps: Math.round(ok / elapsed), ok, errors, ...pickLatency(histogramSummary(histogram)) };
  }

  function pickLatency(s) {
    return { p50: s.p50, p90: s.p90, p99: s.p99, p999: s.p999, max: s.max };
  }

  const names = Object.keys(subjects);
  for (const name of names) await closedLoop(subjects[name], WARMUP_S);
  const rounds = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order each round so no subject always runs first or last.
    const order = names.map((_, i) => names[(i + r) % names.length]);
    for (const name of order) {
      const result = await closedLoop(subjects[name], ROUND_S);
      rounds[name].push(result);
      console.log(
        `round ${r + 1}/${ROUNDS} ${name}: ${result.rps} req/s, p99 ${result.p99} ms, errors ${result.errors}`,
      );
    }
  }
  const summary = Object.fromEntries(names.map((n) => [n, summarizeRounds(rounds[n])]));
  const baseline = summary["undici.request"].rps.median;
  const ratios = Object.fromEntries(names.map((n) => [n, summary[n].rps.median / baseline]));
  await rt.close();
  await rtHedged.close();
  await agent.close();
  const file = writeResult("http-client", {
    method: {
      upstream: upstream.kind,
      concurrency: CONCURRENCY,
      connections: CONNECTIONS,
      roundSeconds: ROUND_S,
      warmupSeconds: WARMUP_S,
      rounds: ROUNDS,
      tandemConfig: base.trim(),
      hedgingConfig: "hedging: { after: p99, maxHedges: 1 } added to the same upstream",
    },
    baseline: "undici.request",
    target: { subject: "tandem rt.http (all policies)", minThroughputRatio: 0.9 },
    rounds,
    summary,
    throughputRatios: ratios,
  });
  console.table(
    Object.fromEntries(
      names.map((n) => [
        n,
        { "req/s": summary[n].rps.median, "x undici": ratios[n].toFixed(2), "p99 ms": summary[n].p99.median },
      ]),
    ),
  );
  console.log(`wrote ${file}${QUICK ? " (quick mode)" : ""}`);
} finally {
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
}
