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
import { CHILD_TRACE_LINES, type ChildTraceLines } from "@tandem/core";
import type { Endpoint } from "./endpoint.js";

const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);

/** An attempt's span, and what its request sends of the trace: `headers`, and `lines` after them. */
export interface AttemptTrace {
  span: Span | undefined;
  headers: Record<string, string>;
  /** Trace header lines written into the head as they are (each ending with CRLF), or "". */
  lines: string;
}

/**
 * Starts the CLIENT span of one attempt as a child of `parent` (OpenTelemetry HTTP semantic
 * conventions) and writes its W3C `traceparent`/`tracestate` into a copy of `headers`. With the
 * API's no-op tracer the span does not record: then only an existing context is propagated, and
 * with none the headers are returned as they are (no copy, no work). A tracer that records nothing
 * and can write a child's trace header lines itself (`CHILD_TRACE_LINES`) does so, and no span is
 * made nor the headers copied: the lines go into the head after them, in place of any trace
 * headers they give.
 */
export function startAttemptSpan(
  tracer: Tracer | undefined,
  parent: Context,
  method: string,
  endpoint: Endpoint,
  path: string,
  resendCount: number,
  headers: Record<string, string>,
): AttemptTrace {
  if (tracer === undefined) return { span: undefined, headers: inject(parent, headers), lines: "" };
  const known = KNOWN_METHODS.has(method);
  const name = known ? method : "HTTP";
  const lines = (tracer as Partial<ChildTraceLines>)[CHILD_TRACE_LINES]?.(parent, name, SpanKind.CLIENT);
  if (lines !== undefined) return { span: undefined, headers, lines };
  const span = tracer.startSpan(name, { kind: SpanKind.CLIENT }, parent);
  if (span.isRecording()) {
    const server = serverOf(endpoint);
    span.setAttributes({
      "http.request.method": known ? method : "_OTHER",
      "server.address": server.address,
      "server.port": server.port,
      "url.full": `${endpoint.origin}${path}`,
    });
    if (!known) span.setAttribute("http.request.method_original", method);
    if (resendCount > 0) span.setAttribute("http.request.resend_count", resendCount);
  }
  return { span, headers: inject(trace.setSpan(parent, span), headers), lines: "" };
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

/** `server.address` and `server.port` of an endpoint, parsed once: URL parsing per attempt costs µs. */
const servers = new WeakMap<Endpoint, { address: string; port: number }>();
function serverOf(endpoint: Endpoint): { address: string; port: number } {
  let server = servers.get(endpoint);
  if (server === undefined) {
    const url = new URL(endpoint.origin);
    server = {
      address: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: Number(url.port || (url.protocol === "https:" ? 443 : 80)),
    };
    servers.set(endpoint, server);
  }
  return server;
}

/** `headers` with the context's trace headers, copied only when there is a context to send. */
function inject(context: Context, headers: Record<string, string>): Record<string, string> {
  const spanContext = trace.getSpanContext(context);
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return headers;
  const out = { ...headers };
  propagation.inject(context, out);
  return out;
}
