import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type OtlpReceiver, startOtlpReceiver } from "@tandem/testkit";
import { startStub } from "@tandem-examples/payments-stub";
import { Pool } from "undici";
import { positiveNumber } from "./env.js";

const repo = (path: string): string => fileURLToPath(new URL(`../../../../${path}`, import.meta.url));

/** The `tandem` CLI of this workspace and the orders example. */
const TANDEM_BIN = repo("packages/tandem/bin/tandem.js");
const ORDERS_SERVER = repo("examples/orders-service/server.mjs");

/** One request an upstream received: when, its trace id, and whether it came through the sidecar. */
interface UpstreamHit {
  at: number;
  traceId: string | undefined;
  viaSidecar: boolean;
}

/**
 * An upstream answering as the payments stub does (`{"id":"<name>-N"}`) that records each
 * request: the forward proxy adds `Via: 1.1 tandem`, so a request without it was served by the
 * app's in-process fallback.
 */
export async function startRecordingUpstream(name: string) {
  const hits: UpstreamHit[] = [];
  let served = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const traceparent = req.headers.traceparent;
      hits.push({
        at: Date.now(),
        traceId: typeof traceparent === "string" ? traceparent.split("-")[1] : undefined,
        viaSidecar: String(req.headers.via ?? "").includes("tandem"),
      });
      served++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id: `${name}-${served}` }));
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A fresh directory with the orders example's tandem.yaml pointed at `payments` (three URLs)
 * and `inventory`, and its flags.json; with `otlp`, the sidecar forwards traces there.
 */
export function ordersConfigDir(payments: readonly string[], inventory: string, otlp?: string): string {
  const dir = mkdtempSync(join(tmpdir(), "tandem-faults-"));
  const config = readFileSync(repo("examples/orders-service/tandem.yaml"), "utf8")
    .replace("http://127.0.0.1:7001, http://127.0.0.1:7002, http://127.0.0.1:7003", payments.join(", "))
    .replace("http://127.0.0.1:7101", inventory)
    // One info line per order would make the load test a logging test: the app logs warnings only.
    .replace("logs: { level: info }", "logs: { level: warn }")
    // The machine is shared: an event loop stalled by other work for 200 ms would time out the
    // in-memory store (and open its breaker), 500 ms an upstream attempt. Those timeouts would
    // measure the machine's noise, not the sidecar's faults.
    .replaceAll("attempt: 500ms", "attempt: 2s")
    .replace("total: 2s", "total: 3s")
    .replace("timeout: 200ms", "timeout: 2s");
  if (!config.includes(inventory) || !config.includes(payments[0] as string))
    throw new Error("the example's tandem.yaml no longer has the upstream URLs this suite replaces");
  const traces = otlp === undefined ? "" : `\n  traces: { export: { otlp: "${otlp}" } }`;
  writeFileSync(join(dir, "tandem.yaml"), config.replace("logs: { level: warn }", `logs: { level: warn }${traces}`));
  writeFileSync(join(dir, "flags.json"), readFileSync(repo("examples/orders-service/flags.json")));
  return dir;
}

/** A line of the pod's output that parsed as JSON, with the time it arrived here. */
export interface LogLine {
  at: number;
  json: Record<string, unknown>;
}

/** `tandem run -- node server.mjs` of the orders example, with what it printed. */
export interface OrdersPod {
  child: ChildProcess;
  /** The app's URL. */
  url: string;
  /** Every JSON line of the pod (tandem run, the sidecar, the app), in arrival order. */
  readonly lines: readonly LogLine[];
  /** The `ready` lines of each sidecar process so far: its pid and admin address. */
  sidecars(): { pid: number; admin: string; at: number }[];
  /** Resolves with the first line matching `match` (from `from` on), or rejects after `timeoutMs`. */
  waitForLine(match: (json: Record<string, unknown>) => boolean, timeoutMs: number, from?: number): Promise<LogLine>;
  /** SIGTERM to tandem run (SIGKILL after 15 s); resolves with its exit code. */
  stop(): Promise<number | null>;
}

/** Starts the orders example under `tandem run`, and resolves once the app listens. */
export async function startOrdersPod(dir: string, env: NodeJS.ProcessEnv = {}): Promise<OrdersPod> {
  const child = spawn(
    process.execPath,
    [
      TANDEM_BIN,
      "run",
      "--config",
      join(dir, "tandem.yaml"),
      "--listen",
      "127.0.0.1:0",
      "--admin",
      "127.0.0.1:0",
      "--drain-timeout",
      "5s",
      "--",
      process.execPath,
      ORDERS_SERVER,
    ],
    {
      env: { ...process.env, PORT: "0", TANDEM_TOKEN: randomBytes(24).toString("base64url"), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const lines: LogLine[] = [];
  const text: string[] = [];
  const waiters = new Set<() => void>();
  let buffered = "";
  const onData = (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    for (const part of parts) {
      if (!part.startsWith("{")) {
        if (part.trim() !== "" && text.length < 200) text.push(part);
        continue;
      }
      try {
        lines.push({ at: Date.now(), json: JSON.parse(part) as Record<string, unknown> });
      } catch {
        if (text.length < 200) text.push(part);
      }
    }
    for (const wake of waiters) wake();
  };
  child.stdout?.setEncoding("utf8").on("data", onData);
  child.stderr?.setEncoding("utf8").on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  void exited.then(() => {
    for (const wake of waiters) wake();
  });

  const waitForLine = (match: (json: Record<string, unknown>) => boolean, timeoutMs: number, from = 0) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const found = lines.slice(from).find((line) => match(line.json));
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done();
          reject(new Error(`the pod exited first:\n${text.join("\n")}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no such line within ${timeoutMs} ms:\n${text.join("\n")}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    }
    return child.exitCode;
  };

  try {
    const listening = await waitForLine((json) => json.event === "listening" && typeof json.url === "string", 30_000);
    return {
      child,
      url: listening.json.url as string,
      lines,
      sidecars: () =>
        lines
          .filter(({ json }) => json.component === "tandem-sidecar" && json.event === "ready")
          .map(({ json, at }) => ({ pid: json.pid as number, admin: json.admin as string, at })),
      waitForLine,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Removes a directory made by `ordersConfigDir`. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** One request of the load: when it started and ended, and how it ended. */
export interface Outcome {
  start: number;
  end: number;
  traceId: string;
  /** The HTTP status, or 0 when no answer arrived. */
  status: number;
  /** The `code` of an error answer, or the client error's code when no answer arrived. */
  error?: string;
  /** The `detail` of an error answer, or the client error's message. */
  detail?: string;
}

/** Options of `openLoopLoad`. */
export interface LoadOptions {
  url: string;
  /** Requests per second, started on schedule whether earlier ones finished or not. */
  rate: number;
  durationMs: number;
  /** Each request's client-side bound: a request still open after it is recorded as a hang. */
  timeoutMs: number;
  /** Called once per 10 ms tick with the elapsed time, for the test to act mid-load. */
  onTick?: (elapsedMs: number) => void;
}

/**
 * Open-loop load of `POST /orders`: `rate` requests a second for `durationMs`, each with its own
 * traceparent, every outcome recorded (its time includes any wait for one of the 100
 * connections). Bounded in count (rate × duration) and time.
 */
export async function openLoopLoad(options: LoadOptions): Promise<Outcome[]> {
  // At most 100 requests at once in the app, as many as the example's payments bulkhead runs: on
  // a starved machine the backlog waits here, not in the app, where it would overflow the bulkhead.
  const pool = new Pool(options.url, { connections: 100, pipelining: 1 });
  const outcomes: Outcome[] = [];
  const pending: Promise<void>[] = [];
  const total = Math.round((options.rate * options.durationMs) / 1000);
  const started = performance.now();
  const one = async (index: number): Promise<void> => {
    const traceId = randomBytes(16).toString("hex");
    const start = Date.now();
    const outcome: Outcome = { start, end: start, traceId, status: 0 };
    try {
      const res = await pool.request({
        method: "POST",
        path: "/orders",
        headers: {
          "content-type": "application/json",
          traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01`,
        },
        body: JSON.stringify({ customerId: `c${index % 50}`, items: [{ sku: "a", qty: 1 }], amount: 10 }),
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
      outcome.status = res.statusCode;
      const body = (await res.body.json()) as { code?: string; detail?: string };
      if (res.statusCode >= 400) {
        outcome.error = body.code;
        outcome.detail = body.detail;
      }
    } catch (error) {
      outcome.error = (error as { code?: string }).code ?? "client_error";
      outcome.detail = (error as Error).message;
    }
    outcome.end = Date.now();
    outcomes.push(outcome);
  };
  let sent = 0;
  while (sent < total) {
    const elapsed = performance.now() - started;
    const due = Math.min(total, Math.floor((elapsed * options.rate) / 1000) + 1);
    while (sent < due) pending.push(one(sent++));
    options.onTick?.(elapsed);
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(pending);
  await pool.close();
  return outcomes;
}

/** The value of one sample in a Prometheus text exposition (0 when absent). */
export function sample(text: string, series: string): number {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1).split(" ")[0]);
  }
  return 0;
}

/** Sum of every sample of a metric, whatever its labels. */
export function sumOf(text: string, metric: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${metric} `) || line.startsWith(`${metric}{`))
      sum += Number(line.slice(line.lastIndexOf("} ") === -1 ? metric.length + 1 : line.lastIndexOf("} ") + 2));
  }
  return sum;
}

/** GET `admin`/metrics; undefined when the sidecar does not answer. */
export async function scrape(admin: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${admin}/metrics`, { signal: AbortSignal.timeout(2000) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

/** The orders pod with its neighbours: three payments stubs, a recording inventory, an OTLP collector. */
export interface OrdersFixture {
  inventory: Awaited<ReturnType<typeof startRecordingUpstream>>;
  receiver: OtlpReceiver;
  dir: string;
  pod: OrdersPod;
  close(): Promise<void>;
}

/**
 * Starts the orders example under `tandem run` against its neighbours. A charge takes 50 ms, so
 * at 300 req/s some 15 hops are in flight through the sidecar at any time; the app's span queue
 * holds a whole run, so a span missing at the end is one the sidecar lost.
 */
export async function startOrdersFixture(): Promise<OrdersFixture> {
  const payments = await Promise.all([0, 1, 2].map((i) => startStub({ name: `payments-${i}` })));
  for (const stub of payments) stub.setFault({ latencyMs: 50 });
  const inventory = await startRecordingUpstream("inventory");
  const receiver = await startOtlpReceiver();
  const dir = ordersConfigDir(
    payments.map((s) => s.url),
    inventory.url,
    receiver.url,
  );
  const pod = await startOrdersPod(dir, { OTEL_BSP_MAX_QUEUE_SIZE: "20000", OTEL_BSP_SCHEDULE_DELAY: "200" });
  return {
    inventory,
    receiver,
    dir,
    pod,
    close: async () => {
      await pod.stop();
      await Promise.all(payments.map((s) => s.close()));
      await inventory.close();
      await receiver.close();
      removeDir(dir);
    },
  };
}

/**
 * The load both sidecar-fault tests run: ~300 orders a second (TANDEM_FAULTS_RATE changes it, e.g.
 * to compare with a quieter machine) for 12 s, the fault at 4 s, each request bounded by 10 s (the
 * example's payments `timeout.total` is 3 s).
 */
export const FAULT_LOAD = {
  rate: positiveNumber("TANDEM_FAULTS_RATE", 300),
  durationMs: 12_000,
  faultAtMs: 4000,
  requestTimeoutMs: 10_000,
} as const;

/** The `q` quantile of the outcomes' latencies (ms), 0 for none. */
export function percentile(outcomes: readonly Outcome[], q: number): number {
  const sorted = outcomes.map((o) => o.end - o.start).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** The p99 latency (ms) of the requests started in each second of the load. */
export function p99BySecond(outcomes: readonly Outcome[], durationMs: number): number[] {
  const start = Math.min(...outcomes.map((o) => o.start));
  return Array.from({ length: durationMs / 1000 }, (_, i) =>
    percentile(
      outcomes.filter((o) => Math.floor((o.start - start) / 1000) === i),
      0.99,
    ),
  );
}
