// A fixed-rate open-loop HTTP load generator on undici (wrk2-style). Request i is due at
// start + i / rate whether or not earlier answers came back, and its latency is measured from
// that scheduled time, not from when it was actually sent: a stall of the subject shows up in
// the latency of every request that should have gone out meanwhile (no coordinated omission).
// It runs in a child process of its own so that it never shares an event loop with the subject.
//
//   const r = await runOpenLoop({ origin: "http://127.0.0.1:8080", path: "/", rate: 1000, durationS: 10 });
//   r.latency.p99 // ms, from the scheduled send time
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import { runChild } from "./child.mjs";
import { createLatencyHistogram, encodeHistogram, histogramSummary, recordMs } from "./stats.mjs";

const SELF = fileURLToPath(import.meta.url);

/**
 * The generator's V8 flags: it keeps to one thread. By default V8 collects garbage and compiles
 * on helper threads, which run on any core: on a machine of two, where the generator's polling
 * keeps one busy, they took the other core, the subject's, for up to 7 ms at a time (seen with
 * `perf sched`), and the subject, not the generator, showed the stall in its latency.
 * Semi-spaces of 1 MB: polling (below) makes garbage at a steady rate, and the 16 MB young
 * generation V8 grows to took ~2 ms to collect every ~0.1 s, enough to set the direct call's own
 * p99; at 1 MB a collection takes 0.1-0.7 ms.
 */
const GENERATOR_NODE_FLAGS = ["--single-threaded", "--min-semi-space-size=1", "--max-semi-space-size=1"];

/**
 * @param {object} o
 * @param {string} o.origin  where to connect, e.g. "http://127.0.0.1:4600"
 * @param {string} [o.path]  request target; an absolute-form "http://payments/x" goes through a forward proxy
 * @param {number} o.rate    requests per second
 * @param {number} o.durationS  measured seconds
 * @param {number} [o.warmupS]  seconds at the same rate before measuring (not recorded)
 * @param {number} [o.connections]  keep-alive connections to the origin (default 32)
 * @param {string} [o.method]
 * @param {Record<string,string>} [o.headers]
 * @param {number} [o.timeoutMs]  per-request timeout (default 5000)
 * @returns {Promise<object>} counts, status codes, achieved rate and latency percentiles in ms
 */
export function runOpenLoop(o) {
  validate(o);
  return runChild({
    file: SELF,
    args: ["--open-loop-child"],
    execArgv: GENERATOR_NODE_FLAGS,
    message: o,
    limitMs: ((o.warmupS ?? 0) + o.durationS) * 1000 + (o.timeoutMs ?? 5000) + 15_000,
    name: "the open-loop generator",
  });
}

/** Throws, naming the option and `who`, when `o` is not a generator's options. */
export function validate(o, who = "runOpenLoop") {
  if (!o || typeof o !== "object") throw new TypeError(`${who}: options required`);
  if (typeof o.origin !== "string" || !/^http:\/\//.test(o.origin))
    throw new TypeError(`${who}: origin must be an http:// URL, got ${JSON.stringify(o.origin)}`);
  if (!(o.rate > 0)) throw new RangeError(`${who}: rate must be > 0, got ${o.rate}`);
  if (!(o.durationS > 0)) throw new RangeError(`${who}: durationS must be > 0, got ${o.durationS}`);
  if (o.warmupS !== undefined && !(o.warmupS >= 0))
    throw new RangeError(`${who}: warmupS must be >= 0, got ${o.warmupS}`);
  if (o.connections !== undefined && !(Number.isInteger(o.connections) && o.connections >= 1 && o.connections <= 1024))
    throw new RangeError(`${who}: connections must be an integer from 1 to 1024, got ${o.connections}`);
  if (o.timeoutMs !== undefined && !(o.timeoutMs > 0))
    throw new RangeError(`${who}: timeoutMs must be > 0, got ${o.timeoutMs}`);
}

/**
 * A measured phase's result, as both generators give it: its counts, the rate achieved over it (at
 * least its length), the send lag, and its latencies and service times (microsecond histograms)
 * in ms, the latencies' histogram encoded too.
 */
export function phaseResult(p) {
  return {
    rate: p.rate,
    durationS: p.durationS,
    sent: p.sent,
    completed: p.completed,
    ok: p.ok,
    errors: p.errors,
    statusCodes: p.statusCodes,
    errorCodes: p.errorCodes,
    achievedRate: Math.round((p.completed / Math.max(p.elapsedS, p.durationS)) * 10) / 10,
    maxSendLagMs: Math.round(p.maxSendLagMs * 1000) / 1000,
    latency: histogramSummary(p.latency),
    service: histogramSummary(p.service),
    histogram: encodeHistogram(p.latency),
  };
}

async function generate(o) {
  const pool = new Pool(o.origin, {
    connections: o.connections ?? 32,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: o.timeoutMs ?? 5000,
    bodyTimeout: o.timeoutMs ?? 5000,
  });
  const warmup = await phase(pool, o, o.warmupS ?? 0, false);
  const measured = await phase(pool, o, o.durationS, true);
  await pool.close();
  return { ...measured, warmupSent: warmup?.sent ?? 0 };
}

function phase(pool, o, seconds, record) {
  if (seconds <= 0) return Promise.resolve(undefined);
  const interval = 1000 / o.rate;
  const total = Math.max(1, Math.round(o.rate * seconds));
  const latency = createLatencyHistogram();
  const service = createLatencyHistogram();
  const statusCodes = {};
  const errorCodes = {};
  let sent = 0;
  let done = 0;
  let ok = 0;
  let errors = 0;
  let maxLagMs = 0;
  const method = o.method ?? "GET";
  const path = o.path ?? "/";
  const headers = o.headers ?? {};
  const start = performance.now();
  let lastEnd = start;

  return new Promise((resolve) => {
    const finish = () => {
      resolve(
        phaseResult({
          rate: o.rate,
          durationS: seconds,
          elapsedS: (lastEnd - start) / 1000,
          sent,
          completed: done,
          ok,
          errors,
          statusCodes,
          errorCodes,
          maxSendLagMs: maxLagMs,
          latency,
          service,
        }),
      );
    };
    const one = (scheduled) => {
      const sentAt = performance.now();
      maxLagMs = Math.max(maxLagMs, sentAt - scheduled);
      pool.request({ method, path, headers, body: o.body }).then(
        async (res) => {
          await res.body.dump();
          const end = performance.now();
          lastEnd = end;
          if (record) {
            recordMs(latency, end - scheduled);
            recordMs(service, end - sentAt);
          }
          statusCodes[res.statusCode] = (statusCodes[res.statusCode] ?? 0) + 1;
          if (res.statusCode >= 200 && res.statusCode < 400) ok++;
          else errors++;
          if (++done === total) finish();
        },
        (err) => {
          lastEnd = performance.now();
          errors++;
          const code = err.code ?? err.name ?? "error";
          errorCodes[code] = (errorCodes[code] ?? 0) + 1;
          if (++done === total) finish();
        },
      );
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + sent * interval <= now) one(start + sent++ * interval);
      if (sent < total) {
        const wait = start + sent * interval - performance.now();
        // Under a millisecond, poll: a timer rounds to 1 ms. This keeps a core busy; sleeping in a
        // worker thread (Atomics.wait) until each send time was measured too, and on a virtual
        // machine that wakes an idle CPU slowly its own wake-ups doubled the direct call's p50.
        if (wait >= 1) setTimeout(tick, Math.floor(wait));
        else setImmediate(tick);
      }
    };
    tick();
  });
}

if (process.argv.includes("--open-loop-child")) {
  process.once("message", (o) => {
    generate(o).then(
      (result) => process.send({ result }),
      (err) => process.send({ error: err?.stack ?? String(err) }),
    );
  });
}
