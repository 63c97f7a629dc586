import type { IncomingMessage, ServerResponse } from "node:http";
import { context, type Span, type Tracer, trace } from "@opentelemetry/api";
import type { Histogram, Metrics } from "@tandem/core";
import { endServerSpan, startServerSpan } from "./server-span.js";

/** The inbound request duration histogram, named as OpenTelemetry's HTTP semantic conventions. */
export const HTTP_SERVER_DURATION = "http_server_request_duration_seconds";

const LABELS = ["http_request_method", "http_route", "http_response_status_code", "error_type"];
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);
const START = Symbol("tandem.start");
const SPAN = Symbol("tandem.span");

type Measured = ServerResponse & { [START]?: number; [SPAN]?: Span; req: IncomingMessage };

/** Options of the inbound metrics. */
export interface ServerMetricsOptions {
  /** The route template of a request (`/orders/:id`), to keep label values bounded. */
  route?: (req: IncomingMessage) => string | undefined;
  /** The tracer of the SERVER spans: `rt.tracer`. Default: the global tracer named `tandem`. */
  tracer?: Tracer;
}

function histogram(metrics: Metrics): Histogram {
  return metrics.histogram(HTTP_SERVER_DURATION, {
    help: "Duration of inbound HTTP requests, by method, route, status and error.",
    labelNames: LABELS,
  });
}

/**
 * Measures inbound requests of a `node:http` server into `http_server_request_duration_seconds`
 * and traces them: the incoming W3C `traceparent` is extracted and a SERVER span started under
 * it. Call the returned function first thing in the request handler and pass the rest of the
 * handler as `next`: it runs inside the request's span, so `rt.logger` lines carry its trace id
 * and `rt.http` continues the trace. (Without `next` the span is still recorded, but the
 * handler runs outside it.) Unknown methods are recorded as `_OTHER` and routes only from
 * `options.route`, so label values stay bounded.
 *
 * @example
 * const measure = httpServerMetrics(rt.metrics, { tracer: rt.tracer, route: (req) => router.templateOf(req) });
 * http.createServer((req, res) => measure(req, res, () => handle(req, res)));
 */
export function httpServerMetrics(metrics: Metrics, options: ServerMetricsOptions = {}) {
  const duration = histogram(metrics);
  const tracer = options.tracer ?? trace.getTracer("tandem");
  // One shared listener for every response: the start time and the span ride on the response.
  function done(this: Measured): void {
    const started = this[START];
    if (started === undefined) return;
    const seconds = (performance.now() - started) / 1000;
    const status = this.statusCode;
    const method = methodOf(this.req.method);
    const route = options.route?.(this.req) ?? "";
    const errorType = !this.writableFinished ? "aborted" : status >= 500 ? String(status) : "";
    duration.observe(
      { http_request_method: method, http_route: route, http_response_status_code: status, error_type: errorType },
      seconds,
    );
    const span = this[SPAN];
    if (span !== undefined) endServerSpan(span, method, route, status, errorType);
  }
  function measure(req: IncomingMessage, res: ServerResponse): void;
  function measure<T>(req: IncomingMessage, res: ServerResponse, next: () => T): T;
  function measure<T>(req: IncomingMessage, res: ServerResponse, next?: () => T): T | undefined {
    const measured = res as Measured;
    measured[START] = performance.now();
    const started = startServerSpan(
      tracer,
      { method: req.method ?? "", headers: req.headers, url: req.url },
      methodOf(req.method),
    );
    measured[SPAN] = started.span;
    res.once("close", done);
    return next === undefined ? undefined : context.with(started.context, next);
  }
  return measure;
}

/** The request as the Fastify hooks see it. */
interface FastifyRequestLike {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  routeOptions?: { url?: string };
  [SPAN]?: Span;
}

/** The parts of a Fastify instance the plugin uses. */
interface FastifyLike {
  addHook(
    name: "onRequest" | "onResponse",
    hook: (request: FastifyRequestLike, reply: { statusCode: number; elapsedTime: number }, done: () => void) => void,
  ): unknown;
}

/**
 * A Fastify plugin recording `http_server_request_duration_seconds` with the route template
 * Fastify matched, and tracing each request: an `onRequest` hook extracts the incoming W3C
 * `traceparent` and runs the rest of the request (hooks and handler) inside a SERVER span under
 * it, so log lines carry its trace id. Register it with
 * `app.register(fastifyServerMetrics(rt.metrics, { tracer: rt.tracer }))`.
 */
export function fastifyServerMetrics(metrics: Metrics, options: Pick<ServerMetricsOptions, "tracer"> = {}) {
  const duration = histogram(metrics);
  const tracer = options.tracer ?? trace.getTracer("tandem");
  const plugin = (fastify: FastifyLike, _options: unknown, ready: () => void) => {
    fastify.addHook("onRequest", (request, _reply, next) => {
      const started = startServerSpan(tracer, request, methodOf(request.method));
      request[SPAN] = started.span;
      // What runs after this hook (the handler too) starts inside `next`, so it inherits the context.
      context.with(started.context, next);
    });
    fastify.addHook("onResponse", (request, reply, next) => {
      const status = reply.statusCode;
      const method = methodOf(request.method);
      const route = request.routeOptions?.url ?? "";
      const errorType = status >= 500 ? String(status) : "";
      duration.observe(
        { http_request_method: method, http_route: route, http_response_status_code: status, error_type: errorType },
        reply.elapsedTime / 1000,
      );
      const span = request[SPAN];
      if (span !== undefined) endServerSpan(span, method, route, status, errorType);
      next();
    });
    ready();
  };
  // Hooks apply to the whole server, not only to an encapsulated child (what fastify-plugin does).
  Object.assign(plugin, { [Symbol.for("skip-override")]: true });
  return plugin;
}

function methodOf(method: string | undefined): string {
  return method !== undefined && METHODS.has(method) ? method : "_OTHER";
}
