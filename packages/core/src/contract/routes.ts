import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "./logger.js";
import type { StandardSchemaV1 } from "./standard-schema.js";

/** HTTP methods a route may answer. */
export type RouteMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** Which listener serves a route. */
export type Listener = "api" | "admin";

/** What a handler receives: the parsed request and, for streaming, the raw objects. */
export interface RouteContext<B = unknown> {
  /** Path parameters: `/v1/secrets/{name}` gives `{ name }`, already percent-decoded. */
  params: Readonly<Record<string, string>>;
  query: URLSearchParams;
  /** The JSON body, validated against the route's `body` schema (`undefined` without one). */
  body: B;
  /**
   * The largest request body the server accepts, in bytes. A `rawBody` handler reads `req` itself
   * and must stop at this many bytes (a 413).
   */
  bodyLimit: number;
  /** Fires when the client goes away or the sidecar stops waiting for this request. */
  signal: AbortSignal;
  log: Logger;
  req: IncomingMessage;
  /** For streaming handlers (SSE, proxying): write to it and return nothing. */
  res: ServerResponse;
}

/** A JSON answer. A handler that wrote to `res` itself returns `undefined`. */
export interface RouteResult {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** One documented answer of a route, for the OpenAPI document. */
export interface RouteResponse {
  description: string;
  /** Defaults to `application/json`. */
  contentType?: string;
  schema?: StandardSchemaV1;
}

/**
 * One sidecar route: the server uses the same definition to route, authorize, validate the body
 * and write the OpenAPI document, so the document cannot drift from what is served. Every path
 * under `/v1/` requires the bearer token when one is configured; no route can opt out.
 */
export interface RouteDefinition<B = unknown> {
  method: RouteMethod;
  /** A path with `{param}` segments, e.g. `/v1/secrets/{name}`. */
  path: string;
  /** Defaults to `api`. */
  listener?: Listener;
  /** OpenAPI grouping, usually the concern's name. */
  tag: string;
  summary: string;
  description?: string;
  /** Schema of the JSON request body; a body that fails it is a 400 naming each problem. */
  body?: StandardSchemaV1<unknown, B>;
  /**
   * Hands the handler the request body unread, as `req`, for bodies that are not JSON (protobuf,
   * streams). The server still refuses a declared `Content-Length` over the limit before calling
   * the handler; a chunked body is the handler's to bound at `bodyLimit`. Not used with `body`.
   */
  rawBody?: boolean;
  responses: Readonly<Record<number, RouteResponse>>;
  handler(context: RouteContext<B>): Promise<RouteResult | undefined> | RouteResult | undefined;
}
