// Soak: a fixed-rate load through the sidecar's forward proxy while faults toggle on a schedule
// (an instance answering 503, one stalling past the attempt timeout, connection resets, a good
// config reload and a rejected one), with a small sidecar-mode app using metrics, flags, config
// and rt.http at a low rate. Every second the sidecar's RSS, open fds and reported handles are
// sampled; the slopes over the second half of the run, and the fds after the load, must show no
// leak, and every failure must be one a fault explains.
//
// CI form: 60 s. `TANDEM_SOAK=long` (pnpm test:soak): 10 min. TANDEM_SOAK_SECONDS and
// TANDEM_SOAK_RATE override the duration and the rate for local runs;
// TANDEM_SOAK_SIDECAR_NODE_OPTIONS is the sidecar's NODE_OPTIONS (e.g. --max-old-space-size=96, to
// soak it with the heap a container would give it). The summary is written to
// test/reliability/results/soak-<seconds>s.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Fault, StartedSidecar } from "@tandem/testkit";
import { ConfigMapFixture, eventually, sidecarRuntime, startSidecar } from "@tandem/testkit";
import type { Runtime } from "tandem";
import { afterAll, expect, it } from "vitest";
import { positiveNumber } from "./support/env.js";
import {
  classify,
  cpuMs,
  type Failure,
  type FaultWindow,
  type Load,
  metricSum,
  type ProcSample,
  sampleProc,
  slope,
  startLoad,
  startUpstreamHost,
  type UpstreamHost,
} from "./support/soak.js";

const LONG = process.env.TANDEM_SOAK === "long";
const SECONDS = positiveNumber("TANDEM_SOAK_SECONDS", LONG ? 600 : 60);
// 1000 req/s is the figure; the CI form runs at half of it, which leaves the generator,
// the sidecar and the upstreams headroom on a shared 2-core runner (see the report in the docs).
const RATE = positiveNumber("TANDEM_SOAK_RATE", LONG ? 1000 : 500);
const DURATION_MS = SECONDS * 1000;
const SIDECAR_NODE_OPTIONS = process.env.TANDEM_SOAK_SIDECAR_NODE_OPTIONS;
/**
 * Bounds a leak would break. Over ten minutes, slopes (per minute, over the second half of the
 * load): V8 has long settled by then. Within a minute V8 is still growing its heap (RSS rises
 * 30-90 MB/min with no leak, the heap floor with it), so a slope says nothing there: the short
 * form bounds the peak instead (a gross leak, ~10 kB kept per request, passes 400 MB at 500 req/s),
 * and descriptors and handles must come back to where they started.
 */
const BOUNDS: { fdsPerMin: number; rssMbPerMin?: number; rssPeakMb?: number; heapFloorMbPerMin?: number } =
  SECONDS >= 600 ? { fdsPerMin: 10, rssMbPerMin: 3, heapFloorMbPerMin: 5 } : { fdsPerMin: 120, rssPeakMb: 400 };
const STEP_MS = 10_000;
const INSTANCES = 3;
const ATTEMPT_MS = 500;
const STALL_MS = 2000;
/** An answer on its way when a fault went off may still carry it. */
const GRACE_MS = 1000;

// What each fault may surface through the pipeline: the upstream's own 503 once retries are
// spent or refused by the budget, a timeout of the stalled instance, a reset reported as
// upstream_error, and the guards' refusals while an instance misbehaves.
const GUARDS = ["tandem:retry_budget_exhausted", "tandem:circuit_open"];
const ALLOWED: Record<string, string[]> = {
  "503": ["http:503", ...GUARDS],
  stall: ["tandem:timeout", ...GUARDS],
  reset: ["tandem:upstream_error", ...GUARDS],
};

type Phase = "healthy" | "503" | "reload" | "stall" | "bad-reload" | "reset";
const PHASES: readonly Phase[] = ["healthy", "503", "reload", "stall", "bad-reload", "reset"];
const FAULTS: Partial<Record<Phase, { index: number; fault: Fault }>> = {
  "503": { index: 0, fault: { rate: 1, status: 503 } },
  stall: { index: 1, fault: { latencyMs: STALL_MS } },
  reset: { index: 2, fault: { rate: 0.5, reset: true } },
};

function config(urls: readonly string[], reload: number): string {
  return `service: soak
flags: { source: flags.json }
app: { reload: ${reload} }
upstreams:
  backend:
    endpoints: [${urls.join(", ")}]
    loadBalancer: least-request
    timeout: { attempt: ${ATTEMPT_MS}ms, total: ${reload % 2 === 0 ? "3s" : "4s"} }
    retry: { attempts: 3, on: [connect-error, reset, timeout, 502, 503, 504] }
    circuitBreaker: { failureRatio: 0.5, minThroughput: 20, breakFor: 5s }
    outlierDetection: { consecutive5xx: 5, baseEjection: 5s }
`;
}

function flags(on: boolean): string {
  return JSON.stringify({
    flags: { "soak-flag": { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: on ? "on" : "off" } },
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 2) => Number(n.toFixed(digits));

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
});

/** The app side: metrics, flags and config every 200 ms, and an rt.http request every second. */
function runApp(rt: Runtime, failures: Failure[]) {
  const ticks = rt.metrics.counter("soak_app_ticks_total", { help: "Soak app ticks." });
  const work = rt.metrics.histogram("soak_app_work_seconds", { help: "Soak app work." });
  const state = { ticks: 0, requests: 0, ok: 0, flagErrors: 0, lastFlag: undefined as boolean | undefined };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = Date.now();
      state.ticks++;
      ticks.inc();
      work.observe({}, Math.random() / 100);
      const details = await rt.flags.getBooleanDetails("soak-flag", false);
      if (details.reason === "ERROR") state.flagErrors++;
      else state.lastFlag = details.value;
      if (state.ticks % 5 === 0) {
        state.requests++;
        const start = Date.now();
        try {
          const res = await rt.http.request("backend", { path: "/app" });
          await res.body.dump();
          if (res.statusCode < 300) state.ok++;
          else failures.push([start, Date.now(), `http:${res.statusCode}`]);
        } catch (error) {
          const code = (error as { code?: string }).code ?? (error as Error).name;
          failures.push([start, Date.now(), `tandem:${code}`]);
        }
      }
      await sleep(Math.max(0, 200 - (Date.now() - started)));
    }
  })();
  return {
    state,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** The handles and heap the sidecar reports on its admin /metrics; nothing when it does not answer in 2 s. */
async function scrape(sidecar: StartedSidecar): Promise<Pick<ProcSample, "handles" | "heapMb">> {
  try {
    const res = await fetch(`${sidecar.admin}/metrics`, { signal: AbortSignal.timeout(2000) });
    const text = await res.text();
    const handles = metricSum(text, "nodejs_active_handles");
    const heap = metricSum(text, "nodejs_heap_size_used_bytes");
    return {
      ...(handles === undefined ? {} : { handles }),
      ...(heap === undefined ? {} : { heapMb: heap / 2 ** 20 }),
    };
  } catch {
    return {};
  }
}

it(`soak: ${RATE} req/s through the sidecar for ${SECONDS} s with faults toggling`, {
  timeout: DURATION_MS + 180_000,
}, async () => {
  const upstreams: UpstreamHost = await startUpstreamHost(INSTANCES);
  cleanups.push(() => upstreams.close());
  const fixture = new ConfigMapFixture();
  cleanups.push(() => fixture.remove());
  let reload = 1;
  let flagOn = false;
  fixture.swap({ "tandem.yaml": config(upstreams.urls, reload), "flags.json": flags(flagOn) });
  const sidecar = await startSidecar({
    config: fixture.path("tandem.yaml"),
    ...(SIDECAR_NODE_OPTIONS === undefined ? {} : { env: { NODE_OPTIONS: SIDECAR_NODE_OPTIONS } }),
  });
  cleanups.push(() => sidecar.stop(5000));
  const rt = await sidecarRuntime(sidecar);
  cleanups.push(() => rt.close());

  const failures: Failure[] = [];
  const appFailures: Failure[] = [];
  const samples: ProcSample[] = [];
  const sample = async () => {
    const s = sampleProc(sidecar.pid);
    samples.push({ ...s, ...(await scrape(sidecar)) });
  };
  await sleep(1000);
  await sample();
  const baseline = samples[0] as ProcSample;

  const app = runApp(rt, appFailures);
  cleanups.push(() => app.stop());
  const load: Load = startLoad({
    origin: sidecar.api,
    ...(sidecar.token === undefined ? {} : { proxyAuthorization: `Bearer ${sidecar.token}` }),
    target: "http://backend/work",
    rate: RATE,
    durationMs: DURATION_MS,
    connections: 64,
    maxInFlight: 2000,
    timeoutMs: 15_000,
  });
  cleanups.push(() => load.child.kill("SIGKILL"));
  const loadStart = Date.now();

  // CPU of each process over the load, as the share of one core: [first, last] readings.
  const cpu: Record<string, { pid: number | undefined; first?: [number, number]; last?: [number, number] }> = {
    sidecar: { pid: sidecar.pid },
    generator: { pid: load.child.pid },
    upstreams: { pid: upstreams.child.pid },
  };
  const readCpu = () => {
    for (const entry of Object.values(cpu)) {
      if (entry.pid === undefined) continue;
      try {
        const reading: [number, number] = [Date.now(), cpuMs(entry.pid)];
        entry.first ??= reading;
        if (reading[0] <= loadStart + DURATION_MS) entry.last = reading;
      } catch {
        // The process has exited.
      }
    }
  };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const next = Date.now() + 1000;
      readCpu();
      await sample();
      await sleep(Math.max(0, next - Date.now()));
    }
  })();
  // On a failure, the sampler stops before the sidecar does (the clean-ups run last first).
  cleanups.push(() => {
    sampling = false;
    return sampler;
  });

  // The fault schedule: one phase every STEP_MS, cycling through PHASES, until the load ends.
  const windows: FaultWindow[] = [];
  const reloads = { applied: 0, rejected: 0 };
  let step = 0;
  let open: { window: FaultWindow; index: number } | undefined;
  while (Date.now() - loadStart < DURATION_MS - 1000) {
    const phase = PHASES[step % PHASES.length] as Phase;
    if (open !== undefined) {
      open.window.off = await upstreams.set(open.index, {});
      open = undefined;
    }
    const fault = FAULTS[phase];
    if (fault !== undefined) {
      const on = await upstreams.set(fault.index, fault.fault);
      const window: FaultWindow = { name: phase, on, off: Number.POSITIVE_INFINITY, allowed: ALLOWED[phase] ?? [] };
      windows.push(window);
      open = { window, index: fault.index };
    } else if (phase === "reload") {
      reload++;
      flagOn = !flagOn;
      fixture.swap({ "tandem.yaml": config(upstreams.urls, reload), "flags.json": flags(flagOn) });
      reloads.applied++;
    } else if (phase === "bad-reload") {
      // Valid YAML, but not a load balancer tandem has: refused, the last good config stays.
      fixture.swap({
        "tandem.yaml": config(upstreams.urls, reload + 1000).replace("least-request", "fastest"),
        "flags.json": flags(flagOn),
      });
      reloads.rejected++;
    }
    step++;
    await sleep(Math.max(0, loadStart + step * STEP_MS - Date.now()));
  }
  const summary = await load.done;
  if (open !== undefined) open.window.off = await upstreams.set(open.index, {});
  for (const failure of load.failures) failures.push(failure);
  await app.stop();
  // What the app counted reaches the pod's scrape (its runtime sends it about once a second).
  let appTicksScraped: number | undefined;
  await eventually(async () => {
    appTicksScraped = metricSum(await (await fetch(`${sidecar.admin}/metrics`)).text(), "soak_app_ticks_total");
    expect(appTicksScraped).toBe(app.state.ticks);
  }, 10_000).catch(() => undefined);

  // After the load: the upstreams close their connections; the sidecar's fds should come back.
  await upstreams.close();
  const settleUntil = Date.now() + 15_000;
  while (Date.now() < settleUntil) {
    await sleep(1000);
    const last = samples.at(-1) as ProcSample;
    if (last.fds <= baseline.fds + 2) break;
  }
  sampling = false;
  await sampler;
  await sample();
  const after = samples.at(-1) as ProcSample;

  const configState = (await (
    await fetch(`${sidecar.api}/v1/config`, { headers: { authorization: `Bearer ${sidecar.token}` } })
  ).json()) as { values: { app: { reload: number } }; reloads: { applied: number; rejected: number } };
  const metrics = await (await fetch(`${sidecar.admin}/metrics`)).text();
  const retries = Number(/^tandem_retries_total\{upstream="backend"\} (\d+)/m.exec(metrics)?.[1] ?? 0);

  // Slopes over the second half of the load (after warm-up), per minute.
  const loadEnd = summary.endedAt;
  const half = loadStart + (loadEnd - loadStart) / 2;
  const second = samples.filter((s) => s.at >= half && s.at <= loadEnd);
  const perMinute = (pick: (s: ProcSample) => number | undefined) =>
    slope(
      second.flatMap((s) => {
        const y = pick(s);
        return y === undefined ? [] : [[(s.at - half) / 60_000, y] as const];
      }),
    );
  const rssSlope = perMinute((s) => s.rssMb);
  const fdSlope = perMinute((s) => s.fds);
  const handleSlope = perMinute((s) => s.handles);
  // The heap's floor: its lowest reading in each 10 s of the second half, after the collections
  // of that stretch, which is what stays alive. A leak raises it; garbage does not.
  const floors: [number, number][] = [];
  for (let from = half; from < loadEnd; from += 10_000) {
    const heaps = second.filter((s) => s.at >= from && s.at < from + 10_000 && s.heapMb !== undefined);
    if (heaps.length > 0)
      floors.push([(from + 5000 - half) / 60_000, Math.min(...heaps.map((s) => s.heapMb as number))]);
  }
  const heapFloorSlope = slope(floors);
  const duringLoad = samples.filter((s) => s.at >= loadStart && s.at <= loadEnd);

  const all = [...failures, ...appFailures];
  const classified = classify(all, windows, GRACE_MS);
  const result = {
    seconds: SECONDS,
    sidecarNodeOptions: SIDECAR_NODE_OPTIONS ?? null,
    rate: { target: RATE, achieved: round(summary.sent / ((summary.endedAt - summary.startedAt) / 1000), 1) },
    requests: {
      due: summary.due,
      sent: summary.sent,
      ok: summary.ok,
      failed: summary.failed,
      skipped: summary.skipped,
      unfinished: summary.unfinished,
      peakInFlight: summary.peakInFlight,
    },
    app: { ...app.state, ticksScraped: appTicksScraped, httpFailures: appFailures.length },
    errors: { injected: classified.injected, unexplained: classified.unexplained, examples: classified.examples },
    faults: windows.map((w) => ({
      name: w.name,
      onAtS: round((w.on - loadStart) / 1000, 1),
      forS: round((w.off - w.on) / 1000, 1),
    })),
    reloads: { applied: reloads.applied, rejected: reloads.rejected, sidecar: configState.reloads },
    retries,
    cpuPercentOfOneCore: Object.fromEntries(
      Object.entries(cpu).map(([name, { first, last }]) => [
        name,
        first === undefined || last === undefined || last[0] === first[0]
          ? null
          : round(((last[1] - first[1]) / (last[0] - first[0])) * 100, 0),
      ]),
    ),
    rssMb: {
      start: round(baseline.rssMb, 1),
      peak: round(Math.max(...duringLoad.map((s) => s.rssMb)), 1),
      endOfLoad: round((second.at(-1) ?? after).rssMb, 1),
      after: round(after.rssMb, 1),
      slopePerMinSecondHalf: round(rssSlope),
    },
    fds: {
      start: baseline.fds,
      peak: Math.max(...duringLoad.map((s) => s.fds)),
      endOfLoad: (second.at(-1) ?? after).fds,
      after: after.fds,
      slopePerMinSecondHalf: round(fdSlope),
    },
    handles: {
      start: baseline.handles,
      endOfLoad: (second.at(-1) ?? after).handles,
      after: after.handles,
      slopePerMinSecondHalf: round(handleSlope),
    },
    heapMb: {
      start: round(baseline.heapMb ?? Number.NaN, 1),
      endOfLoad: round((second.at(-1) ?? after).heapMb ?? Number.NaN, 1),
      after: round(after.heapMb ?? Number.NaN, 1),
      slopePerMinSecondHalf: round(perMinute((s) => s.heapMb)),
      floors: floors.map(([, mb]) => round(mb, 1)),
      floorSlopePerMinSecondHalf: round(heapFloorSlope),
    },
    // [seconds since the load started, RSS MB, fds, handles, heap MB]
    samples: samples.map((s) => [
      round((s.at - loadStart) / 1000, 1),
      round(s.rssMb, 1),
      s.fds,
      s.handles ?? null,
      s.heapMb === undefined ? null : round(s.heapMb, 1),
    ]),
  };
  const dir = fileURLToPath(new URL("../results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}soak-${SECONDS}s.json`, `${JSON.stringify(result, null, 2)}\n`);
  const { samples: _, ...printed } = result;
  console.log(JSON.stringify(printed, null, 2));

  // Every failure is one a fault explains, and every request got an answer.
  expect(classified.unexplained, JSON.stringify(classified.examples)).toEqual({});
  expect(summary.unfinished).toBe(0);
  expect(summary.ok).toBeGreaterThan(0);
  expect(app.state.flagErrors).toBe(0);
  expect(appTicksScraped).toBe(app.state.ticks);
  // The faults really reached the pipeline: retries were sent.
  expect(retries).toBeGreaterThan(0);
  // The good reloads applied (app and flags followed), the bad ones were refused.
  expect(configState.values.app.reload).toBe(reload);
  expect(rt.config.get("app.reload")).toBe(reload);
  expect(app.state.lastFlag).toBe(flagOn);
  expect(configState.reloads.rejected).toBeGreaterThanOrEqual(reloads.rejected);
  // No leak: fds and handles back at the start once the load and the upstreams' connections are
  // gone; fds, handles and RSS flat over the second half of the load. In the 60 s form the
  // slopes take 30 s of a heap still growing to its working size and of connection pools that
  // open and close (fds swing by ±40): the bounds there only catch a gross leak, and the back-
  // to-baseline checks do the rest. From 10 minutes on, the bounds are tight.
  expect(after.fds).toBeLessThanOrEqual(baseline.fds + 5);
  expect(after.handles).toBeLessThanOrEqual((baseline.handles as number) + 5);
  expect(Math.abs(fdSlope)).toBeLessThan(BOUNDS.fdsPerMin);
  expect(Math.abs(handleSlope)).toBeLessThan(BOUNDS.fdsPerMin);
  if (BOUNDS.rssMbPerMin !== undefined) expect(rssSlope).toBeLessThan(BOUNDS.rssMbPerMin);
  if (BOUNDS.rssPeakMb !== undefined) expect(result.rssMb.peak).toBeLessThan(BOUNDS.rssPeakMb);
  if (BOUNDS.heapFloorMbPerMin !== undefined) expect(heapFloorSlope).toBeLessThan(BOUNDS.heapFloorMbPerMin);
});
