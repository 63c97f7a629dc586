import type { IncomingHttpHeaders } from "node:http";
import type { FieldLines } from "@tandem/core";
import { IDEMPOTENT_METHODS } from "../idempotent-methods.js";
import type { Connection } from "./connection.js";
import type { RequestHead } from "./request-head.js";
import type { ResponseSink } from "./response-parser.js";

/** The callbacks of undici's handler API that tandem's attempts implement. */
export interface ExchangeHandler {
  onRequestStart?(controller: Exchange, context: object): void;
  onResponseStart?(controller: Exchange, statusCode: number, headers: IncomingHttpHeaders, statusText: string): void;
  /**
   * tandem's own, called instead of `onResponseStart` when a handler has it: the answer's head,
   * whose lines are made into an object only if `head.headers` is read.
   */
  onResponseHead?(controller: Exchange, statusCode: number, head: FieldLines, statusText: string): void;
  onResponseData?(controller: Exchange, chunk: Buffer): void;
  onResponseEnd?(controller: Exchange, trailers: Record<string, string | string[]>): void;
  onResponseError?(controller: Exchange | undefined, error: Error): void;
}

const NO_CONTEXT = Object.freeze({});

/**
 * One request and its answer on the pool: the controller its handler is given (abort, pause,
 * resume, as undici's), and the sink its connection's parser feeds. Each handler callback is
 * called at most once after the exchange settles: none after `onResponseEnd` or `onResponseError`.
 */
export class Exchange implements ResponseSink {
  readonly request: RequestHead;
  readonly method: string;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
  /** A request that may be sent again on a fresh connection when a kept-alive one turns out closed. */
  readonly resendable: boolean;
  readonly #handler: ExchangeHandler;
  connection: Connection | undefined;
  /** The request's body was written to the end. */
  sent = false;
  resent = false;
  #settled = false;
  #paused = false;
  #reason: Error | null = null;

  constructor(
    method: string,
    head: RequestHead,
    handler: ExchangeHandler,
    headersTimeout: number,
    bodyTimeout: number,
  ) {
    this.method = method;
    this.request = head;
    this.#handler = handler;
    this.headersTimeout = headersTimeout;
    this.bodyTimeout = bodyTimeout;
    this.resendable = IDEMPOTENT_METHODS.has(method) && (head.body === undefined || Buffer.isBuffer(head.body));
  }

  /** Tells the handler the request starts; false when it aborted at once. */
  start(): boolean {
    this.#handler.onRequestStart?.(this, NO_CONTEXT);
    return !this.#settled;
  }

  get settled(): boolean {
    return this.#settled;
  }

  get aborted(): boolean {
    return this.#reason !== null;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get reason(): Error | null {
    return this.#reason;
  }

  abort(reason: Error): void {
    if (this.#settled) return;
    this.#reason = reason;
    // A queued exchange is skipped when its turn comes; one on a connection takes it down.
    this.connection?.destroy(reason);
    this.fail(reason);
  }

  pause(): void {
    this.#paused = true;
    this.connection?.pause();
  }

  resume(): void {
    this.#paused = false;
    this.connection?.resume();
  }

  head(statusCode: number, head: FieldLines, statusText: string): void {
    if (this.#settled) return;
    const handler = this.#handler;
    if (handler.onResponseHead !== undefined) handler.onResponseHead(this, statusCode, head, statusText);
    else handler.onResponseStart?.(this, statusCode, head.headers, statusText);
  }

  data(chunk: Buffer): void {
    if (!this.#settled) this.#handler.onResponseData?.(this, chunk);
  }

  end(trailers: Record<string, string | string[]>): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#handler.onResponseEnd?.(this, trailers);
  }

  fail(error: Error): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#handler.onResponseError?.(this, error);
  }
}
