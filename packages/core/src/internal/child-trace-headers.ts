import type { Context, SpanKind } from "@opentelemetry/api";

/**
 * The key of a method that a tracer whose spans record nothing may have: it writes the trace
 * headers of a new child span of `parent` straight away, as `startSpan` followed by
 * `propagation.inject` would, without the span object, the context copy and the propagator's
 * validation per call. The HTTP client uses it for each attempt when the tracer has it.
 */
export const CHILD_TRACE_HEADERS: unique symbol = Symbol.for("tandem.childTraceHeaders");

/** A tracer that can write a child span's trace headers itself (see `CHILD_TRACE_HEADERS`). */
export interface ChildTraceHeaders {
  /**
   * `headers` with the trace headers of a new child span of `parent` named `name`, on a copy;
   * `headers` itself when there is nothing to send (tracing suppressed). `undefined` when this
   * tracer cannot say (another propagator, baggage to send): then start a span and inject.
   */
  [CHILD_TRACE_HEADERS](
    parent: Context,
    name: string,
    kind: SpanKind,
    headers: Record<string, string>,
  ): Record<string, string> | undefined;
}
