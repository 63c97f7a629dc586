import type { Dispatcher } from "undici";

/** A request to a named upstream. `path` is relative to the upstream; the endpoint is chosen by tandem. */
export interface UpstreamRequest {
  method?: string;
  path: string;
  query?: Record<string, string | number | boolean>;
  headers?: Record<string, string>;
  /** A string or bytes is sent as is; any other value is sent as JSON. */
  body?: string | Uint8Array | unknown;
  /** Marks a non-idempotent request as safe to retry (sent as `Idempotency-Key`). */
  idempotencyKey?: string;
  signal?: AbortSignal;
  /**
   * The answer to give when the request fails without an answer (timeouts, connection errors,
   * an open breaker, retries spent), built from the error. Answers from the upstream, 5xx
   * included, are returned as they are; a caller's abort and an unknown upstream still throw.
   */
  fallback?: (error: unknown) => UpstreamResponse | Promise<UpstreamResponse>;
}

/** The answer of an upstream: undici's response shape, so its body helpers (`json()`, `text()`) apply. */
export type UpstreamResponse = Dispatcher.ResponseData;

/**
 * `rt.http`: the resilient client for the upstreams named in the config file. Both modes give
 * the same answers; in sidecar mode the request goes through the sidecar's forward proxy.
 */
export interface Http {
  /** Sends one request to `upstream` through its policy pipeline. */
  request(upstream: string, request: UpstreamRequest): Promise<UpstreamResponse>;
  /** The same pipeline as an undici dispatcher, for `fetch(url, { dispatcher })` and `undici.request`. */
  dispatcher(upstream: string): Dispatcher;
}
