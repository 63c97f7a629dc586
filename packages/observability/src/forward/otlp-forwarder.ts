import { promisify } from "node:util";
import { gzip } from "node:zlib";
import type { Counter, Logger } from "@tandem/core";
import { Agent } from "@tandem/core/undici";
import { postWithRetry } from "../internal/otlp-post.js";
import { OTLP_CONTENT_TYPE, type OtlpPayload } from "./otlp-body.js";
import { OtlpQueue, type QueueLimits } from "./otlp-queue.js";

const gzipAsync = promisify(gzip);
const TRACES = { signal: "traces" } as const;

/** How the forwarder retries one batch. */
export interface ForwardRetry {
  /** Attempts in all, the first included. Default 6. */
  maxAttempts: number;
  /** Default 200 ms. */
  baseDelayMs: number;
  /** Default 5000 ms. */
  maxDelayMs: number;
  /** A batch is given up (and counted as dropped) after this long. Default 30 000 ms. */
  maxElapsedMs: number;
}

/** Options of `OtlpForwarder`. */
export interface OtlpForwarderOptions {
  /** The full OTLP/HTTP traces URL, asked before each batch so a config reload applies; `undefined`: none. */
  endpoint(): string | undefined;
  /** Sent with every batch (`OTEL_EXPORTER_OTLP_HEADERS`). */
  headers?: Record<string, string>;
  compression?: "gzip" | "none";
  /** Bound of one attempt. Default 10 000 ms. */
  attemptTimeoutMs?: number;
  /** `tandem_telemetry_dropped_total`: every span given up is counted with `{ signal: "traces" }`. */
  dropped: Counter;
  logger: Logger;
  /** Default 8 MiB and 512 requests. */
  queue?: Partial<QueueLimits>;
  /** A batch holds this many bytes at most (one larger request goes alone). Default 1 MiB. */
  maxBatchBytes?: number;
  /** How long a request waits for others to fill its batch. Default 200 ms. */
  batchDelayMs?: number;
  retry?: Partial<ForwardRetry>;
  /** How long `close` may take to send what is queued. Default 5000 ms. */
  drainTimeoutMs?: number;
  random?: () => number;
}

/** What `offer` did with a request. */
export type OfferResult = "queued" | "full" | "closed";

/**
 * The sidecar's traces pipeline, Collector-agent style: accepted OTLP requests wait in a
 * bounded queue, leave in batches (protobuf requests concatenated, JSON ones merged) through
 * one sender, and are retried on 429/502/503/504 and connection errors with full-jitter
 * backoff or the `Retry-After` asked for. A batch refused for good, out of retries, or still
 * queued when the drain bound passes is counted in `tandem_telemetry_dropped_total{signal="traces"}`.
 */
export class OtlpForwarder {
  readonly #options: OtlpForwarderOptions;
  readonly #queue: OtlpQueue;
  readonly #retry: ForwardRetry;
  readonly #abort = new AbortController();
  #agent: Agent | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #drainDeadline = Number.POSITIVE_INFINITY;
  #failing: string | undefined;

  constructor(options: OtlpForwarderOptions) {
    this.#options = options;
    this.#queue = new OtlpQueue({
      maxBytes: options.queue?.maxBytes ?? 8 * 1024 * 1024,
      maxRequests: options.queue?.maxRequests ?? 512,
    });
    this.#retry = { maxAttempts: 6, baseDelayMs: 200, maxDelayMs: 5000, maxElapsedMs: 30_000, ...options.retry };
  }

  /** True when there is somewhere to forward to. */
  get configured(): boolean {
    return this.#options.endpoint() !== undefined;
  }

  /** Requests and bytes waiting, for tests and diagnostics. */
  get queued(): { requests: number; bytes: number } {
    return { requests: this.#queue.length, bytes: this.#queue.bytes };
  }

  /** Queues an accepted request; `full` and `closed` mean it was not taken (nothing is counted). */
  offer(payload: OtlpPayload): OfferResult {
    if (this.#closing !== undefined) return "closed";
    if (!this.#queue.offer(payload)) return "full";
    this.#schedule();
    return "queued";
  }

  /** Sends everything queued now, retries included. Concurrent calls share the sender. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
      if (this.#queue.length > 0 && this.#closing === undefined) this.#schedule();
    });
    return this.#running;
  }

  /**
   * Stops taking requests and sends what is queued within `drainTimeoutMs`; then aborts what
   * is in flight and counts whatever is left as dropped. Safe to call twice.
   */
  close(): Promise<void> {
    this.#closing ??= this.#drain();
    return this.#closing;
  }

  async #drain(): Promise<void> {
    clearTimeout(this.#timer);
    const timeoutMs = this.#options.drainTimeoutMs ?? 5000;
    this.#drainDeadline = Date.now() + timeoutMs;
    const stop = setTimeout(() => this.#abort.abort(), timeoutMs);
    try {
      await this.#running;
      await this.flush();
    } finally {
      clearTimeout(stop);
      const left = this.#queue.clear();
      if (left.length > 0) this.#drop(spansOf(left), "the drain bound passed before they were sent");
      await this.#agent?.close();
    }
  }

  #schedule(): void {
    if (this.#running !== undefined) return;
    if (this.#queue.bytes >= this.#maxBatchBytes) {
      void this.flush();
      return;
    }
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.#options.batchDelayMs ?? 200);
    this.#timer.unref();
  }

  get #maxBatchBytes(): number {
    return this.#options.maxBatchBytes ?? 1024 * 1024;
  }

  /** At most as many batches as there were requests when it began; later ones wait for the next run. */
  async #run(): Promise<void> {
    for (let left = this.#queue.length; left > 0 && this.#queue.length > 0; left--) {
      await this.#deliver(this.#queue.takeBatch(this.#maxBatchBytes));
    }
  }

  async #deliver(batch: OtlpPayload[]): Promise<void> {
    const spans = spansOf(batch);
    const endpoint = this.#options.endpoint();
    if (endpoint === undefined) {
      this.#drop(spans, "no OTLP endpoint is configured");
      return;
    }
    const encoding = (batch[0] as OtlpPayload).encoding;
    let body =
      encoding === "protobuf"
        ? Buffer.concat(batch.map((p) => p.bytes))
        : Buffer.from(
            `{"resourceSpans":[${batch
              .map((p) => p.bytes.toString("utf8"))
              .filter((s) => s !== "")
              .join(",")}]}`,
          );
    const headers: Record<string, string> = { ...this.#options.headers, "content-type": OTLP_CONTENT_TYPE[encoding] };
    if (this.#options.compression === "gzip") {
      body = await gzipAsync(body);
      headers["content-encoding"] = "gzip";
    }
    const url = new URL(endpoint);
    this.#agent ??= new Agent({ keepAliveTimeout: 30_000, connections: 4 });
    const outcome = await postWithRetry(
      this.#agent,
      { origin: url.origin, path: `${url.pathname}${url.search}`, headers, body },
      {
        ...this.#retry,
        attemptTimeoutMs: this.#options.attemptTimeoutMs ?? 10_000,
        deadline: Math.min(Date.now() + this.#retry.maxElapsedMs, this.#drainDeadline),
        signal: this.#abort.signal,
        ...(this.#options.random === undefined ? {} : { random: this.#options.random }),
      },
    );
    if (outcome.kind === "sent") {
      if (this.#failing !== undefined) {
        this.#failing = undefined;
        this.#options.logger.info({ event: "traces_forward_resumed" }, "traces reach the OTLP endpoint again");
      }
      return;
    }
    this.#drop(
      spans,
      `${outcome.kind === "refused" ? "refused" : "gave up"} after ${outcome.attempts} attempt(s): ${outcome.reason}`,
    );
  }

  /** Counts lost spans; logs once per kind of failure rather than once per batch. */
  #drop(spans: number, reason: string): void {
    this.#options.dropped.inc(TRACES, spans);
    const kind = reason.replace(/\d+/g, "N");
    if (this.#failing === kind) return;
    this.#failing = kind;
    this.#options.logger.warn(
      { event: "traces_dropped", spans, reason },
      "spans could not be forwarded and are dropped (counted in tandem_telemetry_dropped_total)",
    );
  }
}

function spansOf(batch: readonly OtlpPayload[]): number {
  let spans = 0;
  for (const p of batch) spans += p.spans;
  return spans;
}
