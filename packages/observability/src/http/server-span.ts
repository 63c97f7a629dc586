import type { IncomingHttpHeaders } from "node:http";
import {
  type Context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";

/** The inbound request as the SERVER span needs it. */
export interface InboundRequest {
  method: string;
  headers: IncomingHttpHeaders;
  url: string | undefined;
}

/**
 * Extracts the incoming W3C `traceparent`/`tracestate` (with the globally registered
 * propagator) and starts the request's SERVER span under it. Returns the span and the context
 * the handler must run in. With the API's no-op tracer the span does not record, and the
 * context still carries the caller's trace, so log lines still name it.
 */
export function startServerSpan(
  tracer: Tracer,
  request: InboundRequest,
  method: string,
): { span: Span; context: Context } {
  const parent = propagation.extract(ROOT_CONTEXT, request.headers);
  const span = tracer.startSpan(method === "_OTHER" ? "HTTP" : method, { kind: SpanKind.SERVER }, parent);
  if (span.isRecording()) {
    span.setAttribute("http.request.method", method);
    if (method === "_OTHER") span.setAttribute("http.request.method_original", request.method);
    const url = request.url ?? "/";
    const query = url.indexOf("?");
    span.setAttribute("url.path", query === -1 ? url : url.slice(0, query));
    if (query !== -1) span.setAttribute("url.query", url.slice(query + 1));
    const host = request.headers.host;
    if (host !== undefined) span.setAttribute("server.address", host.replace(/:\d+$/, ""));
  }
  return { span, context: trace.setSpan(parent, span) };
}

/** Ends a SERVER span with the route, the status code and, for a 5xx or an abort, `error.type`. */
export function endServerSpan(span: Span, method: string, route: string, status: number, errorType: string): void {
  if (span.isRecording()) {
    if (route !== "") {
      span.setAttribute("http.route", route);
      span.updateName(`${method === "_OTHER" ? "HTTP" : method} ${route}`);
    }
    span.setAttribute("http.response.status_code", status);
    if (errorType !== "") {
      span.setAttribute("error.type", errorType);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
  }
  span.end();
}
