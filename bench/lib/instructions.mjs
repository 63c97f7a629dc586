// Instructions a proxy executes per request, counted by valgrind's callgrind: the same count on
// every run, whatever else the machine is doing, where CPU seconds on a shared machine vary from
// round to round. The proxy runs under callgrind with counting off; it is warmed up, counting is
// switched on (`callgrind_control -i on`) for a fixed number of requests, and the counts are
// dumped and summed per thread.
//
//   const wrap = callgrindWrap(dir);           // a command prefix for the proxy
//   const proxy = await startNginx({ upstream, wrap });
//   const counts = await countInstructions({ pids: proxy.pids, outDir: dir, target, warmup: 20000, requests: 2000 });
//   counts.perRequest, counts.mainThreadPerRequest
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Pool } from "undici";
import { ToolMissingError } from "./proxies.mjs";
import { summarizeRounds, writeResult } from "./stats.mjs";

export const VALGRIND_BIN = process.env.BENCH_VALGRIND ?? "/usr/bin/valgrind";
export const CALLGRIND_CONTROL_BIN = join(VALGRIND_BIN, "..", "callgrind_control");

let version;

/** valgrind's version line, e.g. "valgrind-3.19.0" (asked once); throws ToolMissingError when it is not installed. */
export function valgrindVersion() {
  if (version !== undefined) return version;
  if (!existsSync(VALGRIND_BIN) || !existsSync(CALLGRIND_CONTROL_BIN)) throw new ToolMissingError("valgrind");
  version = execFileSync(VALGRIND_BIN, ["--version"], { encoding: "utf8" }).trim();
  return version;
}

/**
 * The command prefix that runs a program under callgrind with counting off, its counts going to
 * `outDir`. `--smc-check=all`: V8 writes the machine code it then runs. One file per thread, so that
 * the main thread's count (the request path) can be told from compiler and GC helper threads.
 */
export function callgrindWrap(outDir) {
  valgrindVersion();
  return [
    VALGRIND_BIN,
    "-q",
    "--tool=callgrind",
    "--smc-check=all",
    "--separate-threads=yes",
    "--instr-atstart=no",
    `--callgrind-out-file=${join(outDir, "callgrind.%p")}`,
  ];
}

/**
 * Starts `argv` (a command line read from a running process, e.g. `/proc/<pid>/cmdline`) under
 * `wrap` with `env` and an IPC channel; resolves with the child and the first IPC message it sends.
 */
export function spawnWithReadyMessage(wrap, argv, env, limitMs = 180_000) {
  const child = spawn(wrap[0], [...wrap.slice(1), ...argv], { env, stdio: ["ignore", "ignore", "inherit", "ipc"] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${argv.join(" ")} sent no ready message within ${limitMs / 1000} s`));
    }, limitMs);
    child.once("message", (message) => {
      clearTimeout(timer);
      resolve({ child, message });
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(" ")} exited (${code ?? signal}) before it was ready`));
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`${wrap[0]} could not be started: ${error.message}`));
    });
  });
}

/** The command line and environment of a running process, from /proc. */
export function commandOf(pid) {
  const split = (file) => readFileSync(`/proc/${pid}/${file}`, "utf8").split("\0").filter(Boolean);
  const env = Object.fromEntries(
    split("environ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
  return { argv: split("cmdline"), env };
}

/**
 * Sends `warmup` requests to `target` (closed loop over `connections` keep-alive connections),
 * counts the instructions of the processes `pids` (running under `callgrindWrap(outDir)`) over the
 * next `requests` requests, and returns the totals: all threads, and the first thread of each
 * process (Node's main thread, where the request path and, with --single-threaded-gc, the GC run;
 * nginx's and HAProxy's only thread).
 */
export async function countInstructions({ pids, outDir, target, warmup, requests, connections = 4 }) {
  const pool = new Pool(target.origin, { connections, pipelining: 1 });
  try {
    await drive(pool, target, warmup, connections);
    const before = new Set(readdirSync(outDir));
    for (const pid of pids) control(["-i", "on", String(pid)]);
    await drive(pool, target, requests, connections);
    for (const pid of pids) {
      control(["-d", String(pid)]);
      control(["-i", "off", String(pid)]);
    }
    const { total, mainThread, threads } = countedSince(outDir, before);
    if (total === 0) throw new Error(`callgrind counted nothing for pids ${pids.join(", ")} in ${outDir}`);
    return {
      requests,
      warmup,
      connections,
      instructions: total,
      mainThreadInstructions: mainThread,
      threadsCounted: threads,
      perRequest: total / requests,
      mainThreadPerRequest: mainThread / requests,
    };
  } finally {
    await pool.close();
  }
}

/**
 * What callgrind counted in the files it wrote to `outDir` since `before` (the names there then):
 * instructions of every thread, of the first (main) thread, and how many threads counted any.
 */
export function countedSince(outDir, before) {
  let total = 0;
  let mainThread = 0;
  let threads = 0;
  for (const file of readdirSync(outDir)) {
    if (before.has(file)) continue;
    const text = readFileSync(join(outDir, file), "utf8");
    const count = Number(/^(?:summary|totals): (\d+)/m.exec(text)?.[1] ?? 0);
    if (count === 0) continue;
    threads++;
    total += count;
    if (/^thread: 1$/m.test(text)) mainThread += count;
  }
  return { total, mainThread, threads };
}

/**
 * valgrind's version, or undefined when valgrind is missing: then the scenario `name` is recorded
 * as skipped, so that the page says why rather than keeping an older run's numbers.
 */
export function valgrindOrSkip(name) {
  try {
    return valgrindVersion();
  } catch (error) {
    if (!(error instanceof ToolMissingError)) throw error;
    const file = writeResult(name, { method: {}, skipped: { valgrind: error.message }, rounds: {}, summary: {} });
    console.log(`${name}: skipped, ${error.message}; wrote ${file}`);
    return undefined;
  }
}

/** Adds one round's counts of `name` to `rounds`, and says them on the console. */
export function noteRound(rounds, name, counts, round, of) {
  rounds[name] = [...(rounds[name] ?? []), counts];
  console.log(
    `round ${round}/${of} ${name}: ${Math.round(counts.perRequest)} instructions per request, main thread ${Math.round(counts.mainThreadPerRequest)}`,
  );
}

/** Median, min and max over rounds of each subject's instructions per request (all threads, main thread). */
export function summarizeCounts(rounds) {
  return Object.fromEntries(
    Object.entries(rounds).map(([name, rs]) => [
      name,
      summarizeRounds(rs.map((c) => ({ perRequest: c.perRequest, mainThreadPerRequest: c.mainThreadPerRequest }))),
    ]),
  );
}

function control(args) {
  execFileSync(CALLGRIND_CONTROL_BIN, args, { stdio: "ignore" });
}

async function drive(pool, target, n, lanes) {
  let started = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (started < n) {
        started++;
        const res = await pool.request({ method: "GET", path: target.path, headers: target.headers });
        await res.body.dump();
        if (res.statusCode !== 200) throw new Error(`${target.origin}${target.path} answered ${res.statusCode}`);
      }
    }),
  );
}
