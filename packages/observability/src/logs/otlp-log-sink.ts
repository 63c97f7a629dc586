import type { Counter, Logger } from "@tandem/core";
import { Pool } from "@tandem/core/undici";
import { postWithRetry } from "../internal/otlp-post.js";

/** Options of `OtlpLogSink`. */
export interface OtlpLogSinkOptions {
  /** The logs URL (`.../v1/logs`) now, or `undefined` when there is none (lines dropped, counted). */
  endpoint: () => string | undefined;
  /** The resource's `service.name` now. */
  service: () => string;
  headers?: Record<string, string>;
  dropped: Counter;
  logger: Logger;
  /** Records held at most; beyond, new lines are dropped (counted). Default 10 000. */
  maxQueued?: number;
  /** Records per export. Default 512. */
  batchSize?: number;
  /** How often the queue is exported. Default 1000 ms. */
  intervalMs?: number;
  /** Bound of one export, retries included. Default 10 000 ms. */
  timeoutMs?: number;
}

/** pino's numeric levels to OpenTelemetry's SeverityNumber and text. */
const SEVERITY: Record<number, [number, string]> = {
  10: [1, "TRACE"],
  20: [5, "DEBUG"],
  30: [9, "INFO"],
  40: [13, "WARN"],
  50: [17, "ERROR"],
  60: [21, "FATAL"],
};

/** Fields that become parts of the log record itself rather than attributes. */
const RECORD_FIELDS = new Set(["time", "level", "msg", "trace_id", "span_id", "trace_flags"]);

/**
 * The `otlp` log sink of the sidecar: pino lines become OTLP LogRecords (severity from the pino
 * level, body from `msg`, trace and span ids from `trace_id`/`span_id`, the other fields as
 * attributes) exported as OTLP/HTTP JSON to `/v1/logs`, batched every second, retried on
 * 429/502/503/504 within a bound. The queue is bounded; what is dropped is counted in
 * `tandem_telemetry_dropped_total{signal="logs"}`.
 */
export class OtlpLogSink {
  readonly #options: OtlpLogSinkOptions;
  #queue: Record<string, unknown>[] = [];
  #pool: { origin: string; pool: Pool } | undefined;
  #sending: Promise<void> | undefined;
  #warned: string | undefined;
  readonly #timer: NodeJS.Timeout;

  constructor(options: OtlpLogSinkOptions) {
    this.#options = options;
    this.#timer = setInterval(() => void this.flush(), options.intervalMs ?? 1000);
    this.#timer.unref();
  }

  /** Queues the lines (JSON objects, redacted already); never blocks. */
  write(lines: readonly string[]): void {
    const max = this.#options.maxQueued ?? 10_000;
    let dropped = 0;
    for (const line of lines) {
      if (this.#queue.length >= max) {
        dropped++;
        continue;
      }
      this.#queue.push(toLogRecord(JSON.parse(line) as Record<string, unknown>));
    }
    if (dropped > 0) this.#options.dropped.inc({ signal: "logs" }, dropped);
  }

  /** Exports what is queued, one batch at a time; never rejects. */
  flush(): Promise<void> {
    this.#sending ??= this.#drain().finally(() => {
      this.#sending = undefined;
    });
    return this.#sending;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sending;
    await this.flush();
    if (this.#queue.length > 0) this.#options.dropped.inc({ signal: "logs" }, this.#queue.length);
    this.#queue = [];
    await this.#pool?.pool.close();
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#options.batchSize ?? 512);
      const endpoint = this.#options.endpoint();
      if (endpoint === undefined) {
        this.#options.dropped.inc({ signal: "logs" }, batch.length);
        this.#warn(
          "nowhere",
          "the otlp log sink has no endpoint: set OTEL_EXPORTER_OTLP_ENDPOINT or telemetry.traces.export.otlp",
        );
        continue;
      }
      const url = new URL(endpoint);
      if (this.#pool?.origin !== url.origin) {
        void this.#pool?.pool.close();
        this.#pool = { origin: url.origin, pool: new Pool(url.origin, { connections: 2 }) };
      }
      const body = {
        resourceLogs: [
          {
            resource: { attributes: [{ key: "service.name", value: { stringValue: this.#options.service() } }] },
            scopeLogs: [{ scope: { name: "tandem" }, logRecords: batch }],
          },
        ],
      };
      const outcome = await postWithRetry(
        this.#pool.pool,
        {
          path: `${url.pathname}${url.search}`,
          headers: { ...this.#options.headers, "content-type": "application/json" },
          body: Buffer.from(JSON.stringify(body)),
        },
        {
          maxAttempts: 5,
          baseDelayMs: 100,
          maxDelayMs: 2000,
          deadline: Date.now() + (this.#options.timeoutMs ?? 10_000),
        },
      );
      if (outcome.kind !== "sent") {
        this.#options.dropped.inc({ signal: "logs" }, batch.length);
        this.#warn(outcome.reason, `log records could not be exported to ${url.origin} and are dropped`);
        return;
      }
      this.#warned = undefined;
    }
  }

  #warn(reason: string, message: string): void {
    if (this.#warned === reason) return;
    this.#warned = reason;
    this.#options.logger.warn({ event: "logs_otlp_failed", reason }, message);
  }
}

/** One pino line as an OTLP/JSON LogRecord. */
function toLogRecord(line: Record<string, unknown>): Record<string, unknown> {
  const level = typeof line.level === "number" ? line.level : 30;
  const [severityNumber, severityText] = SEVERITY[level] ?? [9, "INFO"];
  const time = typeof line.time === "number" ? line.time : Date.now();
  const record: Record<string, unknown> = {
    timeUnixNano: `${BigInt(Math.round(time)) * 1_000_000n}`,
    severityNumber,
    severityText,
    body: { stringValue: typeof line.msg === "string" ? line.msg : "" },
    attributes: Object.entries(line)
      .filter(([key]) => !RECORD_FIELDS.has(key))
      .map(([key, value]) => ({ key, value: anyValue(value) })),
  };
  if (typeof line.trace_id === "string" && /^[0-9a-f]{32}$/.test(line.trace_id)) record.traceId = line.trace_id;
  if (typeof line.span_id === "string" && /^[0-9a-f]{16}$/.test(line.span_id)) record.spanId = line.span_id;
  if (typeof line.trace_flags === "string") record.flags = Number.parseInt(line.trace_flags, 16) || 0;
  return record;
}

function anyValue(value: unknown): Record<string, unknown> {
  if (typeof value === "string") return { stringValue: value };
  if (typeof value === "boolean") return { boolValue: value };
  if (typeof value === "number") return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  return { stringValue: JSON.stringify(value) ?? "" };
}
