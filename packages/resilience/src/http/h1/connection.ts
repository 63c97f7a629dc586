import type { Socket } from "node:net";
import type { Exchange } from "./exchange.js";
import { Http1Error } from "./http1-error.js";
import { mismatch, type RequestBody } from "./request-head.js";
import { ResponseParser } from "./response-parser.js";

/** What a connection tells its pool. */
export interface ConnectionOwner {
  /** The connection is free for another exchange. */
  released(connection: Connection): void;
  /**
   * The connection closed. `resend` is an exchange it had sent on a kept-alive connection that the
   * upstream had closed meanwhile, before answering any of it: safe to send again on a new one.
   */
  gone(connection: Connection, resend: Exchange | undefined): void;
}

const CRLF = "\r\n";
const LAST_CHUNK = "0\r\n\r\n";

/**
 * One kept-alive HTTP/1.1 connection to an endpoint: one exchange at a time (no pipelining), its
 * request written in one go when it has no body or a body of bytes, its answer read by a
 * `ResponseParser` straight into the exchange's handler. A connection whose last answer did not
 * end cleanly (cut short, followed by bytes nobody asked for, `Connection: close`, a request body
 * not fully sent) is never used again.
 */
export class Connection {
  readonly #socket: Socket;
  readonly #owner: ConnectionOwner;
  readonly #parser = new ResponseParser();
  readonly #openedAt: number;
  readonly #keepAliveMs: number;
  /** The exchange on this connection, from when it is given until its answer ends. */
  exchange: Exchange | undefined;
  #connecting = true;
  /** When bytes last went or came (`Date.now()`): the timeouts count from it. */
  #lastActivity: number;
  /** An idle connection is closed at this time. */
  #expiresAt = Number.POSITIVE_INFINITY;
  #served = 0;
  #dead = false;

  /**
   * `readsItself`: the socket was made with `onread` and hands its reads to `read`, in a buffer it
   * reuses; otherwise they come as `data` events.
   */
  constructor(
    owner: ConnectionOwner,
    socket: Socket,
    first: Exchange,
    keepAliveMs: number,
    connectEvent: string,
    readsItself: boolean,
  ) {
    this.#owner = owner;
    this.#socket = socket;
    this.#keepAliveMs = keepAliveMs;
    this.#openedAt = Date.now();
    this.#lastActivity = this.#openedAt;
    this.exchange = first;
    first.connection = this;
    socket.setNoDelay(true);
    socket.once(connectEvent, () => {
      this.#connecting = false;
      socket.setKeepAlive(true, 60_000);
      const exchange = this.exchange;
      if (exchange !== undefined) this.#write(exchange);
    });
    if (!readsItself) socket.on("data", (bytes: Buffer) => this.#data(bytes));
    socket.on("end", () => this.#ended());
    socket.on("error", (error: Error) => this.#die(error, true));
    socket.on("close", () => this.#die(undefined, true));
  }

  /** Bytes the socket read into a buffer it reuses: handled now, copied where kept. */
  read(bytes: Buffer): void {
    this.#data(Buffer.from(bytes));
  }

  /** Sends `exchange` on this (idle, connected) connection. */
  send(exchange: Exchange): void {
    this.exchange = exchange;
    exchange.connection = this;
    this.#write(exchange);
  }

  /** Whether an idle connection may take an exchange at `now`. */
  usable(now: number): boolean {
    return !this.#dead && now < this.#expiresAt;
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  /**
   * Closes the connection; an exchange on it that has not settled fails with `error` (by default,
   * that the upstream closed the connection).
   */
  destroy(error?: Error): void {
    this.#die(error, false);
  }

  /** Applies the timeouts at `now` (the pool's sweep calls it). */
  check(now: number, connectTimeoutMs: number): void {
    if (this.#dead) return;
    if (this.#connecting) {
      if (now - this.#openedAt > connectTimeoutMs) {
        this.#die(
          new Http1Error("UND_ERR_CONNECT_TIMEOUT", `connecting took longer than ${connectTimeoutMs} ms`),
          false,
        );
      }
      return;
    }
    const exchange = this.exchange;
    if (exchange === undefined) {
      if (now >= this.#expiresAt) this.destroy();
      return;
    }
    const quiet = now - this.#lastActivity;
    if (!this.#parser.inBody) {
      if (exchange.headersTimeout > 0 && quiet > exchange.headersTimeout) {
        this.#die(
          new Http1Error("UND_ERR_HEADERS_TIMEOUT", `no answer came within ${exchange.headersTimeout} ms`),
          false,
        );
      }
    } else if (!exchange.paused && exchange.bodyTimeout > 0 && quiet > exchange.bodyTimeout) {
      this.#die(
        new Http1Error("UND_ERR_BODY_TIMEOUT", `the answer's body paused for more than ${exchange.bodyTimeout} ms`),
        false,
      );
    }
  }

  #write(exchange: Exchange): void {
    this.#parser.expect(exchange, exchange.method === "HEAD");
    this.#lastActivity = Date.now();
    if (exchange.paused) this.#socket.pause();
    const { text, body } = exchange.request;
    const socket = this.#socket;
    if (body === undefined) {
      socket.write(text, "latin1");
      exchange.sent = true;
    } else if (Buffer.isBuffer(body)) {
      socket.cork();
      socket.write(text, "latin1");
      socket.write(body);
      socket.uncork();
      exchange.sent = true;
    } else {
      socket.write(text, "latin1");
      void this.#stream(exchange, body);
    }
  }

  /** Writes a streamed body, chunked unless its length was given, waiting for the socket to drain. */
  async #stream(exchange: Exchange, body: Exclude<RequestBody, Buffer | undefined>): Promise<void> {
    const declared = exchange.request.length;
    let written = 0;
    try {
      for await (const piece of body) {
        if (this.exchange !== exchange || this.#dead) return;
        const chunk = typeof piece === "string" ? Buffer.from(piece) : piece;
        if (chunk.length === 0) continue;
        written += chunk.length;
        if (declared >= 0 && written > declared) throw mismatch(declared, written);
        let flowing: boolean;
        if (declared < 0) {
          this.#socket.cork();
          this.#socket.write(`${chunk.length.toString(16)}${CRLF}`, "latin1");
          this.#socket.write(chunk);
          flowing = this.#socket.write(CRLF, "latin1");
          this.#socket.uncork();
        } else {
          flowing = this.#socket.write(chunk);
        }
        this.#lastActivity = Date.now();
        if (!flowing) await this.#drained();
      }
      if (this.exchange !== exchange || this.#dead) return;
      if (declared < 0) this.#socket.write(LAST_CHUNK, "latin1");
      else if (written !== declared) throw mismatch(declared, written);
      exchange.sent = true;
    } catch (error) {
      if (this.exchange !== exchange || this.#dead) return;
      // The body failed: the upstream got part of a request, so the connection goes with it.
      exchange.fail(error as Error);
      this.destroy();
    }
  }

  #drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#socket.removeListener("drain", done);
        this.#socket.removeListener("close", done);
        resolve();
      };
      this.#socket.on("drain", done);
      this.#socket.on("close", done);
    });
  }

  #data(bytes: Buffer): void {
    this.#lastActivity = Date.now();
    const exchange = this.exchange;
    if (exchange === undefined) {
      // Bytes on an idle connection answer nothing that was asked: it cannot be trusted again.
      this.destroy();
      return;
    }
    let leftover: number;
    try {
      leftover = this.#parser.feed(bytes);
    } catch (error) {
      this.#die(error as Error, false);
      return;
    }
    if (this.#dead || this.exchange !== exchange || !this.#parser.done) return;
    this.#complete(exchange, leftover > 0);
  }

  /** The answer ended: the connection goes back to the pool, or closes. */
  #complete(exchange: Exchange, garbage: boolean): void {
    this.exchange = undefined;
    exchange.connection = undefined;
    this.#served++;
    const keepMs = keepAliveMs(this.#parser.keepAliveHint, this.#keepAliveMs);
    if (garbage || !this.#parser.keepAlive || exchange.request.close || !exchange.sent || keepMs <= 0) {
      this.destroy();
      return;
    }
    this.#expiresAt = Date.now() + keepMs;
    if (this.#socket.isPaused()) this.#socket.resume();
    this.#owner.released(this);
  }

  #ended(): void {
    const exchange = this.exchange;
    if (exchange !== undefined && !this.#dead) {
      try {
        // An answer framed by the end of the connection ends here.
        this.#parser.close();
      } catch (error) {
        this.#die(error as Error, true);
        return;
      }
    }
    this.#die(undefined, true);
  }

  /**
   * Closes the connection once. `transport` says the upstream closed it: a request sent on a
   * kept-alive connection the upstream had already let go, with no byte of an answer back, is
   * handed back to be sent again (once) when that cannot repeat an effect (RFC 9110 §9.2.2).
   */
  #die(error: Error | undefined, transport: boolean): void {
    if (this.#dead) return;
    this.#dead = true;
    const exchange = this.exchange;
    this.exchange = undefined;
    this.#socket.destroy();
    if (exchange === undefined || exchange.settled || exchange.aborted) {
      this.#owner.gone(this, undefined);
      return;
    }
    exchange.connection = undefined;
    if (transport && this.#served > 0 && !this.#parser.started && exchange.resendable && !exchange.resent) {
      exchange.resent = true;
      this.#owner.gone(this, exchange);
      return;
    }
    this.#owner.gone(this, undefined);
    // Made only when an exchange hears of it: an Error captures a stack trace.
    exchange.fail(error ?? closed());
  }
}

/** How long an idle connection is kept: ours, or less when the upstream says it keeps it less (`Keep-Alive: timeout=5`), less a second for the race. */
function keepAliveMs(hint: string | undefined, ours: number): number {
  if (hint === undefined) return ours;
  const seconds = /(?:^|[,\s])timeout\s*=\s*(\d+)/i.exec(hint)?.[1];
  if (seconds === undefined) return ours;
  return Math.min(ours, Number(seconds) * 1000 - 1000);
}

function closed(): Http1Error {
  return new Http1Error("UND_ERR_SOCKET", "the upstream closed the connection");
}
