import { dirname } from "node:path";
import { type Concern, type ConcernContext, type ConcernInstance, type Facets, randomHex } from "@tandem/core";
import { pino } from "pino";
import { OtlpForwarder } from "./forward/otlp-forwarder.js";
import { LogSinks } from "./logs/log-sinks.js";
import { OtlpLogSink } from "./logs/otlp-log-sink.js";
import { secretRedactor } from "./logs/secret-redactor.js";
import { traceMixin } from "./logs/trace-mixin.js";
import { PodMetrics } from "./metrics/pod-metrics.js";
import { LogShipper } from "./remote/log-shipper.js";
import { RemoteMetrics } from "./remote/remote-metrics.js";
import { SidecarSpanExporter } from "./remote/sidecar-span-exporter.js";
import { logsRoutes, metricsRoutes, tracesRoutes } from "./routes.js";
import { telemetryDropped } from "./telemetry-dropped.js";
import { LazyOtlpExporter } from "./traces/otlp-exporter.js";
import { readTraceEnv, type TraceEnv, tracesUrl } from "./traces/trace-env.js";
import { startTracing } from "./traces/tracing.js";

// `logger` only in sidecar mode: library mode keeps the runtime's pino to stdout.
type ObservabilityFacets = Pick<Facets, "metrics" | "tracer"> & Partial<Pick<Facets, "logger">>;

interface LocalObservability extends ConcernInstance<ObservabilityFacets> {
  pod: PodMetrics;
  /** The traces pipeline of the sidecar, made when the sidecar asks for the routes. */
  forwarder(): OtlpForwarder;
  /** The sidecar's log sinks (`telemetry.logs`), made when the sidecar asks for the routes. */
  logSinks(): LogSinks;
}

/** This process's id in its pod: the pid alone may repeat across containers of one pod. */
function processId(): string {
  return `${process.pid}-${randomHex(3)}`;
}

/**
 * Where the sidecar forwards traces: its own `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`, else
 * `telemetry.traces.export.otlp` as the config holds it now (read per batch: a reload applies).
 */
function forwardEndpoint(env: TraceEnv, context: ConcernContext): () => string | undefined {
  return () => {
    if (env.endpoint !== undefined) return env.endpoint;
    const configured = context.facets.config?.get<string>("telemetry.traces.export.otlp");
    return configured === undefined ? undefined : tracesUrl(configured);
  };
}

/**
 * Where the `otlp` log sink exports: `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` as it is, else
 * `/v1/logs` under `OTEL_EXPORTER_OTLP_ENDPOINT` or under `telemetry.traces.export.otlp` (read
 * per batch: a reload applies).
 */
function logsEndpoint(context: ConcernContext): () => string | undefined {
  const logs = context.variables.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT?.trim();
  const base = context.variables.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  return () => {
    if (logs !== undefined && logs !== "") return logs;
    const root =
      base !== undefined && base !== "" ? base : context.facets.config?.get<string>("telemetry.traces.export.otlp");
    return root === undefined ? undefined : `${root.endsWith("/") ? root : `${root}/`}v1/logs`;
  };
}

/**
 * Metrics and traces. Metrics are recorded in-process in both modes; exposed by the service in
 * library mode, merged for the whole pod by the sidecar in sidecar mode. Traces come from an
 * OpenTelemetry SDK in the service (unless the service registered its own), exported over
 * OTLP/HTTP straight to the configured endpoint in library mode, or to the sidecar in sidecar
 * mode, which batches and forwards them.
 */
export const observabilityConcern: Concern<ObservabilityFacets, LocalObservability> = {
  name: "observability",

  async local(context) {
    const env = readTraceEnv(context.variables);
    const pod = new PodMetrics({ self: processId() });
    const metrics = pod.ownMetrics();
    const tracing = startTracing({
      env,
      facets: context.facets,
      logger: context.logger,
      metrics,
      exporter: (settings) =>
        settings.endpoint === undefined ? undefined : new LazyOtlpExporter(settings.endpoint, env),
    });
    let forwarder: OtlpForwarder | undefined;
    let sinks: LogSinks | undefined;
    return {
      pod,
      facets: { metrics, tracer: tracing.tracer },
      started: () => tracing.prepare(),
      metricsText: (openMetrics) => pod.text(openMetrics),
      forwarder: () => {
        forwarder ??= new OtlpForwarder({
          endpoint: forwardEndpoint(env, context),
          headers: env.headers,
          compression: env.compression,
          attemptTimeoutMs: env.timeoutMs,
          dropped: telemetryDropped(metrics),
          logger: context.logger,
        });
        return forwarder;
      },
      logSinks: () => {
        const configPath = context.env.configPath;
        sinks ??= new LogSinks(
          () => context.facets.config,
          configPath === undefined ? process.cwd() : dirname(configPath),
          undefined,
          new OtlpLogSink({
            endpoint: logsEndpoint(context),
            service: () =>
              context.variables.OTEL_SERVICE_NAME ?? context.facets.config?.get<string>("service") ?? "unknown_service",
            headers: env.headers,
            dropped: telemetryDropped(metrics),
            logger: context.logger,
          }),
        );
        return sinks;
      },
      close: async () => {
        await tracing.close();
        await forwarder?.close();
        await sinks?.close();
      },
    };
  },

  async remote(context) {
    const env = readTraceEnv(context.variables);
    const self = processId();
    const metrics = new RemoteMetrics({ client: context.client, logger: context.logger, process: self });
    const tracing = startTracing({
      env,
      facets: context.facets,
      logger: context.logger,
      metrics,
      exporter: () =>
        new SidecarSpanExporter({ client: context.client, logger: context.logger, timeoutMs: env.timeoutMs }),
    });
    // rt.logger: pino as in library mode, its lines batched to the sidecar instead of stdout.
    const shipper = new LogShipper({
      client: context.client,
      logger: context.logger,
      dropped: telemetryDropped(metrics),
      process: self,
    });
    const logger = pino({ level: context.env.logLevel ?? "info", mixin: traceMixin }, shipper);
    return {
      facets: { metrics, tracer: tracing.tracer, logger },
      started: () => tracing.prepare(),
      close: async () => {
        // Spans and lines first: what they fail to deliver is counted in the metrics flushed after them.
        await tracing.close();
        await shipper.close();
        await metrics.close();
      },
    };
  },

  routes: (instance, context) => [
    ...metricsRoutes(instance.pod),
    ...tracesRoutes(instance.forwarder()),
    ...logsRoutes({ sinks: instance.logSinks(), redactor: secretRedactor(() => context.facets.secrets) }),
  ],
};
