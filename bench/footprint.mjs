// Scenario 5, the sidecar's footprint: resident memory (VmRSS) idle, under 1000 req/s through its
// forward proxy, and over a long run at that rate (does it grow?), plus the time from spawning
// the process to its ready message. Each RSS is split into the process's own (anonymous) memory
// and the pages of the node binary and libraries mapped from disk; next to each idle sidecar, a
// bare Node process (a node:http server and nothing else) gives the floor any Node sidecar starts
// from. The last one is also watched idle: its CPU time and how often its main thread wakes up.
// Writes bench/results/footprint.json.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSidecar } from "@tandem/testkit";
import { runOpenLoop } from "./lib/open-loop.mjs";
import { BARE_NODE_SOURCE, processStats, startBareNode, startUpstream } from "./lib/proxies.mjs";
import { pick, QUICK, sleep, summarize, writeResult } from "./lib/stats.mjs";

const STARTS = pick(5, 2);
const IDLE_SETTLE_S = pick(10, 2);
const IDLE_WATCH_S = pick(30, 3);
const RATE = 1000;
const WARMUP_S = pick(10, 2);
const LONG_S = pick(300, 15);
const SAMPLE_EVERY_S = pick(5, 1);
const UNDER_LOAD_AT_S = pick(30, 3);

const MB = 2 ** 20;

/** Times the main thread of `pid` went to sleep (its voluntary context switches), from /proc. */
function mainThreadSleeps(pid) {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, "utf8");
  return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)?.[1]);
}

/** CPU time of all threads of `pid` in ms (the scheduler's nanoseconds, not 10 ms ticks). */
function cpuMs(pid) {
  return processStats([pid]).cpuSeconds * 1000;
}

/** A process's resident memory in MB: in all, anonymous (its own), and mapped from files. */
function memory(pid) {
  const s = processStats([pid]);
  return { rssMB: s.rssBytes / MB, anonMB: s.rssAnonBytes / MB, fileMB: s.rssFileBytes / MB };
}

const upstream = await startUpstream();
const dir = mkdtempSync(join(tmpdir(), "tandem-bench-footprint-"));
const config = join(dir, "tandem.yaml");
writeFileSync(config, `upstreams:\n  upstream:\n    endpoints: [${upstream.url}]\n`);
const start = () => startSidecar({ config, env: { TANDEM_LOG_LEVEL: "warn" } });
let sidecar;
try {
  // Startup to ready, and idle memory once settled, over several fresh processes.
  const starts = [];
  for (let i = 0; i < STARTS; i++) {
    const t0 = performance.now();
    sidecar = await start();
    const readyMs = performance.now() - t0;
    const atReady = processStats([sidecar.pid]).rssBytes / MB;
    const bare = await startBareNode();
    let idle;
    let floor;
    try {
      await sleep(IDLE_SETTLE_S * 1000);
      idle = memory(sidecar.pid);
      floor = memory(bare.pid);
    } finally {
      await bare.stop();
    }
    starts.push({
      readyMs,
      rssAtReadyMB: atReady,
      idleRssMB: idle.rssMB,
      idleAnonMB: idle.anonMB,
      idleFileMB: idle.fileMB,
      bareNodeRssMB: floor.rssMB,
      bareNodeAnonMB: floor.anonMB,
      bareNodeFileMB: floor.fileMB,
    });
    console.log(
      `start ${i + 1}/${STARTS}: ready in ${readyMs.toFixed(0)} ms, RSS ${atReady.toFixed(1)} MB, idle ${idle.rssMB.toFixed(1)} MB (${idle.anonMB.toFixed(1)} anonymous); bare Node ${floor.rssMB.toFixed(1)} MB (${floor.anonMB.toFixed(1)} anonymous)`,
    );
    if (i < STARTS - 1) {
      await sidecar.stop();
      sidecar = undefined;
    }
  }

  // The last one, still idle: CPU time and main-thread wake-ups (each sleep ends in one).
  const idleCpuBefore = cpuMs(sidecar.pid);
  const sleepsBefore = mainThreadSleeps(sidecar.pid);
  await sleep(IDLE_WATCH_S * 1000);
  const idle = {
    seconds: IDLE_WATCH_S,
    cpuMsPerSecond: (cpuMs(sidecar.pid) - idleCpuBefore) / IDLE_WATCH_S,
    wakeupsPerSecond: (mainThreadSleeps(sidecar.pid) - sleepsBefore) / IDLE_WATCH_S,
    // Read again at the end: V8's memory reducer may take a second round some seconds after the first.
    afterS: IDLE_SETTLE_S + IDLE_WATCH_S,
    ...memory(sidecar.pid),
  };
  console.log(
    `idle for ${IDLE_WATCH_S} s: ${idle.cpuMsPerSecond.toFixed(2)} ms of CPU and ${idle.wakeupsPerSecond.toFixed(1)} main-thread wake-ups a second; RSS ${idle.rssMB.toFixed(1)} MB (${idle.anonMB.toFixed(1)} anonymous)`,
  );

  // The last one serves 1000 req/s: a warm-up, then the long run with RSS sampled as it goes.
  const target = {
    origin: sidecar.api,
    path: "http://upstream/",
    headers: { "proxy-authorization": `Bearer ${sidecar.token}` },
    rate: RATE,
  };
  await runOpenLoop({ ...target, durationS: WARMUP_S });
  const samples = [];
  const cpuBefore = processStats([sidecar.pid]).cpuSeconds;
  const t0 = performance.now();
  const sample = () => {
    samples.push({ t: Math.round((performance.now() - t0) / 100) / 10, ...memory(sidecar.pid) });
  };
  sample();
  const timer = setInterval(sample, SAMPLE_EVERY_S * 1000);
  let run;
  try {
    run = await runOpenLoop({ ...target, durationS: LONG_S });
  } finally {
    clearInterval(timer);
  }
  sample();
  const cpuSeconds = processStats([sidecar.pid]).cpuSeconds - cpuBefore;
  const elapsedS = (performance.now() - t0) / 1000;
  const at = (s) => samples.reduce((best, x) => (Math.abs(x.t - s) < Math.abs(best.t - s) ? x : best), samples[0]);
  const underLoad = at(UNDER_LOAD_AT_S);
  const end = samples.at(-1);
  const afterFirstFifth = at(LONG_S / 5);
  const peak = Math.max(...samples.map((s) => s.rssMB));
  const load = {
    rate: RATE,
    seconds: LONG_S,
    ok: run.ok,
    errors: run.errors,
    statusCodes: run.statusCodes,
    errorCodes: run.errorCodes,
    latency: run.latency,
    cpuSeconds,
    vcpu: cpuSeconds / elapsedS,
    underLoadAtS: underLoad.t,
    underLoadRssMB: underLoad.rssMB,
    underLoadAnonMB: underLoad.anonMB,
    endRssMB: end.rssMB,
    endAnonMB: end.anonMB,
    peakRssMB: peak,
    // Growth over the last four fifths of the run, when the process has long been warm.
    growthMB: end.rssMB - afterFirstFifth.rssMB,
    growthFromS: afterFirstFifth.t,
    samples,
  };
  console.log(
    `at ${RATE} req/s: RSS ${underLoad.rssMB.toFixed(1)} MB after ${underLoad.t} s, ${end.rssMB.toFixed(1)} MB after ${end.t} s (peak ${peak.toFixed(1)}), ${run.ok} ok, ${run.errors} errors, p99 ${run.latency.p99} ms`,
  );
  const summary = {
    readyMs: summarize(starts.map((s) => s.readyMs)),
    rssAtReadyMB: summarize(starts.map((s) => s.rssAtReadyMB)),
    idleRssMB: summarize(starts.map((s) => s.idleRssMB)),
    idleAnonMB: summarize(starts.map((s) => s.idleAnonMB)),
    idleFileMB: summarize(starts.map((s) => s.idleFileMB)),
    bareNodeRssMB: summarize(starts.map((s) => s.bareNodeRssMB)),
    bareNodeAnonMB: summarize(starts.map((s) => s.bareNodeAnonMB)),
    bareNodeFileMB: summarize(starts.map((s) => s.bareNodeFileMB)),
    idleCpuMsPerSecond: idle.cpuMsPerSecond,
    idleWakeupsPerSecond: idle.wakeupsPerSecond,
    idleLaterRssMB: idle.rssMB,
    idleLaterAnonMB: idle.anonMB,
    underLoadRssMB: load.underLoadRssMB,
    underLoadAnonMB: load.underLoadAnonMB,
    endRssMB: load.endRssMB,
    endAnonMB: load.endAnonMB,
    peakRssMB: load.peakRssMB,
    growthMB: load.growthMB,
  };
  const file = writeResult("footprint", {
    method: {
      upstream: upstream.kind,
      starts: STARTS,
      idleSettleSeconds: IDLE_SETTLE_S,
      idleWatchSeconds: IDLE_WATCH_S,
      rate: RATE,
      warmupSeconds: WARMUP_S,
      longRunSeconds: LONG_S,
      sampleEverySeconds: SAMPLE_EVERY_S,
      underLoadAtSeconds: UNDER_LOAD_AT_S,
      sidecar: "tandem sidecar with one upstream (default policies), requests through its forward proxy",
      bareNode: `the same node binary running \`${BARE_NODE_SOURCE}\``,
    },
    targets: { idleRssMB: 60, underLoadRssMB: 100 },
    starts,
    idle,
    load,
    summary,
  });
  console.log(`wrote ${file}${QUICK ? " (quick mode)" : ""}`);
} finally {
  if (sidecar !== undefined) await sidecar.stop();
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
}
