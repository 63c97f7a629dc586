// Scenario 3, the sidecar hop: what a hop through tandem's sidecar (its forward proxy) adds to a
// request, next to nginx and HAProxy configured as equivalent reverse proxies (one worker / one
// thread each, as the sidecar is one Node thread; keep-alive connections to the upstream), and
// to calling the upstream directly, all in the same run against the same upstream; and a bare
// Node proxy (node:http + undici, nothing else) as the floor of a hop written in Node, and bare
// sockets both ways (no HTTP stack at all) as the floor of any process in Node on the path.
// - added latency: p50 and p99 at fixed rates (open loop, measured from the scheduled send time by
//   a generator in C, bench/lib/open-loop.c) minus the direct call's in the same round, each round
//   made of short slices of every subject in turn, so that whatever else the machine does falls on
//   every subject alike;
// - max throughput: autocannon, closed loop, 64 connections;
// - CPU seconds and RSS of the proxy process(es) while serving 1000 req/s;
// - added latency again at 1000 req/s with the proxy on a core of its own (the generator and the
//   upstream held to the other one), so that its work after its write upstream can overlap the
//   upstream's;
// - the machine's own stalls at 1000 req/s: a real-time canary on each CPU (bench/lib/canary.c)
//   notes when it could not run, and each subject's slow requests are set beside those moments.
// Writes bench/results/sidecar-hop.json.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSidecar } from "@tandem/testkit";
import autocannon from "autocannon";
import { allowedCpus, CanaryUnavailableError, cpuList, stallOverlap, stalls, startCanaries } from "./lib/canary.mjs";
import { nativeOpenLoop, runNativeOpenLoop } from "./lib/native-open-loop.mjs";
import { startNodeProxy } from "./lib/node-proxy.mjs";
import { runOpenLoop } from "./lib/open-loop.mjs";
import { CPU_CLOCK, processStats, startHaproxy, startNginx, startUpstream, ToolMissingError } from "./lib/proxies.mjs";
import {
  createLatencyHistogram,
  decodeHistogram,
  histogramSummary,
  pick,
  QUICK,
  sleep,
  summarizeRounds,
  writeResult,
} from "./lib/stats.mjs";

/** A process could not be held to a core: the part that needed it is not measured. */
class AffinityError extends Error {}
/** The canaries could not run or stop as they should: the machine's stalls are not measured. */
class StallsNotMeasured extends Error {}

const RATES = [500, 1000, 2000];
const NODE_PROXY = "bare Node proxy";
const SOCKETS = "sockets both ways";
const ROUNDS = pick(3, 1);
// A round is SLICES slices of SLICE_S seconds per subject, the subjects in turn: each subject's
// slices are spread over the whole round, so a burst of other work on the machine (which in runs of
// one subject after another fell on one subject's 6 s and set its p99) is shared by all.
const SLICES = pick(6, 2);
const SLICE_S = pick(1, 1);
// At the start of each slice, not recorded: the generator's connections and the subject's caches.
const SLICE_WARMUP_S = pick(0.25, 0.25);
const WARMUP_S = pick(2, 1);
// Once, before the first rate: V8 takes 10-20 s at 1000 req/s to compile a Node proxy's hot path
// to its final form; measured before that, the first rounds show the start, not the steady state.
const FIRST_WARMUP_S = pick(20, 2);
const FIRST_WARMUP_RATE = 1000;
const THROUGHPUT_S = pick(5, 2);
// CPU and RSS: one run of each proxy at this rate per round.
const CPU_RATE = 1000;
const CPU_S = pick(6, 2);
const CPU_WARMUP_S = pick(1, 0.5);
const THROUGHPUT_CONNECTIONS = 64;
// The proxy on a core of its own: one rate, the same rounds and slices.
const OWN_CORE_RATE = 1000;
const OWN_CORE_WARMUP_S = pick(2, 1);
// The machine's stalls: slices of every subject in turn at this rate, with a canary on each CPU
// (at most STALL_CPUS) waking every STALL_PERIOD_US and noting a wake-up later than
// STALL_THRESHOLD_US; a request is slow past STALL_SLOW_MS.
const STALL_RATE = 1000;
const STALL_SLICES = pick(8, 2);
const STALL_PERIOD_US = 1000;
const STALL_THRESHOLD_US = 100;
const STALL_SLOW_MS = 0.5;
const STALL_CPUS = 8;
// The requests' windows moved by this much (wrapped round within the pass) say what chance gives.
const STALL_SHIFT_MS = 437;

const upstream = await startUpstream();
const hostPort = upstream.url.slice("http://".length);
const dir = mkdtempSync(join(tmpdir(), "tandem-bench-hop-"));
const stops = [upstream.stop];
const skipped = {};
// The load generator: the native one, which brings no collector, compiler or HTTP client of its own
// into what it measures; the undici one on a machine without a C compiler, said in the results.
let generate = runNativeOpenLoop;
let generator = "native";
try {
  nativeOpenLoop();
} catch (error) {
  // No compiler, or one that cannot build it: the scenario runs all the same, and says so.
  generate = runOpenLoop;
  generator = "undici";
  skipped["the load generator in C"] = `${error.message}; the undici generator measured instead`;
  console.log(`native open-loop generator not built (${error.message}): the undici generator measures instead`);
}
try {
  writeFileSync(join(dir, "tandem.yaml"), `upstreams:\n  upstream:\n    endpoints: [${upstream.url}]\n`);
  const sidecar = await startSidecar({ config: join(dir, "tandem.yaml"), env: { TANDEM_LOG_LEVEL: "warn" } });
  stops.push(() => sidecar.stop());
  const subjects = {
    direct: { origin: upstream.url, path: "/", headers: {}, pids: [] },
    "tandem sidecar": {
      origin: sidecar.api,
      path: "http://upstream/",
      headers: { "proxy-authorization": `Bearer ${sidecar.token}` },
      pids: [sidecar.pid],
    },
  };
  const bare = await startNodeProxy(upstream.url);
  stops.push(bare.stop);
  subjects[NODE_PROXY] = { origin: bare.url, path: "/", headers: {}, pids: bare.pids };
  const sockets = await startNodeProxy(upstream.url, { kind: "socket" });
  stops.push(sockets.stop);
  subjects[SOCKETS] = { origin: sockets.url, path: "/", headers: {}, pids: sockets.pids };
  for (const [name, start] of [
    ["nginx", startNginx],
    ["HAProxy", startHaproxy],
  ]) {
    try {
      const proxy = await start({ upstream: hostPort });
      stops.push(proxy.stop);
      subjects[name] = { origin: proxy.url, path: "/", headers: {}, pids: proxy.pids };
    } catch (error) {
      if (!(error instanceof ToolMissingError)) throw error;
      skipped[name] = error.message;
      console.log(`${name}: ${error.message}`);
    }
  }
  const names = Object.keys(subjects);

  const warmUp = async (rate, durationS) => {
    for (const name of names) {
      const s = subjects[name];
      await generate({ origin: s.origin, path: s.path, headers: s.headers, rate, durationS });
    }
  };
  await warmUp(FIRST_WARMUP_RATE, FIRST_WARMUP_S);

  /** One slice of `name` at `rate`: `SLICE_S` s measured after `SLICE_WARMUP_S` s not recorded. */
  const runSlice = (name, rate, options = {}) => {
    const s = subjects[name];
    return generate({
      origin: s.origin,
      path: s.path,
      headers: s.headers,
      rate,
      durationS: SLICE_S,
      warmupS: SLICE_WARMUP_S,
      ...options,
    });
  };

  /** `ROUNDS` rounds at `rate`, each of `SLICES` slices of every subject in turn: each subject's rounds. */
  const measureRounds = async (rate, label) => {
    const rounds = Object.fromEntries(names.map((n) => [n, []]));
    for (let r = 0; r < ROUNDS; r++) {
      const round = Object.fromEntries(names.map((n) => [n, newRound()]));
      for (let k = 0; k < SLICES; k++) {
        const turn = r * SLICES + k;
        for (const name of rotated(names, turn)) {
          addSlice(round[name], await runSlice(name, rate));
        }
      }
      for (const name of names) {
        const x = roundResult(round[name]);
        rounds[name].push(x);
        console.log(
          `${label} round ${r + 1}/${ROUNDS} ${name}: p50 ${x.p50} ms p99 ${x.p99} ms, ${x.ok} ok, ${x.errors} errors`,
        );
      }
    }
    return rounds;
  };

  /**
   * `STALL_SLICES` slices of every subject in turn at `STALL_RATE`, a canary on each CPU meanwhile:
   * per subject its percentiles and how many of its slow requests were in flight during a stall;
   * per CPU how often, and for how long, its canary was kept waiting.
   */
  const measureStalls = async () => {
    const cpus = allowedCpus().slice(0, STALL_CPUS);
    if (cpus.length === 0) throw new StallsNotMeasured("no CPU list to put the canaries on (/proc/self/status)");
    let canaries;
    try {
      canaries = await startCanaries(cpus, { periodUs: STALL_PERIOD_US, thresholdUs: STALL_THRESHOLD_US, maxS: 900 });
    } catch (error) {
      throw new StallsNotMeasured(
        error instanceof CanaryUnavailableError ? `the canary cannot run: ${error.message}` : error.message,
      );
    }
    const round = Object.fromEntries(names.map((n) => [n, newRound()]));
    const windows = Object.fromEntries(names.map((n) => [n, []]));
    const started = performance.now();
    try {
      for (let k = 0; k < STALL_SLICES; k++) {
        for (const name of rotated(names, k)) {
          const run = await runSlice(name, STALL_RATE, { windows: true });
          addSlice(round[name], run);
          windows[name].push(...run.windows);
        }
      }
    } catch (error) {
      // The subject's failure is the one to report; the canaries only need to stop.
      await canaries.stop().catch(() => {});
      throw error;
    }
    let seen;
    try {
      seen = await canaries.stop();
    } catch (error) {
      throw new StallsNotMeasured(error.message);
    }
    const seconds = (performance.now() - started) / 1000;
    const all = stalls(seen);
    const subjectsSeen = {};
    for (const name of names) {
      const x = roundResult(round[name]);
      const overlap = stallOverlap(Float64Array.from(windows[name]), all, {
        slowNs: STALL_SLOW_MS * 1e6,
        shiftNs: STALL_SHIFT_MS * 1e6,
      });
      subjectsSeen[name] = { p50: x.p50, p99: x.p99, errors: x.errors, ...overlap };
      console.log(
        `stalls ${name}: p99 ${x.p99} ms, ${overlap.slow} of ${overlap.requests} over ${STALL_SLOW_MS} ms, ${overlap.inStall} during a stall (${overlap.byChance} by chance)`,
      );
    }
    const cpusSeen = seen.map((c) => {
      let stalledNs = 0;
      for (let i = 0; i < c.stalls.length; i += 2) stalledNs += c.stalls[i + 1] - c.stalls[i];
      return {
        cpu: c.cpu,
        wakes: c.wakes,
        lateUs: c.lateUs,
        stallsPerS: c.stalls.length / 2 / seconds,
        stalledMsPerS: stalledNs / 1e6 / seconds,
      };
    });
    for (const c of cpusSeen)
      console.log(
        `stalls CPU ${c.cpu}: ${c.stallsPerS.toFixed(1)} a second over ${STALL_THRESHOLD_US} µs, ${c.stalledMsPerS.toFixed(2)} ms a second`,
      );
    return { seconds, subjects: subjectsSeen, cpus: cpusSeen };
  };

  // Added latency at fixed rates.
  const latency = {};
  for (const rate of RATES) {
    await warmUp(rate, WARMUP_S);
    latency[rate] = await measureRounds(rate, `${rate} req/s`);
  }

  // The machine's own stalls, beside each subject's slow requests. Not with the undici generator,
  // whose own pauses would be in every slow request, and which gives no request's times.
  let stallPart;
  if (generator !== "native") {
    skipped.stalls = "needs the load generator in C, which gives each request's times";
  } else {
    try {
      stallPart = await measureStalls();
    } catch (error) {
      // The canaries' failures lose this part only; a subject's failure is the run's.
      if (!(error instanceof StallsNotMeasured)) throw error;
      skipped.stalls = error.message;
      console.log(`the machine's stalls, not measured: ${error.message}`);
    }
  }

  // CPU and RSS at 1000 req/s: runs of one proxy at a time, long enough that a run's start (a new
  // generator's connections, caches gone cold while the others ran) counts for little.
  const proxies = names.filter((n) => subjects[n].pids.length > 0);
  const cpu = Object.fromEntries(proxies.map((n) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of rotated(proxies, r)) {
      const s = subjects[name];
      const before = processStats(s.pids);
      const run = await generate({
        origin: s.origin,
        path: s.path,
        headers: s.headers,
        rate: CPU_RATE,
        durationS: CPU_S,
        warmupS: CPU_WARMUP_S,
      });
      const after = processStats(s.pids);
      const cpuSeconds = after.cpuSeconds - before.cpuSeconds;
      // CPU seconds per request served, the warm-up's included.
      const perRequest = cpuSeconds / (run.sent + run.warmupSent);
      cpu[name].push({
        cpuSeconds,
        // CPU seconds per 1000 requests: the share of one core it takes to serve 1000 req/s.
        vcpuPer1000: perRequest * 1000,
        rssMB: after.rssBytes / 2 ** 20,
        rssAnonMB: after.rssAnonBytes / 2 ** 20,
        errors: run.errors,
      });
      console.log(`CPU round ${r + 1}/${ROUNDS} ${name}: ${(perRequest * 1e6).toFixed(0)} µs per request`);
    }
  }

  const added = {};
  for (const rate of RATES) added[rate] = addedOver(latency[rate]);

  // Max throughput, closed loop.
  const throughput = Object.fromEntries(names.map((n) => [n, []]));
  const cannon = (s, seconds) =>
    autocannon({
      url: s.origin,
      connections: THROUGHPUT_CONNECTIONS,
      duration: seconds,
      requests: [{ method: "GET", path: s.path, headers: s.headers }],
    });
  for (const name of names) await cannon(subjects[name], 1);
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of names) {
      const res = await cannon(subjects[name], THROUGHPUT_S);
      const ok = res["2xx"];
      throughput[name].push({
        rps: ok / THROUGHPUT_S,
        non2xx: res.non2xx,
        errors: res.errors,
        timeouts: res.timeouts,
        p99: res.latency.p99,
      });
      console.log(`max throughput round ${r + 1}/${ROUNDS} ${name}: ${Math.round(ok / THROUGHPUT_S)} req/s`);
      await sleep(200);
    }
  }

  // The proxy on a core of its own, last, so that no other part runs with the cores held.
  // A failure to hold the processes to their cores loses this part only, never the run's results.
  let ownCore;
  const proxyPids = names.flatMap((n) => subjects[n].pids);
  const cores = ownCoreCores([process.pid, ...upstream.pids, ...proxyPids]);
  if (typeof cores === "string") {
    skipped.ownCore = cores;
    console.log(`proxy on a core of its own, not measured: ${cores}`);
  } else {
    try {
      // The generator (a child of this process, started per run) and the upstream on one core,
      // every proxy on the other.
      for (const pid of [process.pid, ...upstream.pids]) holdTo(pid, cores.others);
      for (const pid of proxyPids) holdTo(pid, cores.proxy);
      await warmUp(OWN_CORE_RATE, OWN_CORE_WARMUP_S);
      const rounds = await measureRounds(OWN_CORE_RATE, `${OWN_CORE_RATE} req/s, proxy on its own core,`);
      ownCore = { latency: rounds, added: addedOver(rounds) };
    } catch (error) {
      if (!(error instanceof AffinityError)) throw error;
      skipped.ownCore = error.message;
      console.log(`proxy on a core of its own, not measured: ${error.message}`);
    } finally {
      // Each process back to the CPUs it had.
      for (const [pid, cpus] of cores.original) {
        try {
          holdTo(pid, cpus);
        } catch (error) {
          console.warn(`could not give process ${pid} its CPUs (${cpus}) back: ${error.message}`);
        }
      }
    }
  }

  const summary = {
    latency: Object.fromEntries(
      RATES.map((rate) => [rate, Object.fromEntries(names.map((n) => [n, summarizeRounds(latency[rate][n])]))]),
    ),
    added: Object.fromEntries(RATES.map((rate) => [rate, addedSummary(added[rate])])),
    throughput: Object.fromEntries(names.map((n) => [n, summarizeRounds(throughput[n].map((t) => t.rps))])),
    cpu: Object.fromEntries(proxies.map((n) => [n, summarizeRounds(cpu[n])])),
    ...(stallPart === undefined ? {} : { stalls: stallPart }),
    ...(ownCore === undefined
      ? {}
      : {
          ownCore: {
            rate: OWN_CORE_RATE,
            latency: Object.fromEntries(names.map((n) => [n, summarizeRounds(ownCore.latency[n])])),
            added: addedSummary(ownCore.added),
          },
        }),
  };
  const file = writeResult("sidecar-hop", {
    method: {
      upstream: upstream.kind,
      rates: RATES,
      rounds: ROUNDS,
      roundSeconds: SLICES * SLICE_S,
      slices: SLICES,
      sliceSeconds: SLICE_S,
      sliceWarmupSeconds: SLICE_WARMUP_S,
      warmupSeconds: WARMUP_S,
      firstWarmupSeconds: FIRST_WARMUP_S,
      firstWarmupRate: FIRST_WARMUP_RATE,
      throughputSeconds: THROUGHPUT_S,
      cpuRate: CPU_RATE,
      cpuSeconds: CPU_S,
      cpuWarmupSeconds: CPU_WARMUP_S,
      throughputConnections: THROUGHPUT_CONNECTIONS,
      tandem:
        "tandem sidecar, forward proxy on its API listener, token in Proxy-Authorization, upstream with default policies",
      nginx: "nginx, 1 worker, proxy_pass to an upstream block with keepalive 64, HTTP/1.1",
      haproxy: "HAProxy, nbthread 1, http-reuse always, option http-keep-alive",
      nodeProxy:
        "node:http server and one undici Pool (keep-alive), answer streamed back, nothing else: the floor of a hop in Node",
      sockets:
        "a Node process moving bytes between a socket in and a kept-alive socket out, reading only the request head's end and the answer's Content-Length: the floor of any Node process on the path, not a proxy",
      generator:
        generator === "native"
          ? "open loop in C (bench/lib/open-loop.c), a process of its own, 32 keep-alive connections, latency from the scheduled send time"
          : "open loop on undici in a child process, 32 keep-alive connections, latency from the scheduled send time",
      generatorKind: generator,
      cpu: CPU_CLOCK,
      ownCore: {
        rate: OWN_CORE_RATE,
        warmupSeconds: OWN_CORE_WARMUP_S,
        cores: "the load generator and the upstream held to CPU 0 and each proxy to CPU 1 (`taskset`)",
      },
      stalls: {
        rate: STALL_RATE,
        slices: STALL_SLICES,
        sliceSeconds: SLICE_S,
        slowMs: STALL_SLOW_MS,
        periodUs: STALL_PERIOD_US,
        thresholdUs: STALL_THRESHOLD_US,
        shiftMs: STALL_SHIFT_MS,
        canary:
          "bench/lib/canary.c: a SCHED_FIFO thread held to one CPU, waking every periodUs on an absolute deadline; a wake-up later than thresholdUs is a stall from its deadline to when it ran",
      },
    },
    baseline: "direct",
    skipped,
    peers: { daprVcpuPer1000: 0.48, istioVcpuPer1000: 0.35 },
    targets: { addedP99MsAt1000: 0.5, maxRatioToNginxAdded: 2 },
    rounds: { latency, added, throughput, cpu, ...(ownCore === undefined ? {} : { ownCore }) },
    summary,
  });
  for (const rate of RATES) {
    console.table(
      Object.fromEntries(
        names.map((n) => [
          n,
          {
            p50: summary.latency[rate][n].p50.median,
            p99: summary.latency[rate][n].p99.median,
            "added p99": summary.added[rate][n]?.p99.median,
            "vCPU/1000": summary.cpu[n]?.vcpuPer1000?.median,
            rssMB: summary.cpu[n]?.rssMB?.median,
          },
        ]),
      ),
    );
  }
  console.log(`wrote ${file}${QUICK ? " (quick mode)" : ""}`);
} finally {
  for (const stop of stops.reverse()) await stop();
  rmSync(dir, { recursive: true, force: true });
}

/** Each subject's added latency: its rounds' percentiles minus the direct call's of the same round. */
function addedOver(latency) {
  const added = {};
  for (const name of Object.keys(latency)) {
    if (name === "direct") continue;
    const rounds = latency[name].map((x, i) => ({
      p50: x.p50 - latency.direct[i].p50,
      p99: x.p99 - latency.direct[i].p99,
    }));
    added[name] = { rounds, ...summarizeRounds(rounds) };
  }
  return added;
}

/** `addedOver`'s summaries without the rounds, for the result's `summary`. */
function addedSummary(added) {
  return Object.fromEntries(Object.entries(added).map(([n, a]) => [n, { p50: a.p50, p99: a.p99 }]));
}

/**
 * The cores to hold the processes to, the first two this process may run on (the rest's and the
 * proxy's), and the CPUs each of `pids` has now, to give back; or why the part is not measured
 * (no `taskset`, fewer than two CPUs).
 */
function ownCoreCores(pids) {
  const original = new Map();
  for (const pid of pids) {
    const shown = spawnSync("taskset", ["-p", "-c", String(pid)], { encoding: "utf8" });
    if (shown.error !== undefined) return "taskset (util-linux) is not installed";
    if (shown.status !== 0) return `taskset could not read the CPUs of process ${pid}: ${shown.stderr.trim()}`;
    // "pid 42's current affinity list: 0,1"
    original.set(pid, shown.stdout.trim().split(": ").pop());
  }
  const cpus = cpuList(original.get(process.pid) ?? "");
  if (cpus.length < 2) return `${cpus.length} CPU to run on, where two are needed to give the proxy one of its own`;
  return { others: String(cpus[0]), proxy: String(cpus[1]), original };
}

/** Holds every thread of `pid` to `cpus` (a taskset list); an `AffinityError` in taskset's words when it cannot. */
function holdTo(pid, cpus) {
  const done = spawnSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { encoding: "utf8" });
  if (done.status !== 0)
    throw new AffinityError(
      `taskset -a -p -c ${cpus} ${pid} failed (${done.status}): ${done.stderr?.trim() || done.error}`,
    );
}

/** One subject's part of a round: its slices' latencies in one histogram, and their counts. */
function newRound() {
  return {
    histogram: createLatencyHistogram(),
    completed: 0,
    elapsedS: 0,
    ok: 0,
    errors: 0,
    statusCodes: {},
    errorCodes: {},
  };
}

function addSlice(round, run) {
  round.histogram.add(decodeHistogram(run.histogram));
  // A subject that falls behind takes longer than the slice to answer it: its achieved rate is lower.
  round.completed += run.completed;
  round.elapsedS += run.achievedRate > 0 ? run.completed / run.achievedRate : SLICE_S;
  round.ok += run.ok;
  round.errors += run.errors;
  for (const [code, n] of Object.entries(run.statusCodes)) round.statusCodes[code] = (round.statusCodes[code] ?? 0) + n;
  for (const [code, n] of Object.entries(run.errorCodes)) round.errorCodes[code] = (round.errorCodes[code] ?? 0) + n;
}

function roundResult(round) {
  const l = histogramSummary(round.histogram);
  return {
    p50: l.p50,
    p90: l.p90,
    p99: l.p99,
    p999: l.p999,
    max: l.max,
    achievedRate: Math.round((round.completed / round.elapsedS) * 10) / 10,
    ok: round.ok,
    errors: round.errors,
    statusCodes: round.statusCodes,
    errorCodes: round.errorCodes,
  };
}

/** `list` from its `by`-th item on, then its first ones: each subject goes first in turn. */
function rotated(list, by) {
  return list.map((_, i) => list[(i + by) % list.length]);
}
