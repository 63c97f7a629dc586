import { connect as connectTcp, isIP, type Socket } from "node:net";
import type { ConnectionOptions } from "node:tls";
import { Dispatcher as UndiciDispatcher } from "@tandem/core/undici";
import type { Dispatcher } from "undici";
import { Connection, type ConnectionOwner } from "./connection.js";
import { Exchange, type ExchangeHandler } from "./exchange.js";
import { Http1Error } from "./http1-error.js";
import { type RequestHead, requestHead } from "./request-head.js";

/** What `Http1Pool.dispatch` takes beyond undici's options. */
export interface Http1DispatchOptions extends Dispatcher.DispatchOptions {
  /**
   * Trace header lines (`traceparent`, `tracestate`; each `name: value` ending with CRLF) written
   * into the head as they are, in place of any trace headers `headers` gives: see
   * `CHILD_TRACE_LINES`.
   */
  traceLines?: string | undefined;
  /**
   * Header lines a proxy passes on as they came (each `name: value` ending with CRLF), checked
   * already by the reader that read them: written into the head after `headers`, as they are.
   */
  headLines?: string | undefined;
}

/** Options of an `Http1Pool`; the defaults are undici's `Pool`'s as tandem sets them. */
export interface Http1PoolOptions {
  /** Connections open at most; further requests wait in order (default 128). */
  connections?: number;
  /** How long an idle connection is kept (default 30 s), less when the upstream keeps it less. */
  keepAliveTimeout?: number;
  /** How long connecting may take (default 10 s, as undici's). */
  connectTimeout?: number;
  /** Options of TLS connections to an https origin (a private CA, say). */
  tls?: Omit<ConnectionOptions, "host" | "port" | "servername" | "ALPNProtocols">;
}

/** undici's defaults for the headers and body timeouts, used when a request gives none. */
const DEFAULT_TIMEOUT_MS = 300_000;
/**
 * What every plain-TCP connection of every pool reads into: each read is handled, and what is
 * kept of it copied, before the next read into it.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
/** How often the timeouts are checked: one timer per pool, none per request. */
const SWEEP_MS = 500;

/**
 * tandem's HTTP/1.1 client for one origin: kept-alive connections, one exchange at a time each,
 * the rest queued in order. It speaks undici's dispatcher and handler API (`dispatch(options,
 * handler)`, controllers that abort, pause and resume), which is all the upstream pipeline asks
 * of a client, and does less per request than undici's `Pool`: the request head is written as
 * one string, the answer parsed by `ResponseParser` straight into the handler, and the headers,
 * body and connect timeouts are kept by one sweep per pool instead of timers per request.
 *
 *   const pool = new Http1Pool("http://10.0.0.7:8080");
 *   pool.dispatch({ method: "GET", path: "/health", headers: {} }, handler);
 *
 * A request sent on a kept-alive connection the upstream closed meanwhile, with no byte of an
 * answer back, is sent again once on a new connection when that cannot repeat an effect (an
 * idempotent method, a body of bytes or none), as browsers and Go's client do; undici fails it.
 */
export class Http1Pool extends UndiciDispatcher implements ConnectionOwner {
  readonly #host: string;
  readonly #port: number;
  readonly #tls: boolean;
  readonly #hostHeader: string;
  readonly #max: number;
  readonly #keepAliveMs: number;
  readonly #connectTimeoutMs: number;
  readonly #tlsOptions: Http1PoolOptions["tls"];
  readonly #connections = new Set<Connection>();
  readonly #idle: Connection[] = [];
  #queue: (Exchange | undefined)[] = [];
  #queueHead = 0;
  #closed = false;
  #whenClosed: (() => void) | undefined;
  #sweep: NodeJS.Timeout | undefined;

  constructor(origin: string, options: Http1PoolOptions = {}) {
    super();
    const url = new URL(origin);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(`Http1Pool: ${origin} is not an http:// or https:// origin`);
    }
    this.#tls = url.protocol === "https:";
    this.#host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    this.#port = Number(url.port || (this.#tls ? 443 : 80));
    this.#hostHeader = url.host;
    this.#max = options.connections ?? 128;
    this.#keepAliveMs = options.keepAliveTimeout ?? 30_000;
    this.#connectTimeoutMs = options.connectTimeout ?? 10_000;
    this.#tlsOptions = options.tls;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const callbacks = handler as unknown as ExchangeHandler;
    if (this.#closed) {
      callbacks.onResponseError?.(undefined, new Http1Error("UND_ERR_CLOSED", "the connection pool is closed"));
      return true;
    }
    const method = options.method ?? "GET";
    let head: RequestHead;
    try {
      head = requestHead(
        method,
        options.path,
        options.headers as Record<string, string | string[] | undefined> | null | undefined,
        this.#hostHeader,
        options.body,
        (options as Http1DispatchOptions).traceLines,
        (options as Http1DispatchOptions).headLines,
      );
    } catch (error) {
      callbacks.onResponseError?.(undefined, error as Error);
      return true;
    }
    const exchange = new Exchange(
      method,
      head,
      callbacks,
      options.headersTimeout ?? DEFAULT_TIMEOUT_MS,
      options.bodyTimeout ?? DEFAULT_TIMEOUT_MS,
    );
    if (exchange.start()) this.#assign(exchange);
    return true;
  }

  #assign(exchange: Exchange): void {
    const idle = this.#idle;
    if (idle.length > 0) {
      const now = Date.now();
      while (idle.length > 0) {
        const connection = idle.pop() as Connection;
        if (connection.usable(now)) {
          connection.send(exchange);
          return;
        }
        connection.destroy();
      }
    }
    if (this.#connections.size < this.#max) this.#open(exchange);
    else this.#queue.push(exchange);
  }

  released(connection: Connection): void {
    const next = this.#dequeue();
    if (next !== undefined) connection.send(next);
    else if (this.#closed) connection.destroy();
    else this.#idle.push(connection);
  }

  gone(connection: Connection, resend: Exchange | undefined): void {
    this.#connections.delete(connection);
    const at = this.#idle.indexOf(connection);
    if (at >= 0) this.#idle.splice(at, 1);
    const next = resend ?? this.#dequeue();
    if (next !== undefined) this.#open(next);
    if (this.#connections.size === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
      if (this.#closed) this.#whenClosed?.();
    }
  }

  #dequeue(): Exchange | undefined {
    const queue = this.#queue;
    while (this.#queueHead < queue.length) {
      const exchange = queue[this.#queueHead];
      queue[this.#queueHead++] = undefined;
      if (exchange !== undefined && !exchange.settled) return exchange;
    }
    if (this.#queueHead > 0) {
      this.#queue = [];
      this.#queueHead = 0;
    }
    return undefined;
  }

  #open(exchange: Exchange): void {
    let socket: Socket;
    let event: string;
    if (this.#tls) {
      const servername = isIP(this.#host) === 0 ? this.#host : undefined;
      // Loaded on first use: a sidecar with no https upstream never loads TLS (memory, startup).
      const tls = process.getBuiltinModule("node:tls");
      socket = tls.connect({
        ...this.#tlsOptions,
        host: this.#host,
        port: this.#port,
        servername,
        ALPNProtocols: ["http/1.1"],
      });
      event = "secureConnect";
    } else {
      // The socket hands each read straight to the connection (`onread`), not through a
      // Readable stream's push, buffer and `data` event; the connection copies what it keeps.
      let connection: Connection | undefined;
      socket = connectTcp({
        host: this.#host,
        port: this.#port,
        onread: {
          buffer: READ_BUFFER,
          callback: (length) => {
            connection?.read(READ_BUFFER.subarray(0, length));
            return true;
          },
        },
      });
      connection = new Connection(this, socket, exchange, this.#keepAliveMs, "connect", true);
      this.#opened(connection);
      return;
    }
    this.#opened(new Connection(this, socket, exchange, this.#keepAliveMs, event, false));
  }

  #opened(connection: Connection): void {
    this.#connections.add(connection);
    if (this.#sweep === undefined) {
      this.#sweep = setInterval(() => this.#check(), SWEEP_MS);
      this.#sweep.unref();
    }
  }

  #check(): void {
    const now = Date.now();
    for (const connection of this.#connections) connection.check(now, this.#connectTimeoutMs);
  }

  /** Lets the requests under way and queued finish, then closes every connection. */
  override close(): Promise<void> {
    this.#closed = true;
    for (const connection of [...this.#idle]) connection.destroy();
    if (this.#connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#whenClosed = resolve;
    });
  }

  /** Closes every connection now: the requests under way and queued fail. */
  override destroy(): Promise<void> {
    this.#closed = true;
    const error = new Http1Error("UND_ERR_DESTROYED", "the connection pool was destroyed");
    for (let next = this.#dequeue(); next !== undefined; next = this.#dequeue()) next.fail(error);
    for (const connection of [...this.#connections]) connection.destroy(error);
    return Promise.resolve();
  }
}
