import { readdirSync, readFileSync } from "node:fs";
import { constants, createHistogram, PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics } from "node:v8";

const TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];
/** How often the event-loop delay is sampled (prom-client's `monitorEventLoopDelay` resolution). */
const SAMPLE_EVERY_MS = 10;
/** How long the event-loop delay is still sampled after the last request. */
const SAMPLE_AFTER_REQUEST_MS = 2000;
const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
};

type Labels = Readonly<Record<string, string>>;
/** Labels, value, and for histograms the sample's suffix (`_bucket`, `_sum`, `_count`). */
type Sample = readonly [labels: Labels, value: number, suffix?: string];

interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  samples: readonly Sample[];
}

/** Options of `ProcessMetrics`. */
interface ProcessMetricsOptions {
  /** How long the event-loop delay is still sampled after the last request. Default 2000 ms. */
  sampleAfterRequestMs?: number;
}

interface GcSeries {
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * The sidecar's own metrics: the process and Node.js runtime metrics Prometheus clients export
 * (the names, help and types of prom-client's defaults, without the `*_total` gauges promtool
 * flags), and its lifecycle state. Values are read at each scrape; one event-loop delay monitor
 * and one GC observer serve both formats. The event-loop delay is sampled as prom-client's
 * `monitorEventLoopDelay` does (the time between turns of a 10 ms timer, in a histogram reset at
 * each scrape), but only while the API listener serves requests and for `sampleAfterRequestMs`
 * after the last one: an idle sidecar's loop has no delay to measure, and that timer was all that
 * woke it, 100 times a second. Probes and scrapes on the admin listener do not start it. Node's
 * monitor cannot be paused: enabled again, its first sample would be the whole idle gap.
 */
export class ProcessMetrics {
  readonly #version: string;
  #ready = 0;
  #inflight = 0;
  readonly #loopDelay = createHistogram();
  readonly #sampleAfterRequestMs: number;
  #sampler: NodeJS.Timeout | undefined;
  /** `performance.now()` at the sampler's last turn; 0 while it is stopped. */
  #lastTurn = 0;
  /** How long the sampler has turned since the last API request, with none in progress. */
  #quietMs = 0;
  readonly #gc = new Map<string, GcSeries>();
  #maxFds: number | undefined | null = null;

  constructor(version: string, options: ProcessMetricsOptions = {}) {
    this.#version = version;
    this.#sampleAfterRequestMs = options.sampleAfterRequestMs ?? SAMPLE_AFTER_REQUEST_MS;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        // A GC entry's detail says which kind of collection it was.
        const detail = (entry as { detail?: { kind?: number } }).detail;
        const kind = GC_KINDS[detail?.kind ?? -1];
        if (kind !== undefined) this.#observeGc(kind, entry.duration / 1000);
      }
    }).observe({ entryTypes: ["gc"] });
  }

  setReady(ready: boolean): void {
    this.#ready = ready ? 1 : 0;
  }

  /** The requests in progress; called as each one starts and ends. */
  setInflight(count: number): void {
    this.#inflight = count;
  }

  /** A request on the API listener: the event-loop delay is sampled until a while after the last one. */
  noteRequest(): void {
    this.#quietMs = 0;
    if (this.#lastTurn !== 0) return;
    this.#lastTurn = performance.now();
    // One timer, re-armed with refresh() at each turn (which also revives it once it has fired);
    // it holds no process open.
    if (this.#sampler === undefined) {
      this.#sampler = setTimeout(() => this.#turn(), SAMPLE_EVERY_MS);
      this.#sampler.unref();
    } else this.#sampler.refresh();
  }

  #turn(): void {
    const now = performance.now();
    this.#loopDelay.record(Math.max(1, Math.round((now - this.#lastTurn) * 1e6)));
    this.#lastTurn = now;
    if (this.#inflight > 0) this.#quietMs = 0;
    else {
      this.#quietMs += SAMPLE_EVERY_MS;
      if (this.#quietMs >= this.#sampleAfterRequestMs) {
        this.#lastTurn = 0;
        return;
      }
    }
    this.#sampler?.refresh();
  }

  /** The exposition for a scrape, OpenMetrics when the scraper asks for it. */
  async expose(accept: string | undefined): Promise<{ contentType: string; body: string }> {
    const openMetrics = accept?.includes("application/openmetrics-text") ?? false;
    const families = await this.#collect();
    const body = openMetrics
      ? `${families.map(openMetricsFamily).join("")}# EOF\n`
      : families.map(textFamily).join("\n");
    return { contentType: openMetrics ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE, body };
  }

  #observeGc(kind: string, seconds: number): void {
    let series = this.#gc.get(kind);
    if (series === undefined) {
      series = { buckets: GC_BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.#gc.set(kind, series);
    }
    GC_BUCKETS.forEach((le, i) => {
      if (seconds <= le) series.buckets[i] = (series.buckets[i] ?? 0) + 1;
    });
    series.sum += seconds;
    series.count++;
  }

  async #collect(): Promise<Family[]> {
    const lag = await eventLoopLag();
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    const status = procStatus();
    const families: Family[] = [
      counter("process_cpu_user_seconds_total", "Total user CPU time spent in seconds.", cpu.user / 1e6),
      counter("process_cpu_system_seconds_total", "Total system CPU time spent in seconds.", cpu.system / 1e6),
      counter(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
        (cpu.user + cpu.system) / 1e6,
      ),
      gauge(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        Math.round(Date.now() / 1000 - process.uptime()),
      ),
      gauge("process_resident_memory_bytes", "Resident memory size in bytes.", status?.VmRSS ?? memory.rss),
    ];
    if (status !== undefined) {
      families.push(
        gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", status.VmSize ?? 0),
        gauge("process_heap_bytes", "Process heap size in bytes.", status.VmData ?? 0),
      );
    }
    const openFds = openFileDescriptors();
    if (openFds !== undefined) families.push(gauge("process_open_fds", "Number of open file descriptors.", openFds));
    this.#maxFds ??= maxFileDescriptors();
    if (this.#maxFds !== undefined) {
      families.push(gauge("process_max_fds", "Maximum number of open file descriptors.", this.#maxFds));
    }
    families.push(gauge("nodejs_eventloop_lag_seconds", "Lag of event loop in seconds.", lag));
    const delay = this.#loopDelay;
    // No samples since the last scrape (an idle sidecar): no delay, rather than the empty
    // histogram's placeholders (a min of 2^63 ns, a mean of NaN).
    const sampled = delay.count > 0;
    const stat = (name: string, help: string, nanoseconds: number) =>
      families.push(gauge(`nodejs_eventloop_lag_${name}_seconds`, help, sampled ? nanoseconds / 1e9 : 0));
    stat("min", "The minimum recorded event loop delay.", delay.min);
    stat("max", "The maximum recorded event loop delay.", delay.max);
    stat("mean", "The mean of the recorded event loop delays.", delay.mean);
    stat("stddev", "The standard deviation of the recorded event loop delays.", delay.stddev);
    stat("p50", "The 50th percentile of the recorded event loop delays.", delay.percentile(50));
    stat("p90", "The 90th percentile of the recorded event loop delays.", delay.percentile(90));
    stat("p99", "The 99th percentile of the recorded event loop delays.", delay.percentile(99));
    delay.reset();
    families.push(
      byType(
        "nodejs_active_resources",
        "Number of active resources that are currently keeping the event loop alive, grouped by async resource type.",
        process.getActiveResourcesInfo(),
      ),
      byType(
        "nodejs_active_handles",
        "Number of active libuv handles grouped by handle type. Every handle type is C++ class name.",
        activeNames("_getActiveHandles"),
      ),
      byType(
        "nodejs_active_requests",
        "Number of active libuv requests grouped by request type. Every request type is C++ class name.",
        activeNames("_getActiveRequests"),
      ),
      gauge("nodejs_heap_size_total_bytes", "Process heap size from Node.js in bytes.", memory.heapTotal),
      gauge("nodejs_heap_size_used_bytes", "Process heap size used from Node.js in bytes.", memory.heapUsed),
      gauge("nodejs_external_memory_bytes", "Node.js external memory size in bytes.", memory.external),
    );
    const spaces = getHeapSpaceStatistics();
    const space = (suffix: string, help: string, value: (s: (typeof spaces)[number]) => number): Family => ({
      name: `nodejs_heap_space_size_${suffix}_bytes`,
      help,
      type: "gauge",
      samples: spaces.map((s) => [{ space: s.space_name.replace(/_space$/, "") }, value(s)] as const),
    });
    const [major = "", minor = "", patch = ""] = process.version.slice(1).split(".");
    families.push(
      space("total", "Process heap space size total from Node.js in bytes.", (s) => s.space_size),
      space("used", "Process heap space size used from Node.js in bytes.", (s) => s.space_used_size),
      space("available", "Process heap space size available from Node.js in bytes.", (s) => s.space_available_size),
      {
        name: "nodejs_version_info",
        help: "Node.js version info.",
        type: "gauge",
        samples: [[{ version: process.version, major, minor, patch }, 1]],
      },
      this.#gcFamily(),
      {
        name: "tandem_build_info",
        help: "Always 1; the labels say which tandem build runs.",
        type: "gauge",
        samples: [[{ version: this.#version, node_version: process.version }, 1]],
      },
      gauge(
        "tandem_sidecar_ready",
        "1 while the sidecar is ready to serve, 0 while starting or draining.",
        this.#ready,
      ),
      gauge(
        "tandem_sidecar_inflight_requests",
        "Requests the sidecar is serving now, event streams excluded.",
        this.#inflight,
      ),
    );
    return families;
  }

  #gcFamily(): Family {
    const samples: Sample[] = [];
    for (const [kind, series] of this.#gc) {
      GC_BUCKETS.forEach((le, i) => {
        samples.push([{ le: String(le), kind }, series.buckets[i] as number, "_bucket"]);
      });
      samples.push(
        [{ le: "+Inf", kind }, series.count, "_bucket"],
        [{ kind }, series.sum, "_sum"],
        [{ kind }, series.count, "_count"],
      );
    }
    return {
      name: "nodejs_gc_duration_seconds",
      help: "Garbage collection duration by kind, one of major, minor, incremental or weakcb.",
      type: "histogram",
      samples,
    };
  }
}

function counter(name: string, help: string, value: number): Family {
  return { name, help, type: "counter", samples: [[{}, value]] };
}

function gauge(name: string, help: string, value: number): Family {
  return { name, help, type: "gauge", samples: [[{}, value]] };
}

function byType(name: string, help: string, types: readonly string[]): Family {
  const counts = new Map<string, number>();
  for (const type of types) counts.set(type, (counts.get(type) ?? 0) + 1);
  return { name, help, type: "gauge", samples: [...counts].map(([type, n]) => [{ type }, n] as const) };
}

/** Constructor names of what `process._getActiveHandles()` / `_getActiveRequests()` return. */
function activeNames(method: "_getActiveHandles" | "_getActiveRequests"): string[] {
  const list = (process as unknown as Record<string, (() => object[]) | undefined>)[method]?.() ?? [];
  return list.map((item) => item?.constructor?.name ?? "unknown");
}

/** How long a callback queued now waits for the event loop, in seconds. */
function eventLoopLag(): Promise<number> {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => setImmediate(() => resolve(Number(process.hrtime.bigint() - start) / 1e9)));
}

/** VmRSS, VmSize and VmData in bytes, on Linux. */
function procStatus(): Record<string, number> | undefined {
  if (process.platform !== "linux") return undefined;
  try {
    const values: Record<string, number> = {};
    for (const line of readFileSync("/proc/self/status", "utf8").split("\n")) {
      const match = /^(VmRSS|VmSize|VmData):\s+(\d+) kB/.exec(line);
      if (match !== null) values[match[1] as string] = Number(match[2]) * 1024;
    }
    return values;
  } catch {
    return undefined;
  }
}

function openFileDescriptors(): number | undefined {
  if (process.platform !== "linux") return undefined;
  try {
    // One descriptor is readdir's own, closed by now.
    return readdirSync("/proc/self/fd").length - 1;
  } catch {
    return undefined;
  }
}

function maxFileDescriptors(): number | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const max = Number(line?.split(/ {2,}/)[1]);
    return Number.isFinite(max) ? max : undefined;
  } catch {
    return undefined;
  }
}

function labelText(labels: Labels): string {
  const pairs = Object.entries(labels);
  if (pairs.length === 0) return "";
  return `{${pairs.map(([key, value]) => `${key}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`).join(",")}}`;
}

function value(n: number): string {
  if (n === Number.POSITIVE_INFINITY) return "+Inf";
  if (n === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(n);
}

/** Prometheus text format 0.0.4: counters are named with their `_total`. */
function textFamily(family: Family): string {
  let out = `# HELP ${family.name} ${family.help}\n# TYPE ${family.name} ${family.type}\n`;
  for (const [labels, n, suffix = ""] of family.samples)
    out += `${family.name}${suffix}${labelText(labels)} ${value(n)}\n`;
  return out;
}

/** OpenMetrics 1.0: a counter's family name drops `_total`, which its sample carries. */
function openMetricsFamily(family: Family): string {
  const name = family.type === "counter" ? family.name.replace(/_total$/, "") : family.name;
  let out = `# HELP ${name} ${family.help}\n# TYPE ${name} ${family.type}\n`;
  for (const [labels, n, suffix = ""] of family.samples) {
    out += `${family.type === "counter" ? `${name}_total` : `${name}${suffix}`}${labelText(labels)} ${value(n)}\n`;
  }
  return out;
}
