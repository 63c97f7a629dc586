import type { Dispatcher } from "undici";
import { formatSidecarAddress, type SidecarAddress } from "../env.js";
import { AbortedError, SidecarUnavailableError, TandemError, TimeoutError } from "../errors.js";
import { fullJitterDelay, sleep } from "../internal/backoff.js";
import { jsonOrText } from "../internal/json.js";
import { Pool } from "../internal/undici.js";
import { fromProblem } from "../problem.js";
import { type EventStream, type EventStreamOptions, openEventStream } from "./event-stream.js";

/** Options of a `SidecarClient`. */
export interface SidecarClientOptions {
  address: SidecarAddress;
  /** Sent as `Authorization: Bearer <token>` on every call. */
  token?: string | undefined;
  /** Default per-call timeout. Default 5000 ms. */
  timeoutMs?: number;
  /**
   * Keep-alive connections to the sidecar. Default 128, as many as an upstream endpoint's pool:
   * each request proxied through the sidecar holds one for as long as the upstream takes.
   */
  connections?: number;
}

/** Options of one call. */
export interface CallOptions {
  /** Sent as JSON. */
  body?: unknown;
  query?: Record<string, string | number | boolean>;
  headers?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Options of `waitUntilReady`. */
export interface WaitOptions {
  /** Give up after this long. Default 30 000 ms. */
  timeoutMs?: number;
  /** First backoff ceiling. Default 25 ms. */
  initialDelayMs?: number;
  /** Backoff cap. Default 1000 ms. */
  maxDelayMs?: number;
  signal?: AbortSignal;
}

/** What `/readyz` reports once the sidecar is ready. */
export interface ReadyInfo {
  status: string;
  version?: string;
  attempts: number;
}

const JSON_TYPE = "application/json";

/**
 * The client of the sidecar's API: keep-alive connections over TCP or a unix socket, the bearer
 * token, per-call timeouts and abort, JSON bodies, problem documents decoded into `TandemError`s,
 * Server-Sent-Event streams with resume, and a readiness wait.
 */
export class SidecarClient {
  readonly address: SidecarAddress;
  readonly #pool: Pool;
  readonly #authorization: string | undefined;
  readonly #timeoutMs: number;
  #closed = false;

  constructor(options: SidecarClientOptions) {
    this.address = options.address;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#authorization = options.token === undefined ? undefined : `Bearer ${options.token}`;
    const origin = options.address.kind === "tcp" ? options.address.origin : "http://localhost";
    this.#pool = new Pool(origin, {
      connections: options.connections ?? 128,
      keepAliveTimeout: 30_000,
      ...(options.address.kind === "unix" ? { socketPath: options.address.path } : {}),
    });
  }

  /** The undici dispatcher behind the client, for callers that stream bodies themselves. */
  get dispatcher(): Dispatcher {
    return this.#pool;
  }

  /** Headers every call carries: authorization and the loopback host. */
  headers(extra?: Record<string, string>): Record<string, string> {
    const headers: Record<string, string> = { ...extra };
    if (this.#authorization !== undefined) headers.authorization = this.#authorization;
    return headers;
  }

  /** GET `path` and decode the JSON answer. */
  get<T = unknown>(path: string, options: Omit<CallOptions, "body"> = {}): Promise<T> {
    return this.call<T>("GET", path, options);
  }

  /** POST `body` as JSON to `path` and decode the JSON answer. */
  post<T = unknown>(path: string, body: unknown, options: Omit<CallOptions, "body"> = {}): Promise<T> {
    return this.call<T>("POST", path, { ...options, body });
  }

  /**
   * One call. Resolves with the decoded JSON (or `undefined` for an empty answer); rejects with
   * the `TandemError` the sidecar sent, `TimeoutError`, `AbortedError`, or
   * `SidecarUnavailableError` when the sidecar could not be reached.
   */
  async call<T = unknown>(method: Dispatcher.HttpMethod, path: string, options: CallOptions = {}): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const headers = this.headers(options.headers);
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] = JSON_TYPE;
    }
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#pool.request({
        method,
        path,
        headers,
        body,
        ...(options.query === undefined ? {} : { query: options.query }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        // undici's own timers cover both phases, so no timer is created per call here.
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (error) {
      throw this.#translate(error, method, path, timeoutMs, options.signal);
    }
    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      throw this.#translate(error, method, path, timeoutMs, options.signal);
    }
    const contentType = String(response.headers["content-type"] ?? "");
    const decoded = text === "" ? undefined : contentType.includes("json") ? jsonOrText(text) : text;
    if (response.statusCode >= 400) throw fromProblem(response.statusCode, decoded);
    return decoded as T;
  }

  /**
   * Opens a Server-Sent-Event stream at `path` that reconnects by itself (sending
   * `Last-Event-ID`) until closed or until the sidecar answers with a client error.
   */
  events(path: string, options: EventStreamOptions): EventStream {
    return openEventStream(this.#pool, path, () => this.headers(), options);
  }

  /**
   * Polls `/readyz` with capped exponential backoff and full jitter until the sidecar is ready.
   * Rejects with `SidecarUnavailableError` when `timeoutMs` passes first.
   */
  async waitUntilReady(options: WaitOptions = {}): Promise<ReadyInfo> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const initial = options.initialDelayMs ?? 25;
    const cap = options.maxDelayMs ?? 1000;
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    for (let attempt = 0; ; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      try {
        const ready = await this.get<{ status: string; version?: string }>("/readyz", {
          timeoutMs: Math.min(remaining, 2000),
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        });
        return { ...ready, attempts: attempt + 1 };
      } catch (error) {
        if (options.signal?.aborted) throw new AbortedError("waiting for the sidecar was aborted");
        lastError = error;
      }
      const delay = Math.min(fullJitterDelay(attempt, initial, cap), Math.max(0, deadline - Date.now()));
      await sleep(delay, options.signal).catch(() => {
        throw new AbortedError("waiting for the sidecar was aborted");
      });
    }
    const where = formatSidecarAddress(this.address);
    const why = lastError instanceof Error ? lastError.message : String(lastError);
    throw new SidecarUnavailableError(`sidecar at ${where} was not ready within ${timeoutMs} ms (last: ${why})`, {
      cause: lastError,
      details: { sidecar: where, timeoutMs },
    });
  }

  /** Closes the connections. Calls made afterwards fail with `SidecarUnavailableError`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.close();
  }

  #translate(error: unknown, method: string, path: string, timeoutMs: number, signal?: AbortSignal): TandemError {
    if (TandemError.is(error)) return error;
    const code = (error as { code?: string }).code;
    const where = formatSidecarAddress(this.address);
    if (signal?.aborted || (error as Error).name === "AbortError" || code === "UND_ERR_ABORTED") {
      return new AbortedError(`${method} ${path} to the sidecar was aborted`, { cause: error });
    }
    if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
      return new TimeoutError(`${method} ${path} to the sidecar at ${where} took longer than ${timeoutMs} ms`, {
        cause: error,
        details: { timeoutMs, sidecar: where },
      });
    }
    const reason = code ?? (error as Error).message;
    return new SidecarUnavailableError(`${method} ${path} could not reach the sidecar at ${where} (${reason})`, {
      cause: error,
      details: { sidecar: where, reason },
    });
  }
}
