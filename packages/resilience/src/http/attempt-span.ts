import {
  type Context,
  isSpanContextValid,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import type { Endpoint } from "./endpoint.js";

const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);

/**
 * Starts the CLIENT span of one attempt as a child of `parent` (OpenTelemetry HTTP semantic
 * conventions) and writes its W3C `traceparent`/`tracestate` into a copy of `headers`. With the
 * API's no-op tracer the span does not record: then only an existing context is propagated, and
 * with none the headers are returned as they are (no copy, no work).
 */
export function startAttemptSpan(
  tracer: Tracer | undefined,
  parent: Context,
  method: string,
  endpoint: Endpoint,
  path: string,
  resendCount: number,
  headers: Record<string, string>,
): { span: Span | undefined; headers: Record<string, string> } {
  if (tracer === undefined) return { span: undefined, headers: inject(parent, headers) };
  const known = KNOWN_METHODS.has(method);
  const span = tracer.startSpan(known ? method : "HTTP", { kind: SpanKind.CLIENT }, parent);
  if (span.isRecording()) {
    const url = new URL(path, endpoint.origin);
    span.setAttributes({
      "http.request.method": known ? method : "_OTHER",
      "server.address": url.hostname,
      "server.port": Number(url.port || (url.protocol === "https:" ? 443 : 80)),
      "url.full": url.href,
    });
    if (!known) span.setAttribute("http.request.method_original", method);
    if (resendCount > 0) span.setAttribute("http.request.resend_count", resendCount);
  }
  return { span, headers: inject(trace.setSpan(parent, span), headers) };
}

/** Ends an attempt's span with its status code, or `error.type` when it failed. */
export function endAttemptSpan(span: Span | undefined, statusCode: number | undefined, errorType: string): void {
  if (span === undefined) return;
  if (span.isRecording()) {
    if (statusCode !== undefined) span.setAttribute("http.response.status_code", statusCode);
    const error =
      errorType !== "" ? errorType : statusCode !== undefined && statusCode >= 400 ? String(statusCode) : "";
    if (error !== "") {
      span.setAttribute("error.type", error);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
  }
  span.end();
}

/** `headers` with the context's trace headers, copied only when there is a context to send. */
function inject(context: Context, headers: Record<string, string>): Record<string, string> {
  const spanContext = trace.getSpanContext(context);
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return headers;
  const out = { ...headers };
  propagation.inject(context, out);
  return out;
}
