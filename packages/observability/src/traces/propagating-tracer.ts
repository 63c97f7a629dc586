import {
  type Context,
  INVALID_SPAN_CONTEXT,
  type Link,
  context as otelContext,
  SamplingDecision,
  type Span,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  TraceFlags,
  type Tracer,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import { isTracingSuppressed } from "@opentelemetry/core";
import { RandomIdGenerator, type Sampler } from "@opentelemetry/sdk-trace";

const NO_LINKS: Link[] = [];

/**
 * The tracer when spans are exported nowhere: each span carries the context the SDK would give
 * it (the parent's trace or a new one, a new span id, the sampler's decision in its flags and
 * trace state), so trace headers still reach downstream services as before, but it records
 * nothing: no span object with attributes, times and events per operation.
 */
export class PropagatingTracer implements Tracer {
  readonly #sampler: Sampler;
  readonly #ids = new RandomIdGenerator();

  constructor(sampler: Sampler) {
    this.#sampler = sampler;
  }

  startSpan(name: string, options: SpanOptions = {}, context: Context = otelContext.active()): Span {
    const parentContext = options.root ? trace.deleteSpan(context) : context;
    if (isTracingSuppressed(parentContext)) return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
    const parent = trace.getSpanContext(parentContext);
    const valid = parent !== undefined && trace.isSpanContextValid(parent);
    const traceId = valid ? parent.traceId : this.#ids.generateTraceId();
    const result = this.#sampler.shouldSample(
      parentContext,
      traceId,
      name,
      options.kind ?? SpanKind.INTERNAL,
      options.attributes ?? {},
      options.links ?? NO_LINKS,
    );
    const spanContext: SpanContext = {
      traceId,
      spanId: this.#ids.generateSpanId(),
      traceFlags: result.decision === SamplingDecision.RECORD_AND_SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE,
    };
    const traceState = result.traceState ?? (valid ? parent.traceState : undefined);
    if (traceState !== undefined) spanContext.traceState = traceState;
    return trace.wrapSpanContext(spanContext);
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    options: SpanOptions,
    context: Context,
    fn: F,
  ): ReturnType<F>;
  startActiveSpan(name: string, ...rest: unknown[]): unknown {
    const fn = rest[rest.length - 1] as (span: Span) => unknown;
    const options = (rest.length >= 2 ? rest[0] : undefined) as SpanOptions | undefined;
    const parent = (rest.length >= 3 ? rest[1] : undefined) as Context | undefined;
    const context = parent ?? otelContext.active();
    const span = this.startSpan(name, options, context);
    return otelContext.with(trace.setSpan(context, span), fn, undefined, span);
  }
}

/** A provider of `PropagatingTracer`s, one sampler for all. */
export class PropagatingTracerProvider implements TracerProvider {
  readonly #tracer: PropagatingTracer;

  constructor(sampler: Sampler) {
    this.#tracer = new PropagatingTracer(sampler);
  }

  getTracer(): Tracer {
    return this.#tracer;
  }

  /** Nothing is buffered: nothing to flush. */
  async shutdown(): Promise<void> {}
}
