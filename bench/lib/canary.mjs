// The machine's own stalls, seen by canaries (canary.c): one real-time thread per CPU that wakes
// every millisecond and notes how late it woke. A late wake-up is time that CPU ran nothing of the
// guest's ordinary processes: what a request in flight then waits for, whichever process it is in.
//
//   const canaries = await startCanaries([0, 1]);
//   const run = await runNativeOpenLoop({ ..., windows: true });
//   const seen = await canaries.stop();             // per CPU: wake-ups, lateness counts, stalls
//   stallOverlap(run.windows, stalls(seen), { slowNs: 0.5e6 }); // slow requests during a stall
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { compiledC } from "./native-open-loop.mjs";

/** A canary could not run as a real-time thread here: the part that needs it is not measured. */
export class CanaryUnavailableError extends Error {}

/**
 * Starts a canary on each of `cpus`, waking every `periodUs` and noting each wake-up later than
 * `thresholdUs`; each stops by itself after `maxS`. Resolves once all of them run as real-time
 * threads; rejects with `CanaryUnavailableError` when one may not (no CAP_SYS_NICE, a CPU this
 * process may not use), and with a compiler's error when canary.c cannot be built.
 *
 * @returns {Promise<{ stop(): Promise<Array<{ cpu: number, periodUs: number, wakes: number, lateUs: object, stalls: Float64Array }>> }>}
 *   `stalls`: [deadline, deadline + lateness] pairs in ns on CLOCK_MONOTONIC
 */
export async function startCanaries(cpus, { periodUs = 1000, thresholdUs = 100, maxS = 3600 } = {}) {
  const binary = compiledC("canary.c");
  const children = cpus.map((cpu) => canary(binary, [cpu, periodUs, thresholdUs, maxS].map(String)));
  const started = await Promise.allSettled(children.map((c) => c.ready));
  const failed = started.find((s) => s.status === "rejected");
  if (failed !== undefined) {
    for (const c of children) c.child.kill("SIGTERM");
    await Promise.allSettled(children.map((c) => c.done));
    throw failed.reason;
  }
  return {
    async stop() {
      for (const c of children) c.child.kill("SIGTERM");
      return Promise.all(children.map((c) => c.done));
    },
  };
}

function canary(binary, args) {
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  const out = [];
  let err = "";
  let announce;
  const ready = new Promise((resolve, reject) => {
    announce = { resolve, reject };
  });
  // Its first output is "ready".
  child.stdout.on("data", (chunk) => {
    out.push(chunk);
    announce.resolve();
  });
  child.stderr.on("data", (chunk) => {
    err += chunk;
  });
  const done = new Promise((resolve, reject) => {
    child.once("error", (error) => {
      announce.reject(error);
      reject(error);
    });
    child.once("close", (code, signal) => {
      const text = Buffer.concat(out).toString("latin1");
      if (code !== 0) {
        const error =
          code === 3
            ? new CanaryUnavailableError(err.trim())
            : new Error(
                `the canary (${args.join(" ")}) ${signal === null ? `exited with ${code}` : `was killed by ${signal}`}: ${err.trim()}`,
              );
        announce.reject(error);
        reject(error);
        return;
      }
      resolve(parse(text));
    });
  });
  // A canary that ends before it is ready has its error in `done`; `ready` is then settled by it.
  done.catch(() => {});
  return { child, ready, done };
}

/** The canary's output: "ready", "DEADLINE_NS LATE_NS" lines, then its counts as a JSON line. */
function parse(text) {
  const lines = text.trim().split("\n");
  const counts = JSON.parse(lines.at(-1));
  const stalls = [];
  for (const line of lines.slice(1, -1)) {
    const [deadline, late] = line.split(" ").map(Number);
    stalls.push(deadline, deadline + late);
  }
  return { ...counts, stalls: Float64Array.from(stalls) };
}

/** The stalls of every canary in `seen` (`stop()`'s result) together: [from, to] pairs in ns. */
export function stalls(seen) {
  const all = seen.flatMap((c) => [...c.stalls]);
  return Float64Array.from(all);
}

/**
 * How many of the requests in `windows` ([due, end] pairs in ns) took longer than `slowNs`, and how
 * many of those were in flight during a stall of `stalls` ([from, to] pairs, any CPU); and, as the
 * rate to set that against, how many of the same windows moved by `shiftNs` (wrapped round within
 * the requests' span) overlap one: what chance alone gives.
 */
export function stallOverlap(windows, stallPairs, { slowNs, shiftNs = 437e6 }) {
  const requests = windows.length / 2;
  if (requests === 0) return { requests: 0, slow: 0, inStall: 0, byChance: 0 };
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < windows.length; i += 2) {
    first = Math.min(first, windows[i]);
    last = Math.max(last, windows[i + 1]);
  }
  const span = last - first;
  const overlaps = (from, to) => {
    for (let j = 0; j < stallPairs.length; j += 2) if (stallPairs[j] < to && stallPairs[j + 1] > from) return true;
    return false;
  };
  let slow = 0;
  let inStall = 0;
  let byChance = 0;
  for (let i = 0; i < windows.length; i += 2) {
    const due = windows[i];
    const end = windows[i + 1];
    if (end - due <= slowNs) continue;
    slow++;
    if (overlaps(due, end)) inStall++;
    // Moved, and wrapped round whole: a window that would run past the span's end starts over
    // from its start instead, so that it meets only stalls within the requests' span.
    let moved = span > 0 ? first + ((due - first + shiftNs) % span) : due;
    if (moved + (end - due) > last) moved = first + (moved + (end - due) - last);
    if (overlaps(moved, moved + (end - due))) byChance++;
  }
  return { requests, slow, inStall, byChance };
}

/** The CPUs this process may run on, from /proc/self/status; [] where it cannot be read. */
export function allowedCpus() {
  try {
    return cpuList(/^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "");
  } catch {
    return [];
  }
}

/** The CPUs of a CPU list, as taskset and /proc write them: "0-2,5" is [0, 1, 2, 5]. */
export function cpuList(list) {
  const cpus = [];
  for (const part of list.trim().split(",")) {
    if (!/^\d+(?:-\d+)?$/.test(part)) continue;
    const [from, to = from] = part.split("-").map(Number);
    for (let cpu = from; cpu <= to; cpu++) cpus.push(cpu);
  }
  return cpus;
}
