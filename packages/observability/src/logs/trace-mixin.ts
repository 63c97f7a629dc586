import { isSpanContextValid, trace } from "@opentelemetry/api";

/**
 * A pino `mixin` that adds the active span's ids to every line logged inside it, under the
 * names OpenTelemetry's log data model uses (`trace_id`, `span_id`, `trace_flags`), so a log
 * line leads to its trace. Outside a span it adds nothing.
 *
 * @example
 * const logger = pino({ mixin: traceMixin });
 */
export function traceMixin(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (span === undefined) return {};
  const context = span.spanContext();
  if (!isSpanContextValid(context)) return {};
  return {
    trace_id: context.traceId,
    span_id: context.spanId,
    trace_flags: `0${context.traceFlags.toString(16)}`,
  };
}
