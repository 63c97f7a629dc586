import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import {
  context,
  createContextKey,
  ProxyTracerProvider,
  propagation,
  ROOT_CONTEXT,
  type Tracer,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import type * as Resources from "@opentelemetry/resources";
import type * as SdkTrace from "@opentelemetry/sdk-trace";
import type { Facets, Logger, Metrics } from "@tandem/core";
import { telemetryDropped } from "../telemetry-dropped.js";
import { DeferredTracerProvider } from "./deferred-tracer.js";
import { droppedSpansMeterProvider } from "./dropped-spans.js";
import { PropagatingTracerProvider } from "./propagating-tracer.js";
import type { TraceEnv } from "./trace-env.js";
import { resolveTraceSettings, type TraceSettings } from "./trace-settings.js";

/** The instrumentation scope of `rt.tracer`. */
const SCOPE = "tandem";

/** Options of `startTracing`. */
export interface TracingOptions {
  env: TraceEnv;
  /**
   * The runtime's facets, as they fill up: the config facet is read in `prepare`, once every
   * concern has started (the observability concern starts before the config concern), or at a
   * span that comes before that.
   */
  facets: Partial<Facets>;
  logger: Logger;
  /** Where lost spans are counted (`tandem_telemetry_dropped_total{signal="traces"}`). */
  metrics: Metrics;
  /** Makes the exporter once the settings are known; `undefined` means spans are not exported. */
  exporter(settings: TraceSettings): SdkTrace.SpanExporter | undefined;
  /** How long `close` waits for the last spans to be exported. Default 10 000 ms. */
  closeTimeoutMs?: number;
}

/** Tracing as a concern instance holds it: the tracer to hand out and how to flush it. */
export interface Tracing {
  readonly tracer: Tracer;
  /**
   * Settles the settings and builds the tracer provider now, once every concern has started (the
   * config file is known), loading the SDK if spans are exported; otherwise the first span does.
   */
  prepare(): Promise<void>;
  /** Exports the spans still buffered (within the bound) and unregisters what tandem registered. */
  close(): Promise<void>;
}

const NO_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * Sets up OpenTelemetry tracing unless the application already did: when a global
 * TracerProvider is registered, `rt.tracer` comes from it and tandem exports nothing itself.
 * Otherwise tandem registers a provider (and, when missing, the AsyncLocalStorage context
 * manager and the W3C propagators) whose sampler, resource and exporter are settled in
 * `prepare` (or at the first span, if it comes first), from the `OTEL_*` environment over
 * `tandem.yaml`.
 */
export function startTracing(options: TracingOptions): Tracing {
  const { env, logger } = options;
  if (env.disabled || hasTracerProvider()) {
    if (!env.disabled) {
      logger.info(
        { event: "tracing_external" },
        "an OpenTelemetry TracerProvider is already registered: rt.tracer uses it and tandem exports no traces itself",
      );
    }
    return { tracer: trace.getTracer(SCOPE), prepare: async () => {}, close: async () => {} };
  }
  let sdk: SdkTrace.TracerProvider | PropagatingTracerProvider | undefined;
  let closed = false;
  const deferred = new DeferredTracerProvider((): TracerProvider => {
    if (closed) return NO_PROVIDER;
    sdk = buildProvider(options, ownsPropagator);
    return sdk;
  });
  const ownsTrace = trace.setGlobalTracerProvider(deferred);
  const ownsContext =
    !contextPropagates() && context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const ownsPropagator =
    propagation.fields().length === 0 &&
    propagation.setGlobalPropagator(
      new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
    );
  return {
    tracer: deferred.getTracer(SCOPE),
    prepare: async () => {
      deferred.build();
    },
    close: async () => {
      if (closed) return;
      closed = true;
      if (sdk !== undefined) {
        const timeoutMs = options.closeTimeoutMs ?? 10_000;
        if (!(await settlesWithin(sdk.shutdown(), timeoutMs))) {
          logger.warn({ event: "traces_flush_timeout", timeoutMs }, "the last spans were not exported in time");
        }
      }
      if (ownsTrace) trace.disable();
      if (ownsContext) context.disable();
      if (ownsPropagator) propagation.disable();
    },
  };
}

/** The SDK's packages, loaded only when spans are exported: a process that exports none never holds them. */
interface Sdk {
  trace: typeof SdkTrace;
  resources: typeof Resources;
}

const require = createRequire(import.meta.url);

/**
 * The SDK, loaded as the provider is built, which happens synchronously: the ES modules that
 * `import` would load (`require` of an ES module, Node >= 22.12), not the CommonJS builds, which
 * would be second copies of them and of the API.
 */
function requireSdk(): Sdk {
  const load = (name: string) => require(fileURLToPath(import.meta.resolve(name)));
  return {
    trace: load("@opentelemetry/sdk-trace") as typeof SdkTrace,
    resources: load("@opentelemetry/resources") as typeof Resources,
  };
}

/** `w3c`: the global propagator is the W3C pair tandem registered (no one can replace it while it stays). */
function buildProvider(options: TracingOptions, w3c: boolean): SdkTrace.TracerProvider | PropagatingTracerProvider {
  const settings = resolveTraceSettings(options.env, options.facets.config);
  const exporter = options.env.exporterNone ? undefined : options.exporter(settings);
  options.logger.info(
    { event: "tracing_started", service: settings.serviceName, export: exporter === undefined ? "none" : "otlp" },
    "tracing started",
  );
  // Spans exported nowhere are not recorded: only their context travels on.
  if (exporter === undefined) return new PropagatingTracerProvider(settings.sampler, w3c);
  const { trace: sdkTrace, resources } = requireSdk();
  const resource = resources
    .defaultResource()
    .merge(
      resources.resourceFromAttributes({ ...options.env.resourceAttributes, "service.name": settings.serviceName }),
    );
  return new sdkTrace.TracerProvider({
    resource,
    sampler: settings.sampler,
    spanProcessors: [
      new sdkTrace.BatchSpanProcessor({
        exporter,
        ...options.env.batch,
        selfObsMeterProvider: droppedSpansMeterProvider(telemetryDropped(options.metrics)),
      }),
    ],
  });
}

/** True when the application registered a global TracerProvider (with this or another API copy). */
function hasTracerProvider(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NO_PROVIDER;
}

/** True when a context manager that carries values through `context.with` is registered. */
function contextPropagates(): boolean {
  const probe = createContextKey("tandem.probe");
  return context.with(ROOT_CONTEXT.setValue(probe, true), () => context.active().getValue(probe) === true);
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
