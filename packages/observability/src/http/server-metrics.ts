import type { IncomingMessage, ServerResponse } from "node:http";
import type { Histogram, Metrics } from "@tandem/core";

/** The inbound request duration histogram, named as OpenTelemetry's HTTP semantic conventions. */
export const HTTP_SERVER_DURATION = "http_server_request_duration_seconds";

const LABELS = ["http_request_method", "http_route", "http_response_status_code", "error_type"];
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);
const START = Symbol("tandem.start");

/** Options of the inbound metrics. */
export interface ServerMetricsOptions {
  /** The route template of a request (`/orders/:id`), to keep label values bounded. */
  route?: (req: IncomingMessage) => string | undefined;
}

function histogram(metrics: Metrics): Histogram {
  return metrics.histogram(HTTP_SERVER_DURATION, {
    help: "Duration of inbound HTTP requests, by method, route, status and error.",
    labelNames: LABELS,
  });
}

/**
 * Measures inbound requests of a `node:http` server into `http_server_request_duration_seconds`.
 * Call the returned function first thing in the request handler. Unknown methods are recorded
 * as `_OTHER` and routes only from `options.route`, so label values stay bounded.
 *
 * @example
 * const measure = httpServerMetrics(rt.metrics, { route: (req) => router.templateOf(req) });
 * http.createServer((req, res) => { measure(req, res); handle(req, res); });
 */
export function httpServerMetrics(metrics: Metrics, options: ServerMetricsOptions = {}) {
  const duration = histogram(metrics);
  // One shared listener for every response: the start time rides on the response itself.
  function done(this: ServerResponse & { [START]?: number; req: IncomingMessage }): void {
    const started = this[START];
    if (started === undefined) return;
    const seconds = (performance.now() - started) / 1000;
    const status = this.statusCode;
    duration.observe(
      {
        http_request_method: methodOf(this.req.method),
        http_route: options.route?.(this.req) ?? "",
        http_response_status_code: status,
        error_type: !this.writableFinished ? "aborted" : status >= 500 ? String(status) : "",
      },
      seconds,
    );
  }
  return (_req: IncomingMessage, res: ServerResponse): void => {
    (res as ServerResponse & { [START]?: number })[START] = performance.now();
    res.once("close", done);
  };
}

/** The parts of a Fastify instance the plugin uses. */
interface FastifyLike {
  addHook(
    name: "onResponse",
    hook: (
      request: { method: string; routeOptions?: { url?: string } },
      reply: { statusCode: number; elapsedTime: number },
      done: () => void,
    ) => void,
  ): unknown;
}

/**
 * A Fastify plugin recording `http_server_request_duration_seconds` with the route template
 * Fastify matched. Register it with `app.register(fastifyServerMetrics(rt.metrics))`.
 */
export function fastifyServerMetrics(metrics: Metrics) {
  const duration = histogram(metrics);
  const plugin = (fastify: FastifyLike, _options: unknown, ready: () => void) => {
    fastify.addHook("onResponse", (request, reply, next) => {
      const status = reply.statusCode;
      duration.observe(
        {
          http_request_method: methodOf(request.method),
          http_route: request.routeOptions?.url ?? "",
          http_response_status_code: status,
          error_type: status >= 500 ? String(status) : "",
        },
        reply.elapsedTime / 1000,
      );
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
