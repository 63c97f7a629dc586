import type { Context, SpanKind } from "@opentelemetry/api";

/**
 * The key of a method that a tracer whose spans record nothing may have: it writes the trace
 * header lines of a new child span of `parent` straight away, as `startSpan` followed by
 * `propagation.inject` would write those headers, without the span object, the context copy, the
 * propagator's validation and a copy of the request's headers per call. The HTTP client uses it for
 * each attempt when the tracer has it, and writes the lines into the request's head as they are.
 */
export const CHILD_TRACE_LINES: unique symbol = Symbol.for("tandem.childTraceLines");

/** A tracer that can write a child span's trace header lines itself (see `CHILD_TRACE_LINES`). */
export interface ChildTraceLines {
  /**
   * The header lines (`traceparent`, and `tracestate` when there is one, each `name: value`
   * ending with CRLF) of a new child span of `parent` named `name`; "" when there is nothing to
   * send (tracing suppressed). `undefined` when this tracer cannot say (another propagator,
   * baggage to send): then start a span and inject.
   */
  [CHILD_TRACE_LINES](parent: Context, name: string, kind: SpanKind): string | undefined;
}
