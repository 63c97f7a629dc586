import { type OutgoingHttpHeaders, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { badFieldValue, type HeadLines, HTTP_CHUNKED_LAST, type ProxyOutgoing } from "@tandem/core";

/** What a front answer tells its connection when it ended: whether the connection closes now. */
export interface AnswerSink {
  readonly socket: Socket;
  /** Seconds a kept-alive connection may idle, for the `Keep-Alive` header. */
  readonly keepAliveSeconds: number;
  answered(close: boolean): void;
}

const NO_FRAMING = 0;
const FIXED = 1;
const CHUNKED = 2;

const LENGTH = 1;
const DATE = 2;
const CLOSE = 4;
const CONNECTION = 8;
const CHUNKED_GIVEN = 16;

/** A first chunk of the body up to this size is copied in with the head, to be written at once. */
const JOIN_BYTES = 16 * 1024;

const CLOSE_TOKEN = /(?:^|,)\s*close\s*(?:,|$)/i;

let dateSecond = -1;
let dateText = "";

/** The `Date` header's value, formatted once a second as Node's server does. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/**
 * The answer to a request the proxy front read: what the forward proxy and the sidecar's problem
 * answers write through, written as Node's `ServerResponse` writes it (the same status line and
 * headers, `Date`, `Connection: keep-alive` with `Keep-Alive: timeout=`, chunked framing when no
 * `Content-Length` is given, no body for HEAD, 1xx, 204 and 304), straight to the socket. The head
 * goes out with the first bytes of the body in one write.
 *
 * It reports a failed connection by `close` before its end (`writableFinished` false), never by
 * `error`: the socket's error is the only kind it has, and `close` always follows it.
 */
export class FrontResponse implements ProxyOutgoing {
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  readonly #sink: AnswerSink;
  readonly #headRequest: boolean;
  #extra: Record<string, string> | undefined;
  #pendingHead: string | undefined;
  #framing = NO_FRAMING;
  /** Which of the fields the head must know of (`LENGTH`, `DATE`, ...) the head being written has. */
  #seen = 0;
  #close = false;
  /** The connection closed before the answer ended. */
  #gone = false;
  #closeListeners: (() => void)[] = [];

  constructor(sink: AnswerSink, headRequest: boolean) {
    this.#sink = sink;
    this.#headRequest = headRequest;
  }

  setHeader(name: string, value: string): this {
    if (this.headersSent) throw headersSent();
    this.#extra ??= {};
    this.#extra[name.toLowerCase()] = value;
    return this;
  }

  writeHead(statusCode: number, headers: OutgoingHttpHeaders = {}): this {
    if (this.headersSent) throw headersSent();
    this.#seen = 0;
    let text = statusLine(statusCode);
    if (this.#extra !== undefined) text += this.#lines(this.#extra, headers);
    text += this.#lines(headers, undefined);
    return this.#head(statusCode, text);
  }

  /** Writes the head with `lines` as they are: an upstream's, passed on by the forward proxy. */
  writeHeadLines(statusCode: number, lines: HeadLines): this {
    if (this.headersSent) throw headersSent();
    this.#seen = (lines.contentLength ? LENGTH : 0) | (lines.date ? DATE : 0);
    let text = statusLine(statusCode);
    if (this.#extra !== undefined) text += this.#lines(this.#extra, namesOf(lines.text));
    return this.#head(statusCode, text + lines.text);
  }

  /** Ends the head begun in `text` with the fields it lacks, and readies it to go out with the body. */
  #head(statusCode: number, begun: string): this {
    let text = begun;
    const seen = this.#seen;
    if ((seen & DATE) === 0) text += `Date: ${httpDate()}\r\n`;
    // As Node: a Connection header given is written as it is, and says close when it names it.
    if ((seen & CLOSE) !== 0) this.#close = true;
    else if ((seen & CONNECTION) === 0)
      text += `Connection: keep-alive\r\nKeep-Alive: timeout=${this.#sink.keepAliveSeconds}\r\n`;
    const bodiless = this.#headRequest || statusCode < 200 || statusCode === 204 || statusCode === 304;
    if (!bodiless) {
      if ((seen & CHUNKED_GIVEN) !== 0) {
        this.#framing = CHUNKED;
      } else if ((seen & LENGTH) !== 0) {
        this.#framing = FIXED;
      } else {
        this.#framing = CHUNKED;
        text += "Transfer-Encoding: chunked\r\n";
      }
    }
    this.headersSent = true;
    this.#pendingHead = `${text}\r\n`;
    return this;
  }

  write(chunk: Buffer | string): boolean {
    if (!this.headersSent) this.writeHead(200);
    if (this.writableEnded || this.#gone) return false;
    const socket = this.#sink.socket;
    if (this.#framing === NO_FRAMING) {
      this.#flushHead(socket);
      return true;
    }
    // An empty chunk is no chunk: written chunked, it would end the body.
    const size = typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
    if (size === 0) {
      this.#flushHead(socket);
      return true;
    }
    const head = this.#pendingHead;
    if (head !== undefined && size <= JOIN_BYTES && typeof chunk !== "string") {
      // The head and a small first chunk go out as one buffer: one write, where corking makes
      // the socket gather its pieces into a vectored write.
      this.#pendingHead = undefined;
      return socket.write(this.#joined(head, chunk));
    }
    socket.cork();
    this.#flushHead(socket);
    let flowing: boolean;
    if (this.#framing === CHUNKED) {
      socket.write(`${size.toString(16)}\r\n`, "latin1");
      socket.write(chunk);
      flowing = socket.write("\r\n", "latin1");
    } else {
      flowing = socket.write(chunk);
    }
    socket.uncork();
    return flowing;
  }

  end(chunk?: string): this {
    if (this.writableEnded) return this;
    if (this.#gone) {
      this.writableEnded = true;
      return this;
    }
    if (chunk !== undefined && chunk.length > 0) this.write(chunk);
    else if (!this.headersSent) this.writeHead(200);
    this.writableEnded = true;
    const socket = this.#sink.socket;
    if (this.#framing === CHUNKED) {
      socket.cork();
      this.#flushHead(socket);
      socket.write("0\r\n\r\n", "latin1");
      socket.uncork();
    } else {
      this.#flushHead(socket);
    }
    this.writableFinished = true;
    this.#closed();
    this.#sink.answered(this.#close);
    return this;
  }

  /** Cuts the answer off: the connection is destroyed, and `close` comes with it. */
  destroy(error?: Error): this {
    this.#sink.socket.destroy(error);
    return this;
  }

  /** The connection closed: an answer not ended by then never will be, and writes go nowhere. */
  connectionClosed(): void {
    this.#gone = true;
    if (!this.writableFinished) this.#closed();
  }

  on(event: "close", listener: () => void): this;
  on(event: "error", listener: (error: Error) => void): this;
  on(event: "close" | "error", listener: (error: Error) => void): this {
    // A failed connection is reported by `close` before the end (see the class's comment).
    if (event === "close") this.#closeListeners.push(listener as () => void);
    return this;
  }

  once(event: "drain", listener: () => void): this {
    this.#sink.socket.once(event, listener);
    return this;
  }

  /** The header lines of `fields`, less those `over` gives too; notes the fields the head needs to know of. */
  #lines(fields: OutgoingHttpHeaders, over: OutgoingHttpHeaders | undefined): string {
    let text = "";
    for (const name in fields) {
      const value = fields[name];
      if (value === undefined || over?.[name] !== undefined) continue;
      switch (name.toLowerCase()) {
        case "content-length":
          this.#seen |= LENGTH;
          break;
        case "date":
          this.#seen |= DATE;
          break;
        case "connection":
          this.#seen |= CONNECTION;
          if (CLOSE_TOKEN.test(String(value))) this.#seen |= CLOSE;
          break;
        case "transfer-encoding":
          if (HTTP_CHUNKED_LAST.test(String(value))) this.#seen |= CHUNKED_GIVEN;
          break;
      }
      if (Array.isArray(value)) for (const one of value) text += line(name, one);
      else text += line(name, value);
    }
    return text;
  }

  /** `head` and the first `chunk` of the body, framed, in one buffer. */
  #joined(head: string, chunk: Buffer): Buffer {
    const chunked = this.#framing === CHUNKED;
    const sizeLine = chunked ? `${chunk.length.toString(16)}\r\n` : "";
    const start = head.length + sizeLine.length;
    const bytes = Buffer.allocUnsafe(start + chunk.length + (chunked ? 2 : 0));
    bytes.write(head, 0, "latin1");
    if (chunked) bytes.write(sizeLine, head.length, "latin1");
    chunk.copy(bytes, start);
    if (chunked) bytes.write("\r\n", start + chunk.length, "latin1");
    return bytes;
  }

  #flushHead(socket: Socket): void {
    const head = this.#pendingHead;
    if (head === undefined) return;
    this.#pendingHead = undefined;
    socket.write(head, "latin1");
  }

  #closed(): void {
    const listeners = this.#closeListeners;
    this.#closeListeners = [];
    for (const listener of listeners) listener();
  }
}

/**
 * A header line. A value with a character HTTP does not allow (a control character other than a
 * tab, DEL) is refused as Node's `writeHead` refuses it, before anything is written.
 */
function line(name: string, value: string | number): string {
  if (typeof value === "string" && badFieldValue(value)) {
    throw Object.assign(new TypeError(`Invalid character in header content ["${name}"]`), { code: "ERR_INVALID_CHAR" });
  }
  return `${name}: ${value}\r\n`;
}

function statusLine(statusCode: number): string {
  return `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? "unknown"}\r\n`;
}

/** The names `lines` give, lower-cased, as keys (for the few answers that also have fields set). */
function namesOf(lines: string): OutgoingHttpHeaders {
  const names: OutgoingHttpHeaders = {};
  for (const line of lines.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) names[line.slice(0, colon).toLowerCase()] = "";
  }
  return names;
}

function headersSent(): Error {
  return Object.assign(new Error("Cannot set headers after they are sent to the client"), {
    code: "ERR_HTTP_HEADERS_SENT",
  });
}
