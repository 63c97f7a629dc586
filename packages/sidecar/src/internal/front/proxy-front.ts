import type { IncomingHttpHeaders, Server } from "node:http";
import type { Socket } from "node:net";
import type { FieldLines, ProxyIncoming, ProxyTarget, SeenNames } from "@tandem/core";
import { answerClientError } from "../io.js";
import { type AnswerSink, FrontResponse } from "./front-response.js";
import { type RequestHead, readRequestHead } from "./request-head.js";

/** What the front asks of the sidecar. */
export interface FrontHandler {
  /**
   * The target of a request the front may serve itself (every check of the sidecar passes), or
   * undefined to hand the connection to Node's HTTP server, whose handler answers it.
   */
  accept(head: RequestHead): ProxyTarget | undefined;
  /** Serves an accepted request, its body read. */
  serve(request: FrontRequest, response: FrontResponse): void;
}

export interface FrontOptions {
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  /** How often the timeouts are checked, in ms. */
  checkInterval: number;
}

/** A request the front read whole: its head, and its body as one chunk. */
export class FrontRequest implements ProxyIncoming {
  readonly method: string;
  readonly url: string;
  readonly lines: FieldLines;
  readonly target: ProxyTarget;
  readonly #body: Buffer | undefined;

  constructor(head: RequestHead, target: ProxyTarget, body: Buffer | undefined) {
    this.method = head.method;
    this.url = head.url;
    this.lines = head.lines;
    this.target = target;
    this.#body = body;
  }

  /** The header lines as an object, made when first read: the forward proxy reads `lines`. */
  get headers(): IncomingHttpHeaders {
    return this.lines.headers;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.#body !== undefined) yield this.#body;
  }
}

/** Bytes of a pipelined next request held while an answer is written, before reading pauses. */
const PIPELINE_HOLD = 64 * 1024;

/** Connected, no byte yet: held to the headers timeout, as Node holds it, and left alone by a drain. */
const FRESH = 0;
const IDLE = 1;
const HEAD = 2;
const BODY = 3;
const ANSWER = 4;
const DONE = 5;

/**
 * The forward proxy's own front on the API listener: it reads each connection's requests itself
 * and serves the forward-proxy requests that pass every check, and hands any other connection
 * (the sidecar's API, a request it does not read, one a check refuses) to Node's HTTP server at a
 * request's first byte, so that Node reads and answers it as it always did. Node's server stays
 * the listener: it accepts, counts and limits the connections.
 *
 * Reading the proxied requests here rather than in Node's server saves a fifth of what a proxied
 * request costs the sidecar (callgrind): Node's server builds an `IncomingMessage` and a
 * `ServerResponse`, two streams with their events and state, for every request.
 */
export class ProxyFront {
  readonly #toNode: (socket: Socket) => void;
  readonly #handler: FrontHandler;
  readonly #options: FrontOptions;
  readonly #connections = new Set<FrontConnection>();
  /** Sockets the front is done with that are still writing their last bytes. */
  readonly #closing = new Set<Socket>();
  readonly #sweep: NodeJS.Timeout;
  #draining = false;

  private constructor(toNode: (socket: Socket) => void, handler: FrontHandler, options: FrontOptions) {
    this.#toNode = toNode;
    this.#handler = handler;
    this.#options = options;
    this.#sweep = setInterval(() => this.#expire(Date.now()), options.checkInterval);
    this.#sweep.unref();
  }

  /** Puts a front before `server`: its connections come to the front first. */
  static install(server: Server, handler: FrontHandler, options: FrontOptions): ProxyFront {
    const listeners = server.listeners("connection");
    const nodeListener = listeners[0];
    if (listeners.length !== 1 || nodeListener === undefined) {
      throw new Error(
        `Node's HTTP server has ${listeners.length} connection listeners where the proxy front expects 1`,
      );
    }
    server.removeListener("connection", nodeListener as (socket: Socket) => void);
    const front = new ProxyFront((socket) => nodeListener.call(server, socket), handler, options);
    server.on("connection", (socket: Socket) => front.#connections.add(new FrontConnection(front, socket)));
    return front;
  }

  get handler(): FrontHandler {
    return this.#handler;
  }

  get keepAliveSeconds(): number {
    return Math.floor(this.#options.keepAliveTimeout / 1000);
  }

  /** The timeouts a refusal names. */
  get limits(): FrontOptions {
    return this.#options;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Stops keeping connections alive: idle ones close now, the others after their answer. */
  closeIdle(): void {
    this.#draining = true;
    for (const connection of this.#connections) connection.closeIfIdle();
  }

  /** Closes every connection the front holds, answers in progress or not, closing ones too. */
  closeAll(): void {
    this.#draining = true;
    clearInterval(this.#sweep);
    for (const connection of this.#connections) connection.socket.destroy();
    for (const socket of this.#closing) socket.destroy();
  }

  /**
   * Closes a connection the front is done with once its last bytes are written, as Node's
   * `destroySoon` does: without waiting for the client's end, which a half-open connection might
   * never send. Until then `closeAll` can still reach it.
   */
  closeSoon(socket: Socket): void {
    if (socket.destroyed) return;
    this.#closing.add(socket);
    socket.once("close", () => this.#closing.delete(socket));
    socket.end();
    if (socket.writableFinished) socket.destroy();
    else socket.once("finish", () => socket.destroy());
  }

  /** `socket` goes to Node's server from here on. */
  handOff(socket: Socket): void {
    this.#toNode(socket);
    socket.resume();
  }

  forget(connection: FrontConnection): void {
    this.#connections.delete(connection);
  }

  #expire(now: number): void {
    const o = this.#options;
    for (const connection of this.#connections) connection.expire(now, o);
  }
}

/** One connection, while the front reads it: its requests in turn, and their answers. */
class FrontConnection implements AnswerSink {
  readonly socket: Socket;
  readonly #front: ProxyFront;
  #phase = FRESH;
  /** When the phase began: the request's first byte, or the end of the last answer. */
  #since = Date.now();
  #buffer: Buffer | undefined;
  /** The chunks of a request whose body is still arriving (its head first), and their bytes. */
  #parts: Buffer[] | undefined;
  #partBytes = 0;
  #head: RequestHead | undefined;
  #target: ProxyTarget | undefined;
  #response: FrontResponse | undefined;
  #ended = false;
  /** The names the last head on this connection gave, line by line: see `readRequestHead`. */
  readonly #seen: SeenNames = [];

  constructor(front: ProxyFront, socket: Socket) {
    this.#front = front;
    this.socket = socket;
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
  }

  get keepAliveSeconds(): number {
    return this.#front.keepAliveSeconds;
  }

  readonly #onData = (chunk: Buffer): void => {
    const parts = this.#parts;
    if (parts !== undefined) {
      // A body that comes in many chunks is joined once, when it is whole.
      parts.push(chunk);
      this.#partBytes += chunk.length;
      const head = this.#head as RequestHead;
      if (this.#partBytes < head.headBytes + head.bodyBytes) return;
      this.#parts = undefined;
      this.#buffer = Buffer.concat(parts, this.#partBytes);
      this.#advance();
      return;
    }
    const buffer = this.#buffer === undefined ? chunk : Buffer.concat([this.#buffer, chunk]);
    this.#buffer = buffer;
    if (this.#phase === ANSWER) {
      // A pipelined request waits for the answer before it; past a bound the client waits too.
      if (buffer.length > PIPELINE_HOLD) this.socket.pause();
      return;
    }
    if (this.#phase === IDLE || this.#phase === FRESH) this.#begin();
    this.#advance();
  };

  readonly #onEnd = (): void => {
    this.#ended = true;
    if (this.#phase === ANSWER) {
      // As Node's server takes it (no half-open HTTP): the client is gone, its answer is given up
      // when the connection closes.
      this.socket.end();
      return;
    }
    // A request cut short by the end of its connection is answered as Node's parser answers it.
    this.#close(
      this.#phase === HEAD || this.#phase === BODY
        ? Object.assign(new Error("the connection ended before the request did"), {
            code: "HPE_INVALID_EOF_STATE",
            reason: "the connection ended before the request did",
          })
        : undefined,
    );
  };

  readonly #onError = (): void => {
    // A reset or a failed write: the socket closes next, and `close` settles what was in progress.
    this.socket.destroy();
  };

  readonly #onClose = (): void => {
    this.#phase = DONE;
    this.#front.forget(this);
    const response = this.#response;
    this.#response = undefined;
    response?.connectionClosed();
  };

  /** The answer in progress ended: the next request, if one came, is read. */
  answered(close: boolean): void {
    this.#response = undefined;
    if (close || this.#ended || this.#front.draining) {
      this.#close(undefined);
      return;
    }
    this.#phase = IDLE;
    this.#since = Date.now();
    if (this.socket.isPaused()) this.socket.resume();
    if (this.#buffer !== undefined) {
      this.#begin();
      // Not from inside the answer's last write: the next request starts on a clean stack.
      process.nextTick(this.#advanceLater);
    }
  }

  /** Closes the connection if it waits for a next request; a new one that has sent nothing yet is let be, as Node lets it be. */
  closeIfIdle(): void {
    if (this.#phase === IDLE && this.#buffer === undefined) this.socket.destroy();
  }

  expire(now: number, limits: FrontOptions): void {
    const phase = this.#phase;
    const waited = now - this.#since;
    if (phase === IDLE) {
      if (waited > limits.keepAliveTimeout) this.socket.destroy();
      return;
    }
    const headers = phase === HEAD || phase === FRESH;
    if ((headers && waited > limits.headersTimeout) || (phase === BODY && waited > limits.requestTimeout)) {
      this.#close(Object.assign(new Error("the request did not arrive in time"), { code: "ERR_HTTP_REQUEST_TIMEOUT" }));
    }
  }

  readonly #advanceLater = (): void => {
    if (this.#phase === HEAD) this.#advance();
  };

  #begin(): void {
    this.#phase = HEAD;
    this.#since = Date.now();
  }

  #advance(): void {
    const buffer = this.#buffer as Buffer;
    if (this.#phase === HEAD) {
      const head = readRequestHead(buffer, this.#seen);
      if (head === "more") return;
      const target = head === undefined ? undefined : this.#front.handler.accept(head);
      if (head === undefined || target === undefined) {
        this.#handOff();
        return;
      }
      this.#head = head;
      this.#target = target;
      this.#phase = BODY;
    }
    const head = this.#head as RequestHead;
    const end = head.headBytes + head.bodyBytes;
    if (buffer.length < end) {
      this.#parts = [buffer];
      this.#partBytes = buffer.length;
      return;
    }
    const body = head.bodyBytes === 0 ? undefined : buffer.subarray(head.headBytes, end);
    this.#buffer = buffer.length === end ? undefined : buffer.subarray(end);
    const target = this.#target as ProxyTarget;
    this.#head = undefined;
    this.#target = undefined;
    this.#phase = ANSWER;
    const response = new FrontResponse(this, head.method === "HEAD");
    this.#response = response;
    this.#front.handler.serve(new FrontRequest(head, target, body), response);
  }

  /** Gives the connection, with the bytes read of its request, to Node's server. */
  #handOff(): void {
    const socket = this.socket;
    socket.pause();
    this.#finish();
    // Node's server puts its own error listener on.
    socket.removeListener("error", this.#onError);
    const buffer = this.#buffer;
    this.#buffer = undefined;
    if (buffer !== undefined) socket.unshift(buffer);
    this.#front.handOff(socket);
  }

  /**
   * The front is done with the connection and closes it, once `refusal` (a request Node's server
   * would refuse, or a timeout) is answered as `answerClientError` answers Node's own.
   */
  #close(refusal: (Error & { code: string }) | undefined): void {
    this.#finish();
    if (refusal !== undefined) answerClientError(this.socket, refusal, this.#front.limits);
    this.#front.closeSoon(this.socket);
  }

  /**
   * The front is done with the connection: it reads no more of it. The socket stays open (to be
   * closed, or handed off), and its error listener stays, so a late reset is not an uncaught error.
   */
  #finish(): void {
    this.#phase = DONE;
    this.#front.forget(this);
    const socket = this.socket;
    socket.removeListener("data", this.#onData);
    socket.removeListener("end", this.#onEnd);
    socket.removeListener("close", this.#onClose);
  }
}
