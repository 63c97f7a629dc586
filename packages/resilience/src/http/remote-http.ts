import { context, propagation } from "@opentelemetry/api";
import {
  AbortedError,
  ConfigError,
  fromProblem,
  type Http,
  type SidecarClient,
  SidecarUnavailableError,
  type UpstreamRequest,
} from "@tandem/core";
import type { Dispatcher } from "undici";
import { withFallback } from "./fallback.js";
import { UpstreamDispatcher } from "./upstream-dispatcher.js";

/**
 * `rt.http` in sidecar mode: each request goes to the sidecar's forward proxy
 * (`GET http://payments/charge`), which runs the upstream's pipeline. What the sidecar itself
 * refused or gave up on arrives as the same error class the local pipeline throws; an
 * upstream's own answer, 5xx included, is returned as it is. When the sidecar cannot be
 * reached at all (the request never left), `fallback` serves it in-process. The caller's
 * trace context goes along as W3C `traceparent`/`tracestate`, so the sidecar's attempt spans
 * are children of the caller's span.
 */
export class RemoteHttp implements Http {
  readonly #client: SidecarClient;
  readonly #fallback: () => Http;
  readonly #onFallback: () => void;
  readonly #timeoutOf: (upstream: string) => number;
  readonly #known: () => string[];

  /**
   * `timeoutOf` gives an upstream's total timeout: the sidecar enforces it, and this side waits
   * that long plus a margin before calling the sidecar hung. `known` lists the upstreams.
   */
  constructor(
    client: SidecarClient,
    fallback: () => Http,
    onFallback: () => void,
    timeoutOf: (upstream: string) => number,
    known: () => string[],
  ) {
    this.#client = client;
    this.#fallback = fallback;
    this.#onFallback = onFallback;
    this.#timeoutOf = timeoutOf;
    this.#known = known;
  }

  request(upstream: string, request: UpstreamRequest): Promise<Dispatcher.ResponseData> {
    return withFallback(this.#request(upstream, request), request);
  }

  async #request(upstream: string, request: UpstreamRequest): Promise<Dispatcher.ResponseData> {
    const known = this.#known();
    if (!known.includes(upstream)) {
      // The same answer as in library mode: the config is the same on both sides.
      throw new ConfigError(
        `no upstream named "${upstream}" in the config; upstreams: ${known.join(", ") || "(none)"}`,
        {
          details: { upstream, known },
        },
      );
    }
    const path = request.path.startsWith("/") ? request.path : `/${request.path}`;
    const query =
      request.query === undefined
        ? ""
        : new URLSearchParams(
            Object.entries(request.query).map(([k, v]): [string, string] => [k, String(v)]),
          ).toString();
    const headers: Record<string, string> = { ...request.headers };
    const auth = this.#client.headers().authorization;
    if (auth !== undefined) headers["proxy-authorization"] = auth;
    if (request.idempotencyKey !== undefined) headers["idempotency-key"] = request.idempotencyKey;
    propagation.inject(context.active(), headers);
    let body = request.body as Dispatcher.DispatchOptions["body"];
    if (
      body !== undefined &&
      body !== null &&
      typeof body !== "string" &&
      !(body instanceof Uint8Array) &&
      !isStream(body)
    ) {
      headers["content-type"] ??= "application/json";
      body = JSON.stringify(body);
    }
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#client.dispatcher.request({
        method: (request.method ?? "GET").toUpperCase() as Dispatcher.HttpMethod,
        path: `http://${upstream}${path}${query === "" ? "" : `${path.includes("?") ? "&" : "?"}${query}`}`,
        headers,
        body,
        ...(request.signal === undefined ? {} : { signal: request.signal }),
        headersTimeout: this.#timeoutOf(upstream) + 5000,
        bodyTimeout: 0,
      });
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (request.signal?.aborted) {
        throw new AbortedError(`${upstream}: the request was aborted by the caller`, {
          cause: error,
          details: { upstream },
        });
      }
      // Nothing was sent: the local pipeline can serve this request instead.
      if (code === "ECONNREFUSED" || code === "ENOENT") {
        this.#onFallback();
        return this.#fallback().request(upstream, request);
      }
      throw new SidecarUnavailableError(`${upstream}: the sidecar hop failed (${code ?? (error as Error).message})`, {
        cause: error,
      });
    }
    if (response.headers["x-tandem-error"] !== undefined) {
      const text = await response.body.text();
      let problem: unknown = text;
      try {
        problem = JSON.parse(text);
      } catch {
        // fromProblem says what arrived.
      }
      throw fromProblem(response.statusCode, problem);
    }
    return response;
  }

  dispatcher(upstream: string): Dispatcher {
    return new UpstreamDispatcher((request) => this.request(upstream, request));
  }
}

function isStream(body: unknown): boolean {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}
