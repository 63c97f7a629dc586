import { context, propagation } from "@opentelemetry/api";
import {
  AbortedError,
  ConfigError,
  fromProblem,
  type Http,
  type SidecarClient,
  SidecarUnavailableError,
  type TandemError,
  type UpstreamRequest,
} from "@tandem/core";
import type { Dispatcher } from "undici";
import type { DeadlineWheel } from "../policies/deadline-wheel.js";
import { AttemptSignal } from "./attempt-signal.js";
import { withFallback } from "./fallback.js";
import { IDEMPOTENT_METHODS } from "./idempotent-methods.js";
import { type BodyGuard, bodyErrors, dispatchForResponse, guardBody } from "./response-body.js";
import { UpstreamDispatcher } from "./upstream-dispatcher.js";

/**
 * `rt.http` in sidecar mode: each request goes to the sidecar's forward proxy
 * (`GET http://payments/charge`), which runs the upstream's pipeline. What the sidecar itself
 * refused or gave up on arrives as the same error class the local pipeline throws; an
 * upstream's own answer, 5xx included, is returned as it is. When the sidecar cannot be
 * reached at all (the request never left), `fallback` serves it in-process; a request that may
 * be replayed and whose hop was reset before an answer is sent again (twice at most). The caller's
 * trace context goes along as W3C `traceparent`/`tracestate`, so the sidecar's attempt spans
 * are children of the caller's span.
 */
export class RemoteHttp implements Http {
  readonly #client: SidecarClient;
  readonly #fallback: () => Http;
  readonly #onFallback: () => void;
  readonly #timeoutOf: (upstream: string) => number;
  readonly #known: () => string[];
  readonly #wheel: DeadlineWheel;

  /**
   * `timeoutOf` gives an upstream's total timeout: the sidecar enforces it, and this side waits
   * that long plus a margin before calling the sidecar hung. `known` lists the upstreams; `wheel`
   * keeps the time of the answers' bodies.
   */
  constructor(
    client: SidecarClient,
    fallback: () => Http,
    onFallback: () => void,
    timeoutOf: (upstream: string) => number,
    known: () => string[],
    wheel: DeadlineWheel,
  ) {
    this.#client = client;
    this.#fallback = fallback;
    this.#onFallback = onFallback;
    this.#timeoutOf = timeoutOf;
    this.#known = known;
    this.#wheel = wheel;
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
    const method = (request.method ?? "GET").toUpperCase() as Dispatcher.HttpMethod;
    // A hop reset before any answer (a keep-alive connection the sidecar closed as it drained,
    // or a sidecar that died) is sent again when the request may be replayed: on a new
    // connection it reaches the sidecar, or, refused, the local pipeline. Twice at most, each
    // after the pool has handled the closes already received: a sidecar that died closed every
    // connection, and the first replay must not take another dead one.
    let replays = MAX_REPLAYS;
    let response: Dispatcher.ResponseData;
    const started = performance.now();
    const total = this.#timeoutOf(upstream);
    // The sidecar holds a request to the total timeout from when it gets it. This side's bound,
    // a margin later, also covers the wait for a free connection to the sidecar (a burst of slow
    // calls can hold them all) and a sidecar that never answers.
    const giveUpMs = total + HOP_MARGIN_MS;
    const signal = new AttemptSignal(request.signal, undefined);
    const armed = this.#wheel.arm(giveUpMs, signal);
    try {
      for (;;) {
        try {
          response = await dispatchForResponse(
            this.#client.dispatcher,
            {
              method,
              path: `http://${upstream}${path}${query === "" ? "" : `${path.includes("?") ? "&" : "?"}${query}`}`,
              headers,
              body,
              // The same value for both: undici refreshes one timer per connection instead of
              // making two per request. The hop's body is bounded by its guard as well.
              headersTimeout: giveUpMs,
              bodyTimeout: giveUpMs,
            },
            signal,
          );
          break;
        } catch (error) {
          const code = (error as { code?: string }).code;
          if (request.signal?.aborted) {
            throw new AbortedError(`${upstream}: the request was aborted by the caller`, {
              cause: error,
              details: { upstream },
            });
          }
          if (signal.timedOut) {
            throw new SidecarUnavailableError(
              `${upstream}: no answer through the sidecar within the total timeout of ${total} ms and ${HOP_MARGIN_MS} ms for the hop (waiting for a connection to the sidecar or for its answer)`,
              { cause: error },
            );
          }
          // Nothing was sent: the local pipeline can serve this request instead.
          if (code === "ECONNREFUSED" || code === "ENOENT") {
            this.#onFallback();
            return this.#fallback().request(upstream, request);
          }
          // Whether it may be replayed is asked only of a reset hop, not of every request.
          if (replays > 0 && code !== undefined && RESET.has(code) && replayable(method, headers, body)) {
            replays--;
            await new Promise((resolve) => setImmediate(resolve));
            continue;
          }
          throw new SidecarUnavailableError(
            `${upstream}: the sidecar hop failed (${code ?? (error as Error).message})`,
            { cause: error },
          );
        }
      }
    } finally {
      armed.cancel();
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
    this.#guard(response, upstream, started, total, request.signal);
    return response;
  }

  /** The sidecar enforces the bound; this one only keeps a hung sidecar from hanging the app. */
  #guard(
    response: Dispatcher.ResponseData,
    upstream: string,
    started: number,
    total: number,
    signal: AbortSignal | undefined,
  ): void {
    guardBody(response.body, new HopBodyGuard(upstream, started, total, signal), {
      wheel: this.#wheel,
      timeoutMs: total + HOP_MARGIN_MS,
    });
  }

  dispatcher(upstream: string): Dispatcher {
    return new UpstreamDispatcher((request) => this.request(upstream, request));
  }
}

/**
 * How much longer than an upstream's total timeout this side waits for the sidecar's answer: the
 * sidecar's own timeout answer, whose clock started a little later, arrives first.
 */
const HOP_MARGIN_MS = 5000;
/** Times a replayable request is sent again after a reset hop. */
const MAX_REPLAYS = 2;
/** Errors of a hop whose connection closed before an answer. */
const RESET = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET"]);

/**
 * Whether a request may be sent twice: an idempotent method or an `Idempotency-Key`, with a
 * body that can be sent again (not a stream).
 */
function replayable(method: string, headers: Record<string, string>, body: unknown): boolean {
  if (isStream(body)) return false;
  return (
    IDEMPOTENT_METHODS.has(method) || Object.keys(headers).some((name) => name.toLowerCase() === "idempotency-key")
  );
}

function isStream(body: unknown): boolean {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}

/**
 * The sidecar cannot send an error once an answer's headers are out: when the upstream's body
 * fails, the sidecar cuts the hop's body off. Cut off after the total timeout, that was the
 * timeout (the sidecar's clock started after this one); before, the upstream's reset.
 */
class HopBodyGuard implements BodyGuard {
  readonly #upstream: string;
  readonly #started: number;
  readonly #total: number;
  readonly #signal: AbortSignal | undefined;

  constructor(upstream: string, started: number, total: number, signal: AbortSignal | undefined) {
    this.#upstream = upstream;
    this.#started = started;
    this.#total = total;
    this.#signal = signal;
  }

  timedOut(): TandemError {
    return bodyErrors.totalTimeout(this.#upstream, this.#upstream, VIA_SIDECAR, this.#total);
  }

  failed(error: unknown): TandemError {
    if (this.#signal?.aborted) return bodyErrors.aborted(this.#upstream, VIA_SIDECAR, error);
    if (performance.now() - this.#started >= this.#total) return this.timedOut();
    return bodyErrors.cutOff(this.#upstream, this.#upstream, VIA_SIDECAR, error);
  }
}

const VIA_SIDECAR = "via the sidecar";
