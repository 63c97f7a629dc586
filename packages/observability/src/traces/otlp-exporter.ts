import { type ExportResult, ExportResultCode } from "@opentelemetry/core";
import type { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";
import type { TraceEnv } from "./trace-env.js";

type ExporterConfig = NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>;

/**
 * The standard OTLP/HTTP protobuf exporter (retries on 429/502/503/504 with Retry-After,
 * timeouts, gzip), loaded at the first export: a service that never exports spans does not pay
 * for loading it at start-up.
 */
export class LazyOtlpExporter implements SpanExporter {
  readonly #config: ExporterConfig;
  #exporter: Promise<SpanExporter> | undefined;

  constructor(url: string, env: TraceEnv) {
    this.#config = {
      url,
      headers: env.headers,
      timeoutMillis: env.timeoutMs,
      compression: env.compression as ExporterConfig["compression"],
    };
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.#load().then(
      (exporter) => exporter.export(spans, done),
      (error: Error) => done({ code: ExportResultCode.FAILED, error }),
    );
  }

  async shutdown(): Promise<void> {
    if (this.#exporter !== undefined) await (await this.#exporter).shutdown();
  }

  async forceFlush(): Promise<void> {
    if (this.#exporter !== undefined) await (await this.#exporter).forceFlush?.();
  }

  #load(): Promise<SpanExporter> {
    this.#exporter ??= import("@opentelemetry/exporter-trace-otlp-proto").then(
      ({ OTLPTraceExporter }) => new OTLPTraceExporter(this.#config),
    );
    return this.#exporter;
  }
}
