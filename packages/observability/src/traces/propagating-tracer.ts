import {
  type Context,
  INVALID_SPAN_CONTEXT,
  type Link,
  context as otelContext,
  propagation,
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
import type { Sampler } from "@opentelemetry/sdk-trace";
import { CHILD_TRACE_LINES, type ChildTraceLines } from "@tandem/core";
import { PooledIdGenerator } from "./pooled-ids.js";

const NO_LINKS: Link[] = [];
const NO_ATTRIBUTES = Object.freeze({});

/**
 * The tracer when spans are exported nowhere: each span carries the context the SDK would give
 * it (the parent's trace or a new one, a new span id, the sampler's decision in its flags and
 * trace state), so trace headers still reach downstream services as before, but it records
 * nothing: no span object with attributes, times and events per operation.
 */
export class PropagatingTracer implements Tracer, ChildTraceLines {
  readonly #sampler: Sampler;
  readonly #ids = new PooledIdGenerator();
  #w3c: boolean;

  /**
   * `w3c`: the global propagator is the W3C trace context and baggage pair tandem registers, so
   * a child's trace headers can be written without going through it (`CHILD_TRACE_LINES`).
   */
  constructor(sampler: Sampler, w3c = false) {
    this.#sampler = sampler;
    this.#w3c = w3c;
  }

  startSpan(name: string, options: SpanOptions = {}, context: Context = otelContext.active()): Span {
    const parentContext = options.root ? trace.deleteSpan(context) : context;
    const spanContext = this.#childContext(
      parentContext,
      name,
      options.kind ?? SpanKind.INTERNAL,
      options.attributes ?? NO_ATTRIBUTES,
      options.links ?? NO_LINKS,
    );
    return trace.wrapSpanContext(spanContext ?? INVALID_SPAN_CONTEXT);
  }

  /**
   * The header lines the W3C propagator would write for a child span (`traceparent`, and
   * `tracestate` when there is one), with no span object and no context copy. Not for baggage:
   * left to the propagator.
   */
  [CHILD_TRACE_LINES](parent: Context, name: string, kind: SpanKind): string | undefined {
    if (!this.#w3c || propagation.getBaggage(parent) !== undefined) return undefined;
    const child = this.#childContext(parent, name, kind, NO_ATTRIBUTES, NO_LINKS);
    if (child === undefined) return "";
    const flags = child.traceFlags & TraceFlags.SAMPLED ? "01" : "00";
    const lines = `traceparent: 00-${child.traceId}-${child.spanId}-${flags}\r\n`;
    const state = child.traceState?.serialize() ?? "";
    return state === "" ? lines : `${lines}tracestate: ${state}\r\n`;
  }

  /** The context the SDK would give a new span under `parent`; `undefined` when tracing is suppressed. */
  #childContext(
    parentContext: Context,
    name: string,
    kind: SpanKind,
    attributes: SpanOptions["attributes"] & object,
    links: Link[],
  ): SpanContext | undefined {
    if (isTracingSuppressed(parentContext)) return undefined;
    const parent = trace.getSpanContext(parentContext);
    const valid = parent !== undefined && trace.isSpanContextValid(parent);
    const traceId = valid ? parent.traceId : this.#ids.generateTraceId();
    const result = this.#sampler.shouldSample(parentContext, traceId, name, kind, attributes, links);
    const spanContext: SpanContext = {
      traceId,
      spanId: this.#ids.generateSpanId(),
      traceFlags: result.decision === SamplingDecision.RECORD_AND_SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE,
    };
    const traceState = result.traceState ?? (valid ? parent.traceState : undefined);
    if (traceState !== undefined) spanContext.traceState = traceState;
    return spanContext;
  }

  /** The propagator tandem registered is gone (tracing closed): children's headers go through the API again. */
  propagatorGone(): void {
    this.#w3c = false;
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

  constructor(sampler: Sampler, w3c = false) {
    this.#tracer = new PropagatingTracer(sampler, w3c);
  }

  getTracer(): Tracer {
    return this.#tracer;
  }

  /** Nothing is buffered, nothing to flush; tracing closes and takes its propagator away. */
  async shutdown(): Promise<void> {
    this.#tracer.propagatorGone();
  }
}
