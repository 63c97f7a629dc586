// The fixed-rate open-loop generator in C (open-loop.c), with open-loop.mjs's options and result:
// built once with the machine's C compiler, run as a process of its own per call. It measures what
// the undici one does, without a garbage collector, a JIT or an HTTP client's per-request work of
// its own in the measurement: on a 2-core machine the undici generator's direct call to a local
// nginx had a p99 of 2.8-3.6 ms at 1000 req/s, this one's 0.13-0.16 ms in the same minutes.
//
//   const run = await runNativeOpenLoop({ origin: "http://127.0.0.1:8080", path: "/", rate: 1000, durationS: 10 });
//   run.latency.p99 // ms, from the scheduled send time
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { phaseResult, validate } from "./open-loop.mjs";
import { ToolMissingError } from "./proxies.mjs";
import { createLatencyHistogram, recordMs } from "./stats.mjs";

const COMPILER = process.env.CC ?? "cc";
const FLAGS = ["-O2", "-std=gnu11"];
// In the bench package's own node_modules: the user's, not a directory others can write to.
const CACHE = fileURLToPath(new URL("../node_modules/.cache/native/", import.meta.url));
/** The request the generator sends is read whole into a buffer of this size. */
const MAX_REQUEST_BYTES = 65536;

const built = new Map();

/**
 * The binary of the C program `file` (a source next to this module: "open-loop.c", "canary.c"),
 * compiled on first use and kept under a name made of the hash of the source, the compiler and
 * its flags, so that a change to any is compiled again. Throws `ToolMissingError` naming the
 * compiler when there is none, and an error with the compiler's message when it cannot compile
 * the source (a C library older than glibc 2.35 has no `epoll_pwait2`).
 */
export function compiledC(file) {
  const known = built.get(file);
  if (known !== undefined) return known;
  const source = fileURLToPath(new URL(`./${file}`, import.meta.url));
  const hash = createHash("sha256")
    .update(readFileSync(source))
    .update(JSON.stringify([COMPILER, FLAGS]))
    .digest("hex")
    .slice(0, 16);
  const binary = `${CACHE}${file.replace(/\.c$/, "")}-${hash}`;
  if (!existsSync(binary)) {
    const probe = spawnSync(COMPILER, ["--version"], { stdio: "ignore" });
    if (probe.error !== undefined || probe.status !== 0) throw new ToolMissingError(`${COMPILER} (a C compiler)`);
    mkdirSync(CACHE, { recursive: true });
    // Two processes compiling at once each write a file of their own; the last rename wins.
    const partial = `${binary}.${process.pid}`;
    const compiled = spawnSync(COMPILER, [...FLAGS, "-o", partial, source], { encoding: "utf8" });
    if (compiled.status !== 0)
      throw new Error(`${COMPILER} could not compile ${source}:\n${compiled.stderr || compiled.error}`);
    renameSync(partial, binary);
  }
  built.set(file, binary);
  return binary;
}

/** The generator's binary (`compiledC`). */
export function nativeOpenLoop() {
  return compiledC("open-loop.c");
}

/**
 * Runs the native generator: the options and the result of `runOpenLoop` (open-loop.mjs), for an
 * origin given as an IP address. With `windows: true` the result also has each measured request's
 * span, `windows`: a Float64Array of [due, end] pairs in ns on CLOCK_MONOTONIC (due: when it was
 * to be sent; end: when its answer was whole), to set beside other clocks of the machine.
 *
 * @param {object} o  as for `runOpenLoop`, and `windows`
 * @returns {Promise<object>} counts, status codes, achieved rate and latency percentiles in ms
 */
export async function runNativeOpenLoop(o) {
  validate(o, "runNativeOpenLoop");
  const { host, port, hostHeader } = target(o.origin);
  const binary = nativeOpenLoop();
  const body = o.body === undefined ? undefined : Buffer.from(o.body);
  const lines = [`${o.method ?? "GET"} ${o.path ?? "/"} HTTP/1.1`, `host: ${hostHeader}`, "connection: keep-alive"];
  for (const [name, value] of Object.entries(o.headers ?? {})) lines.push(`${name}: ${value}`);
  if (body !== undefined) lines.push(`content-length: ${body.length}`);
  const request = Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), body ?? Buffer.alloc(0)]);
  if (request.length >= MAX_REQUEST_BYTES)
    throw new RangeError(
      `runNativeOpenLoop: the request is ${request.length} bytes, over the ${MAX_REQUEST_BYTES - 1} it sends`,
    );
  const timeoutMs = o.timeoutMs ?? 5000;
  const args = [host, port, o.rate, o.durationS, o.warmupS ?? 0, o.connections ?? 32, timeoutMs].map(String);
  const limitMs = ((o.warmupS ?? 0) + o.durationS) * 1000 + timeoutMs + 15_000;
  const out = await run(binary, args, request, limitMs);
  return result(o, out);
}

/** The address to connect to and the Host header, from an `http://IP:PORT` origin (`validate`d). */
function target(origin) {
  const url = new URL(origin);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!/^[\d.]+$/.test(host) && !host.includes(":"))
    throw new TypeError(`runNativeOpenLoop: origin must name an IP address, got ${JSON.stringify(origin)}`);
  return { host, port: url.port === "" ? "80" : url.port, hostHeader: url.host };
}

function run(binary, args, request, limitMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out = [];
    let err = "";
    let overdue = false;
    child.stdout.on("data", (chunk) => out.push(chunk));
    child.stderr.on("data", (chunk) => {
      err += chunk;
    });
    // A generator that exits before reading its request (bad arguments) says why on stderr.
    child.stdin.on("error", () => {});
    const timer = setTimeout(() => {
      overdue = true;
      child.kill("SIGKILL");
    }, limitMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        resolve(Buffer.concat(out).toString("latin1"));
        return;
      }
      const how = overdue
        ? `was killed after ${limitMs} ms, its time`
        : signal === null
          ? `exited with ${code}`
          : `was killed by ${signal}`;
      reject(new Error(`the native open-loop generator ${how}: ${err.trim()}`));
    });
    child.stdin.end(request);
  });
}

/**
 * `runOpenLoop`'s result from the generator's output: a JSON line of counts, then
 * "LATENCY_NS SERVICE_NS END_NS" lines.
 */
function result(o, out) {
  const newline = out.indexOf("\n");
  const counts = JSON.parse(out.slice(0, newline));
  const latency = createLatencyHistogram();
  const service = createLatencyHistogram();
  const windows = o.windows === true ? [] : undefined;
  for (const line of out.slice(newline + 1).split("\n")) {
    if (line === "") continue;
    const [latencyNs, serviceNs, endNs] = line.split(" ").map(Number);
    recordMs(latency, latencyNs / 1e6);
    recordMs(service, serviceNs / 1e6);
    windows?.push(endNs - latencyNs, endNs);
  }
  return {
    ...phaseResult({ ...counts, rate: o.rate, durationS: o.durationS, latency, service }),
    warmupSent: counts.warmupSent,
    reconnectFailures: counts.reconnectFailures,
    ...(windows === undefined ? {} : { windows: Float64Array.from(windows) }),
  };
}
