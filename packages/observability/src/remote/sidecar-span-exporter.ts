import { type ExportResult, ExportResultCode } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";
import type { Logger, SidecarClient } from "@tandem/core";
import { postWithRetry } from "../internal/otlp-post.js";

/** Options of `SidecarSpanExporter`. */
export interface SidecarSpanExporterOptions {
  client: SidecarClient;
  logger: Logger;
  /** Bound of one export, retries included (`OTEL_EXPORTER_OTLP_TIMEOUT`). Default 10 000 ms. */
  timeoutMs?: number;
  /** How long to stop sending after the sidecar said it forwards traces nowhere. Default 30 000 ms. */
  pauseMs?: number;
}

const FAILED = (message: string): ExportResult => ({ code: ExportResultCode.FAILED, error: new Error(message) });

/**
 * The span exporter of sidecar mode: OTLP/HTTP protobuf to the sidecar's `POST /v1/traces`,
 * over the sidecar client's keep-alive connections (TCP or unix socket) with its token.
 * Retryable failures (the sidecar's queue full, the sidecar restarting) are retried, at least
 * once a second, until the export's bound (`OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s) passes; what
 * still fails is reported to the batch processor, which counts the spans
 * in `tandem_telemetry_dropped_total{signal="traces"}`. One log line per outage, not per batch.
 */
export class SidecarSpanExporter implements SpanExporter {
  readonly #options: SidecarSpanExporterOptions;
  readonly #pending = new Set<Promise<void>>();
  #pausedUntil = 0;
  #failing: string | undefined;
  #shutdown = false;

  constructor(options: SidecarSpanExporterOptions) {
    this.#options = options;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    if (this.#shutdown || Date.now() < this.#pausedUntil) {
      done(FAILED(this.#shutdown ? "the exporter is shut down" : "the sidecar forwards no traces"));
      return;
    }
    const sending = this.#send(spans).then(done);
    this.#pending.add(sending);
    void sending.finally(() => this.#pending.delete(sending));
  }

  /** Waits for the exports in flight (each is bounded), then refuses new ones. */
  async shutdown(): Promise<void> {
    this.#shutdown = true;
    await this.forceFlush();
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this.#pending);
  }

  async #send(spans: ReadableSpan[]): Promise<ExportResult> {
    const { ProtobufTraceSerializer } = await import("@opentelemetry/otlp-transformer");
    const body = ProtobufTraceSerializer.serializeRequest(spans);
    if (body === undefined) return FAILED("the spans could not be serialized");
    const { client } = this.#options;
    const outcome = await postWithRetry(
      client.dispatcher,
      { path: "/v1/traces", headers: client.headers({ "content-type": "application/x-protobuf" }), body },
      {
        // The export's bound, not a count of attempts, decides how long spans wait for a
        // sidecar that is away (restarting): tried at least every second until then.
        maxAttempts: Number.POSITIVE_INFINITY,
        baseDelayMs: 100,
        maxDelayMs: 1000,
        deadline: Date.now() + (this.#options.timeoutMs ?? 10_000),
      },
    );
    if (outcome.kind === "sent") {
      if (this.#failing !== undefined) {
        this.#failing = undefined;
        this.#options.logger.info({ event: "traces_export_resumed" }, "spans reach the sidecar again");
      }
      return { code: ExportResultCode.SUCCESS };
    }
    const notForwarded = outcome.kind === "refused" && outcome.code === "not_configured";
    if (notForwarded) this.#pausedUntil = Date.now() + (this.#options.pauseMs ?? 30_000);
    const why = notForwarded ? "the sidecar has no OTLP endpoint to forward traces to" : outcome.reason;
    if (this.#failing !== why) {
      this.#failing = why;
      this.#options.logger.warn(
        { event: "traces_export_failed", reason: why, spans: spans.length },
        "spans could not be sent to the sidecar and are dropped (counted in tandem_telemetry_dropped_total)",
      );
    }
    return FAILED(why);
  }
}
