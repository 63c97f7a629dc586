import type { Counter, Logger, SidecarClient } from "@tandem/core";
import { postWithRetry } from "../internal/otlp-post.js";

/** Options of `LogShipper`. */
export interface LogShipperOptions {
  client: SidecarClient;
  /** tandem's own logger, for one line per outage (never through the shipper itself). */
  logger: Logger;
  /** `tandem_telemetry_dropped_total`, counted with `{ signal: "logs" }`. */
  dropped: Counter;
  /** This process's id in the pod, added to every line by the sidecar. */
  process: string;
  /** Lines held at most; beyond, the oldest are dropped (counted). Default 10 000. */
  maxLines?: number;
  /** Bytes held at most; beyond, the oldest are dropped (counted). Default 8 MiB. */
  maxBytes?: number;
  /** Bytes per POST, at first: halved for as long as the sidecar answers 413. Default 512 KiB. */
  batchBytes?: number;
  /** How often lines are sent. Default 1000 ms. */
  intervalMs?: number;
  /** Bound of one POST. Default 5000 ms. */
  timeoutMs?: number;
}

/**
 * The pino destination of `rt.logger` in sidecar mode: `write` only appends the line to a
 * bounded buffer (the app never waits), and a timer sends the buffer to the sidecar's
 * `POST /v1/logs` as NDJSON. While the sidecar is away the lines wait and go once it is back;
 * when the buffer is full the oldest lines are dropped and counted in
 * `tandem_telemetry_dropped_total{signal="logs"}`.
 */
export class LogShipper {
  readonly #options: LogShipperOptions;
  readonly #maxLines: number;
  readonly #maxBytes: number;
  #lines: string[] = [];
  /** Index of the first line not yet sent: the array is compacted when a batch leaves. */
  #head = 0;
  #bytes = 0;
  #sending: Promise<void> | undefined;
  #failing: string | undefined;
  #closed = false;
  #batchBytes: number;
  readonly #timer: NodeJS.Timeout;

  constructor(options: LogShipperOptions) {
    this.#options = options;
    this.#maxLines = options.maxLines ?? 10_000;
    this.#maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
    this.#batchBytes = options.batchBytes ?? 512 * 1024;
    this.#timer = setInterval(() => void this.flush(), options.intervalMs ?? 1000);
    this.#timer.unref();
  }

  /** Lines waiting to be sent. */
  get pending(): number {
    return this.#lines.length - this.#head;
  }

  /** pino's destination interface: one serialized line, newline included. */
  write(line: string): boolean {
    if (this.#closed) {
      this.#options.dropped.inc({ signal: "logs" });
      return true;
    }
    const text = line.endsWith("\n") ? line.slice(0, -1) : line;
    this.#lines.push(text);
    this.#bytes += text.length + 1;
    let dropped = 0;
    while (this.pending > this.#maxLines || (this.#bytes > this.#maxBytes && this.pending > 1)) {
      this.#bytes -= (this.#lines[this.#head] as string).length + 1;
      this.#head++;
      dropped++;
    }
    if (dropped > 0) this.#options.dropped.inc({ signal: "logs" }, dropped);
    return true;
  }

  /** Sends what is buffered now, one POST at a time; never rejects. */
  flush(): Promise<void> {
    this.#sending ??= this.#drain().finally(() => {
      this.#sending = undefined;
    });
    return this.#sending;
  }

  /** Stops the timer, sends what is left (bounded by `timeoutMs`), and drops what still fails. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#sending;
    await this.flush();
    if (this.pending > 0) {
      this.#options.dropped.inc({ signal: "logs" }, this.pending);
      this.#lines = [];
      this.#head = 0;
      this.#bytes = 0;
    }
  }

  async #drain(): Promise<void> {
    // Bounded: each round sends or drops at least one line, halves the batch, or stops.
    while (this.pending > 0) {
      const batchBytes = this.#batchBytes;
      let end = this.#head;
      let size = 0;
      while (
        end < this.#lines.length &&
        (end === this.#head || size + (this.#lines[end] as string).length + 1 <= batchBytes)
      ) {
        size += (this.#lines[end] as string).length + 1;
        end++;
      }
      const body = Buffer.from(`${this.#lines.slice(this.#head, end).join("\n")}\n`);
      const { client } = this.#options;
      const outcome = await postWithRetry(
        client.dispatcher,
        {
          path: "/v1/logs",
          headers: client.headers({
            "content-type": "application/x-ndjson",
            "x-tandem-process": this.#options.process,
          }),
          body,
        },
        { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0, deadline: Date.now() + (this.#options.timeoutMs ?? 5000) },
      );
      if (outcome.kind === "refused" && outcome.status === 413 && end - this.#head > 1) {
        // The sidecar runs with a smaller --max-body: send smaller batches from now on.
        this.#batchBytes = Math.max(1, Math.floor(size / 2));
        continue;
      }
      if (outcome.kind === "sent" || (outcome.kind === "refused" && outcome.status >= 400)) {
        // A refusal (a line the sidecar cannot read) would be refused again: drop and count.
        // Lines the bound pushed out while the POST was out are counted already.
        if (outcome.kind === "refused") this.#options.dropped.inc({ signal: "logs" }, Math.max(0, end - this.#head));
        this.#consume(end);
        this.#recovered();
        continue;
      }
      this.#failed(outcome.reason);
      return;
    }
  }

  /** Removes the lines before `end` (those not already dropped by the bound). */
  #consume(end: number): void {
    for (let i = this.#head; i < end; i++) this.#bytes -= (this.#lines[i] as string).length + 1;
    this.#head = Math.max(this.#head, end);
    if (this.#head > 1024 || this.#head === this.#lines.length) {
      this.#lines = this.#lines.slice(this.#head);
      this.#head = 0;
    }
  }

  #recovered(): void {
    if (this.#failing === undefined) return;
    this.#failing = undefined;
    this.#options.logger.info({ event: "logs_export_resumed" }, "log lines reach the sidecar again");
  }

  #failed(reason: string): void {
    if (this.#failing === reason) return;
    this.#failing = reason;
    this.#options.logger.warn(
      { event: "logs_export_failed", reason, pending: this.pending },
      "log lines could not be sent to the sidecar; they wait in the bounded buffer",
    );
  }
}
