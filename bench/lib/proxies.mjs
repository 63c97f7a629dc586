// nginx and HAProxy from the distribution (Debian packages), started on a free loopback port
// with a temporary prefix and config, plus per-process CPU and memory read from /proc.
//
//   const nginx = await startNginx({ upstream: "127.0.0.1:8080" });  // reverse proxy, keep-alive upstream
//   const fixed = await startNginx({ fixedBody: "ok" });             // answers 200 "ok" by itself
//   const stats = processStats(nginx.pids);                          // { cpuSeconds, rssBytes, ... }
//   await nginx.stop();
// Both throw ToolMissingError when the binary is not installed; scenarios record it as skipped.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { sleep } from "./stats.mjs";

export const NGINX_BIN = process.env.BENCH_NGINX ?? "/usr/sbin/nginx";
export const HAPROXY_BIN = process.env.BENCH_HAPROXY ?? "/usr/sbin/haproxy";

export class ToolMissingError extends Error {
  constructor(tool) {
    super(`skipped: ${tool} not installed`);
    this.name = "ToolMissingError";
    this.tool = tool;
  }
}

/** A free TCP port on 127.0.0.1 (bound then released; the caller binds it right after). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts nginx with one worker (the sidecar is one Node thread; compare like with like).
 * Options: `upstream` "host:port" to reverse-proxy to over keep-alive connections, or `fixedBody`
 * to answer 200 with that body itself; `workers` (default 1); `keepalive` idle upstream
 * connections kept per worker (default 64). A string is taken as the body of the `server {}`
 * block, with `listen` added. `httpBlock` is added to the `http {}` block as it is (with
 * `serverBody`: an `upstream {}` block of several servers, say). `wrap`: a command nginx runs
 * under (e.g. valgrind and its flags); `masterProcess: false` serves from the process started,
 * without a master and forked workers (valgrind's callgrind_control reaches no forked child).
 */
export async function startNginx(options) {
  if (!existsSync(NGINX_BIN)) throw new ToolMissingError("nginx");
  const o = typeof options === "string" ? { serverBody: options } : (options ?? {});
  if (o.serverBody === undefined && o.upstream === undefined && o.fixedBody === undefined)
    throw new TypeError("startNginx: give upstream, fixedBody or a server block body");
  const prefix = mkdtempSync(join(tmpdir(), "tandem-bench-nginx-"));
  const port = await freePort();
  let upstreamBlock = o.httpBlock ?? "";
  let location;
  if (o.serverBody !== undefined) location = o.serverBody;
  else if (o.upstream !== undefined) {
    upstreamBlock = `upstream subject { server ${o.upstream}; keepalive ${o.keepalive ?? 64}; keepalive_requests 1000000; }`;
    location = `location / {
        proxy_pass http://subject;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_buffering on;
      }`;
  } else {
    location = `location / { default_type text/plain; return 200 ${JSON.stringify(o.fixedBody)}; }`;
  }
  const conf = `
worker_processes ${o.workers ?? 1};
daemon off;
master_process ${o.masterProcess === false ? "off" : "on"};
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  ${upstreamBlock}
  server {
    listen 127.0.0.1:${port} reuseport;
    ${location}
  }
}
`;
  writeFileSync(join(prefix, "nginx.conf"), conf);
  // A process group of its own, so that its workers can be killed with it (see `track`).
  const child = spawnWrapped(o.wrap, NGINX_BIN, ["-p", prefix, "-c", join(prefix, "nginx.conf")], {
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  return await started("nginx", child, prefix, port, () => readFileSync(join(prefix, "error.log"), "utf8"), o.wrap);
}

/**
 * Starts HAProxy with one thread (`nbthread 1`). Options: `upstream` "host:port" to proxy to,
 * reusing idle server connections (`http-reuse always`); `fixedBody` to answer 200 itself; or
 * `backendBody`, the lines of the `backend` section as they are (servers, balance, retries,
 * checks, timeouts that override the defaults). `wrap`: a command HAProxy runs under.
 */
export async function startHaproxy(options) {
  if (!existsSync(HAPROXY_BIN)) throw new ToolMissingError("haproxy");
  const o = options ?? {};
  if (o.upstream === undefined && o.fixedBody === undefined && o.backendBody === undefined)
    throw new TypeError("startHaproxy: give upstream, fixedBody or backendBody");
  const prefix = mkdtempSync(join(tmpdir(), "tandem-bench-haproxy-"));
  const port = await freePort();
  const backend =
    o.backendBody !== undefined
      ? `default_backend subject
backend subject
${o.backendBody}`
      : o.upstream !== undefined
        ? `default_backend subject
backend subject
  http-reuse always
  server s1 ${o.upstream} maxconn 1000`
        : `http-request return status 200 content-type text/plain string ${JSON.stringify(o.fixedBody)}`;
  const conf = `
global
  nbthread 1
  maxconn 4096
  log stderr format raw local0 err
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
frontend bench
  bind 127.0.0.1:${port}
  ${backend}
`;
  writeFileSync(join(prefix, "haproxy.cfg"), conf);
  const child = spawnWrapped(o.wrap, HAPROXY_BIN, ["-db", "-f", join(prefix, "haproxy.cfg")], {
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  return await started("haproxy", child, prefix, port, undefined, o.wrap);
}

/** Spawns `bin args`, or `wrap[0] ...wrap bin args` when a wrapper command is given. */
function spawnWrapped(wrap, bin, args, options) {
  if (wrap === undefined || wrap.length === 0) return spawn(bin, args, options);
  return spawn(wrap[0], [...wrap.slice(1), bin, ...args], options);
}

// Whatever happens to the benchmark (a throw, Ctrl-C), the servers it started die with it: nginx
// and HAProxy with their whole process group, since a master killed alone leaves its workers
// serving.
const running = new Set();
let hooked = false;
function track(child) {
  running.add(child);
  child.once("exit", () => running.delete(child));
  if (hooked) return;
  hooked = true;
  const killAll = () => {
    for (const c of running) {
      try {
        process.kill(-c.pid, "SIGKILL");
      } catch {
        c.kill("SIGKILL");
      }
    }
  };
  process.once("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

async function started(tool, child, prefix, port, readLog, wrap) {
  track(child);
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  let exited = null;
  child.once("exit", (code, signal) => {
    exited = { code, signal };
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (exited === null) {
      const gone = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const killed = await Promise.race([gone.then(() => true), sleep(3000).then(() => false)]);
      if (!killed) {
        child.kill("SIGKILL");
        await gone;
      }
    }
    rmSync(prefix, { recursive: true, force: true });
  };
  // Under a wrapper (valgrind) a server starts many times slower.
  const limitS = wrap === undefined ? 10 : 120;
  const deadline = Date.now() + limitS * 1000;
  while (Date.now() < deadline) {
    if (exited !== null) {
      const log = readLog ? safe(readLog) : "";
      rmSync(prefix, { recursive: true, force: true });
      throw new Error(`${tool} exited (${exited.code ?? exited.signal}) before it was ready: ${stderr}${log}`);
    }
    try {
      const res = await request(url, { headersTimeout: 1000, bodyTimeout: 1000 });
      await res.body.dump();
      // A reverse proxy whose upstream is not up yet answers 502 but is itself ready.
      return { tool, url, port, pid: child.pid, pids: [child.pid, ...childrenOf(child.pid)], stop };
    } catch {
      await sleep(50);
    }
  }
  await stop();
  throw new Error(`${tool} was not ready on ${url} within ${limitS} s: ${stderr}`);
}

function safe(fn) {
  try {
    return fn();
  } catch {
    return "";
  }
}

/** The pids whose parent is `pid` (nginx's workers), from /proc. */
export function childrenOf(pid) {
  const out = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = safe(() => readFileSync(`/proc/${entry}/stat`, "utf8"));
    if (!stat) continue;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[1]) === pid) out.push(Number(entry));
  }
  return out;
}

let clockTicks;
function ticksPerSecond() {
  if (clockTicks === undefined) {
    clockTicks = Number(safe(() => execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim())) || 100;
  }
  return clockTicks;
}

/** How `processStats` reads CPU time, as the results record it. */
export const CPU_CLOCK = "schedstat";

/**
 * CPU time of every thread of `pid` in seconds, from /proc/<pid>/task/<tid>/schedstat (the
 * scheduler's nanoseconds); `null` where the kernel keeps no such file. /proc/<pid>/stat gives the
 * same time in clock ticks (10 ms here): at 0.03 vCPU a 6 s run is ~18 ticks, ±6 % from rounding
 * alone. A thread that ends between two readings takes its time with it (Node's, nginx's and
 * HAProxy's threads live as long as their process).
 */
function threadsCpuSeconds(pid) {
  let ns = 0;
  const tids = safe(() => readdirSync(`/proc/${pid}/task`));
  if (!tids) return null;
  for (const tid of tids) {
    const line = safe(() => readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8"));
    // A thread that ended meanwhile has no file left.
    if (line) ns += Number(line.split(" ")[0]);
    else if (!existsSync(`/proc/${pid}/task/${tid}`)) continue;
    else return null;
  }
  return ns / 1e9;
}

/**
 * CPU seconds (user + system, every thread, from the scheduler's nanoseconds; in clock ticks from
 * /proc/<pid>/stat where those are not kept) and resident memory (VmRSS from
 * /proc/<pid>/status) summed over `pids`; a pid that is gone counts as zero and is listed in `missing`.
 * VmRSS is split as the kernel counts it: `rssAnonBytes` (RssAnon, the process's own heap, stacks
 * and buffers) and `rssFileBytes` (RssFile, pages of its executable and libraries mapped from
 * disk: shared with every process that maps the same file, and reclaimable: under memory pressure
 * the kernel drops them and reads them again when needed, where anonymous pages can only be swapped).
 */
export function processStats(pids) {
  let cpuSeconds = 0;
  let rssBytes = 0;
  let rssAnonBytes = 0;
  let rssFileBytes = 0;
  const perPid = {};
  const missing = [];
  for (const pid of pids) {
    const stat = safe(() => readFileSync(`/proc/${pid}/stat`, "utf8"));
    const status = safe(() => readFileSync(`/proc/${pid}/status`, "utf8"));
    if (!stat || !status) {
      missing.push(pid);
      continue;
    }
    // Fields after "(comm) ": state is index 0, utime is field 14 of the line (index 11 here).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpu = threadsCpuSeconds(pid) ?? (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
    const rss = statusBytes(status, "VmRSS");
    const anon = statusBytes(status, "RssAnon");
    const file = statusBytes(status, "RssFile");
    perPid[pid] = { cpuSeconds: cpu, rssBytes: rss, rssAnonBytes: anon, rssFileBytes: file };
    cpuSeconds += cpu;
    rssBytes += rss;
    rssAnonBytes += anon;
    rssFileBytes += file;
  }
  return { cpuSeconds, rssBytes, rssAnonBytes, rssFileBytes, perPid, missing };
}

/** A "Name:   1234 kB" line of /proc/<pid>/status, in bytes (0 when the kernel does not give it). */
function statusBytes(status, name) {
  return Number(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, "m").exec(status)?.[1] ?? 0) * 1024;
}

/**
 * The upstream every HTTP scenario calls: nginx answering 200 with a fixed 2-byte body from one
 * worker, which costs far less CPU per request than any Node server and so leaves the machine to
 * the subjects; a Node `http` server in a child process when nginx is not installed.
 */
export async function startUpstream() {
  try {
    const nginx = await startNginx({ fixedBody: "ok" });
    return { ...nginx, kind: "nginx (fixed 200 answer, 1 worker)" };
  } catch (error) {
    if (!(error instanceof ToolMissingError)) throw error;
  }
  const child = spawn(
    process.execPath,
    [
      "-e",
      `const s = require("node:http").createServer((q, r) => { q.resume(); q.on("end", () => r.end("ok")); });
       s.keepAliveTimeout = 65000; s.listen(0, "127.0.0.1", () => process.send(s.address().port));`,
    ],
    { stdio: ["ignore", "ignore", "pipe", "ipc"] },
  );
  const port = await new Promise((resolve, reject) => {
    child.once("message", resolve);
    child.once("exit", (code) => reject(new Error(`the node upstream exited (${code}) before listening`)));
  });
  child.disconnect();
  const started = await startedNode(child, port);
  return { ...started, kind: "node:http server (nginx not installed)" };
}

/** What the bare Node process runs: the same node binary with an HTTP server and nothing else. */
export const BARE_NODE_SOURCE = 'require("node:http").createServer((q, r) => r.end()).listen(0, "127.0.0.1")';

/** The floor of any Node sidecar's memory: a process running `BARE_NODE_SOURCE`, which dies with the benchmark. */
export async function startBareNode() {
  const child = spawn(
    process.execPath,
    ["-e", `${BARE_NODE_SOURCE}.on("listening", function () { console.log(this.address().port); });`],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const port = await new Promise((resolve, reject) => {
    child.stdout.once("data", (line) => resolve(Number(String(line).trim())));
    child.once("exit", (code) => reject(new Error(`the bare Node process exited (${code}) before listening`)));
  });
  return startedNode(child, port);
}

function startedNode(child, port) {
  track(child);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await gone;
    }
  };
  return { tool: "node", url: `http://127.0.0.1:${port}`, port, pid: child.pid, pids: [child.pid], stop };
}
