// Helpers of the soak test: the upstream and load child processes, /proc sampling, the slope,
// and the classification of failures into injected ones and unexplained ones.
import { type ChildProcess, fork } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Fault } from "@tandem/testkit";

const HERE = fileURLToPath(new URL(".", import.meta.url));

function forkTs(file: string, args: string[] = []): ChildProcess {
  // Node 24 runs the .ts helpers by stripping their types; vitest's own flags are not wanted.
  return fork(`${HERE}${file}`, args, { execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"] });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Kills `child` (SIGKILL) unless it has exited, and waits for its exit, at most 5 s. */
export async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGKILL");
  await Promise.race([exited(child), new Promise((r) => setTimeout(r, 5000))]);
}

/** The upstream instances, served by a child process. */
export interface UpstreamHost {
  urls: string[];
  child: ChildProcess;
  /** Sets one instance's fault; resolves with the time (epoch ms) it took effect. */
  set(index: number, fault: Fault): Promise<number>;
  /** Closes every server and its connections, then the process exits. */
  close(): Promise<void>;
}

export async function startUpstreamHost(count: number): Promise<UpstreamHost> {
  const child = forkTs("soak-upstreams.ts", [String(count)]);
  const pending = new Map<number, (at: number) => void>();
  let nextId = 0;
  const urls = await new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("soak upstreams did not start within 20 s")), 20_000);
    child.once("exit", (code) => reject(new Error(`soak upstreams exited with ${code} before they were ready`)));
    child.on("message", (m: { type: string; urls?: string[]; id?: number; at?: number }) => {
      if (m.type === "ready" && m.urls !== undefined) {
        clearTimeout(timer);
        resolve(m.urls);
      } else if (m.id !== undefined) {
        pending.get(m.id)?.(m.at ?? Date.now());
        pending.delete(m.id);
      }
    });
  });
  const ask = (message: object): Promise<number> => {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`soak upstreams did not answer ${JSON.stringify(message)}`)),
        10_000,
      );
      pending.set(id, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
      child.send({ ...message, id });
    });
  };
  return {
    urls,
    child,
    set: (index, fault) => ask({ type: "set", index, fault }),
    close: async () => {
      if (child.connected) await ask({ type: "close" }).catch(() => undefined);
      await Promise.race([exited(child), new Promise((r) => setTimeout(r, 5000))]);
      await killChild(child);
    },
  };
}

/** A request that got no 2xx: [start, end] in epoch ms, and what it got (`tandem:timeout`, `http:503`, `client:ECONNRESET`). */
export type Failure = [start: number, end: number, kind: string];

export interface LoadTick {
  at: number;
  sent: number;
  ok: number;
  failed: number;
  skipped: number;
  inflight: number;
  failures: Failure[];
}

export interface LoadSummary {
  startedAt: number;
  endedAt: number;
  /** Requests that were due at the fixed rate. */
  due: number;
  sent: number;
  ok: number;
  failed: number;
  /** Due but not sent: `maxInFlight` requests were still out. */
  skipped: number;
  /** Still out when the generator gave up waiting (its timeout + 5 s after the end). */
  unfinished: number;
  peakInFlight: number;
}

export interface LoadOptions {
  origin: string;
  proxyAuthorization?: string;
  target: string;
  rate: number;
  durationMs: number;
  connections: number;
  maxInFlight: number;
  timeoutMs: number;
}

export interface Load {
  child: ChildProcess;
  /** Every failure reported so far. */
  failures: Failure[];
  ticks: Omit<LoadTick, "failures">[];
  done: Promise<LoadSummary>;
  stop(): void;
}

/** Starts the open-loop generator in a child process; `done` settles with its summary. */
export function startLoad(options: LoadOptions): Load {
  if (!Number.isFinite(options.rate) || options.rate <= 0)
    throw new Error(`soak: the rate must be a positive number of requests per second (got ${options.rate})`);
  const child = forkTs("soak-load.ts");
  const failures: Failure[] = [];
  const ticks: Omit<LoadTick, "failures">[] = [];
  const done = new Promise<LoadSummary>((resolve, reject) => {
    const limit = options.durationMs + options.timeoutMs + 30_000;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`soak load did not finish within ${limit} ms`));
    }, limit);
    child.on("message", (m: ({ type: "tick" } & LoadTick) | ({ type: "done" } & LoadSummary)) => {
      if (m.type === "tick") {
        for (const f of m.failures) failures.push(f);
        const { failures: _, type: __, ...counts } = m;
        ticks.push(counts);
      } else if (m.type === "done") {
        clearTimeout(timer);
        const { type: _, ...summary } = m;
        resolve(summary);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`soak load exited with ${code} before its summary`));
    });
  });
  child.send({ type: "start", ...options });
  return {
    child,
    failures,
    ticks,
    done,
    stop: () => {
      if (child.connected) child.send({ type: "stop" });
    },
  };
}

/** One sample of a process: resident memory (MB) and open file descriptors, from /proc. */
export interface ProcSample {
  at: number;
  rssMb: number;
  fds: number;
  /** CPU time (user + system) the process has used so far, in ms. */
  cpuMs: number;
  /** Handles the sidecar reports itself (`nodejs_active_handles` summed over types), when scraped. */
  handles?: number;
  /** The V8 heap in use, as the sidecar reports it (MB), when scraped. */
  heapMb?: number;
}

export function sampleProc(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (rss === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return {
    at: Date.now(),
    rssMb: Number(rss[1]) / 1024,
    fds: readdirSync(`/proc/${pid}/fd`).length,
    cpuMs: cpuMs(pid),
  };
}

/** CPU time (user + system) a process has used, in ms, from /proc/<pid>/stat (100 ticks a second). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The sum of a metric's series (`nodejs_active_handles{type=...}`) in a Prometheus text scrape, or undefined. */
export function metricSum(scrape: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of scrape.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(?:\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m !== null && m[1] === name) sum = (sum ?? 0) + Number(m[2]);
  }
  return sum;
}

/** Least-squares slope of y over x. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** A fault that was on from `on` to `off` (epoch ms), and the failure kinds it may surface. */
export interface FaultWindow {
  name: string;
  on: number;
  off: number;
  allowed: readonly string[];
}

export interface Classified {
  /** Failures by fault and kind: `"stall tandem:timeout": 12`. */
  injected: Record<string, number>;
  /** Everything else, by kind, with a few examples. */
  unexplained: Record<string, number>;
  examples: Failure[];
}

/**
 * A failure is injected when its kind is one a fault may surface and the request overlapped that
 * fault's window (stretched by `graceMs` at the end, for answers on their way when it went off);
 * anything else is unexplained.
 */
export function classify(failures: readonly Failure[], windows: readonly FaultWindow[], graceMs: number): Classified {
  const injected: Record<string, number> = {};
  const unexplained: Record<string, number> = {};
  const examples: Failure[] = [];
  for (const failure of failures) {
    const [start, end, kind] = failure;
    const window = windows.find((w) => w.allowed.includes(kind) && start <= w.off + graceMs && end >= w.on);
    if (window === undefined) {
      unexplained[kind] = (unexplained[kind] ?? 0) + 1;
      if (examples.length < 10) examples.push(failure);
    } else {
      const key = `${window.name} ${kind}`;
      injected[key] = (injected[key] ?? 0) + 1;
    }
  }
  return { injected, unexplained, examples };
}
