import type { IncomingHttpHeaders } from "node:http";
import { asciiAt, type FieldLines, HTTP_CHUNKED_LAST, httpDigits, type SeenNames } from "@tandem/core";
import { answerError as headError, quote, readAnswerFields } from "./answer-fields.js";
import { Http1Error } from "./http1-error.js";

/** What a parser hands on as it reads one answer. */
export interface ResponseSink {
  /** The answer's status and header lines (informational 1xx answers are skipped). */
  head(statusCode: number, head: FieldLines, statusText: string): void;
  /** A piece of the body, framing removed (chunk sizes, trailers). */
  data(chunk: Buffer): void;
  /** The answer ended; `trailers` of a chunked body, if any. */
  end(trailers: Record<string, string | string[]>): void;
}

/** The largest status line and headers taken (undici's default is 16 KiB). */
const MAX_HEAD_BYTES = 64 * 1024;
/** The largest chunk-size line (with its extensions) or trailer section taken. */
const MAX_LINE_BYTES = 16 * 1024;

const CHUNK_SIZE = /^([0-9A-Fa-f]{1,15})[ \t]*(?:;.*)?$/;
const NO_TRAILERS: Record<string, string | string[]> = Object.freeze({}) as Record<string, string | string[]>;

enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  UntilClose,
  Done,
}

/**
 * Reads the answers of an HTTP/1.1 connection as its bytes arrive (RFC 9112): the status line
 * and headers, then the body framed by `Transfer-Encoding: chunked`, `Content-Length` or the
 * end of the connection, with what RFC 9112 §6.3 says of answers to HEAD and of 1xx, 204 and
 * 304 answers. Strict where leniency lets two readers see different messages: a header folded
 * over lines, a bare CR or LF, a malformed or conflicting `Content-Length` fail with a
 * protocol error instead of being guessed at.
 *
 * The sink must not ready the parser for another answer from inside its callbacks.
 *
 *   const parser = new ResponseParser();
 *   parser.expect(sink, method === "HEAD");
 *   socket.on("data", (bytes) => parser.feed(bytes));
 */
export class ResponseParser {
  #sink: ResponseSink | undefined;
  #state = State.Done;
  #noBody = false;
  #head: Buffer | undefined;
  #line = "";
  #remaining = 0;
  #trailers: Record<string, string | string[]> | undefined;
  /** Whether the connection may carry another request once this answer ends. */
  keepAlive = true;
  /** Whether any byte of the current answer arrived. */
  started = false;
  /** The answer's `Keep-Alive` header: how long the upstream keeps the connection. */
  keepAliveHint: string | undefined;
  /** The names the last head gave, line by line: see `readAnswerFields`. */
  readonly #seen: SeenNames = [];

  /** Readies the parser for the answer to the request just sent. */
  expect(sink: ResponseSink, head: boolean): void {
    this.#sink = sink;
    this.#noBody = head;
    this.#state = State.Head;
    this.#head = undefined;
    this.#line = "";
    this.#trailers = undefined;
    this.keepAlive = true;
    this.started = false;
    this.keepAliveHint = undefined;
  }

  /** Whether the current answer ended (or none is expected). */
  get done(): boolean {
    return this.#state === State.Done;
  }

  /** Whether the answer's head is in and its body is still arriving. */
  get inBody(): boolean {
    return this.#state !== State.Head && this.#state !== State.Done;
  }

  /**
   * Reads `bytes`. Returns how many bytes were left over after the answer ended (0 while it
   * goes on); throws an `Http1Error` when they are not a valid answer.
   */
  feed(bytes: Buffer): number {
    if (this.#state === State.Done) return bytes.length;
    this.started = true;
    let at = 0;
    while (at < bytes.length) {
      // Read afresh each turn: the state moves on inside the methods called below.
      const state = this.#state as State;
      if (state === State.Done) return bytes.length - at;
      switch (state) {
        case State.Head:
          at = this.#readHead(bytes, at);
          break;
        case State.Length:
          at = this.#counted(bytes, at, State.Done);
          break;
        case State.ChunkSize:
        case State.Trailers:
        case State.ChunkEnd:
          at = this.#readLine(bytes, at);
          break;
        case State.ChunkData:
          at = this.#counted(bytes, at, State.ChunkEnd);
          break;
        case State.UntilClose:
          this.#sink?.data(at === 0 ? bytes : bytes.subarray(at));
          return 0;
      }
    }
    return 0;
  }

  /**
   * The connection ended: an answer framed by the end of the connection ends with it; any other
   * answer under way was cut short (throws).
   */
  close(): void {
    if (this.#state === State.UntilClose) {
      this.#state = State.Done;
      this.#finish(NO_TRAILERS);
      return;
    }
    if (this.#state !== State.Done) {
      throw new Http1Error(
        "UND_ERR_SOCKET",
        this.#state === State.Head
          ? "the upstream closed the connection before it answered"
          : "the upstream closed the connection before the answer's body ended",
      );
    }
  }

  /** Hands on the body's next bytes up to the count still due; `then` is the state once all are in. */
  #counted(bytes: Buffer, at: number, then: State): number {
    const take = Math.min(this.#remaining, bytes.length - at);
    this.#remaining -= take;
    const piece = at === 0 && take === bytes.length ? bytes : bytes.subarray(at, at + take);
    if (this.#remaining === 0) this.#state = then;
    this.#sink?.data(piece);
    if (this.#state === State.Done) this.#finish(NO_TRAILERS);
    return at + take;
  }

  #finish(trailers: Record<string, string | string[]>): void {
    const sink = this.#sink;
    this.#sink = undefined;
    sink?.end(trailers);
  }

  /** Gathers the head up to its empty line, then parses it; returns where the body starts. */
  #readHead(bytes: Buffer, at: number): number {
    let head: Buffer;
    let from: number;
    if (this.#head === undefined) {
      head = at === 0 ? bytes : bytes.subarray(at);
      from = 0;
    } else {
      from = Math.max(0, this.#head.length - 3);
      head = Buffer.concat([this.#head, at === 0 ? bytes : bytes.subarray(at)]);
    }
    const end = headEnd(head, from);
    if (end < 0) {
      if (head.length > MAX_HEAD_BYTES) throw headError(`the answer's head is larger than ${MAX_HEAD_BYTES} bytes`);
      // A copy: `bytes` may be a slice of a buffer the socket reuses.
      this.#head = this.#head === undefined ? Buffer.from(head) : head;
      return bytes.length;
    }
    if (end > MAX_HEAD_BYTES) throw headError(`the answer's head is larger than ${MAX_HEAD_BYTES} bytes`);
    const consumedBefore = this.#head === undefined ? 0 : this.#head.length;
    this.#head = undefined;
    // With the last line's CRLF: every line of the text ends with one.
    this.#parseHead(head, head.toString("latin1", 0, end + 2));
    return at + (end + 4 - consumedBefore);
  }

  /** `text`: the head's lines, each with its CRLF, decoded from `bytes` (the head and what follows). */
  #parseHead(bytes: Buffer, text: string): void {
    const lineEnd = text.indexOf("\r\n");
    const status = statusLine(bytes, text, lineEnd);
    if (status === undefined)
      throw headError(`the status line ${quote(text.slice(0, lineEnd))} is not HTTP/1.0 or HTTP/1.1`);
    const statusCode = status.code;
    const http10 = bytes[7] === 0x30;
    const head = readAnswerFields(text, lineEnd + 2, "header", this.#seen, bytes);
    if (statusCode < 200) {
      if (statusCode === 101) throw headError("the upstream switched protocols (101) without being asked to");
      // 100 Continue, 103 Early Hints: the answer is still to come.
      return;
    }
    const { connection, keepAlive: hint, transferEncoding, contentLength } = head.framing();
    this.keepAlive = keepsAlive(connection, http10);
    this.keepAliveHint = hint === undefined ? undefined : String(hint);
    if (this.#noBody || statusCode === 204 || statusCode === 304) {
      this.#state = State.Done;
    } else if (transferEncoding !== undefined) {
      // A body framed by Transfer-Encoding is read by it, whatever Content-Length says; the
      // connection is not used again after an answer that sent both (RFC 9112 §6.3).
      if (contentLength !== undefined) this.keepAlive = false;
      if (HTTP_CHUNKED_LAST.test(String(transferEncoding))) {
        this.#state = State.ChunkSize;
      } else {
        this.#state = State.UntilClose;
        this.keepAlive = false;
      }
    } else if (contentLength !== undefined) {
      this.#remaining = parseContentLength(contentLength);
      this.#state = this.#remaining === 0 ? State.Done : State.Length;
    } else {
      this.#state = State.UntilClose;
      this.keepAlive = false;
    }
    this.#sink?.head(statusCode, head, status.text);
    if (this.#state === State.Done) this.#finish(NO_TRAILERS);
  }

  /** A chunk-size line, the CRLF after a chunk's data, or a line of the trailer section. */
  #readLine(bytes: Buffer, at: number): number {
    const lf = bytes.indexOf(0x0a, at);
    if (lf < 0) {
      this.#line += bytes.toString("latin1", at);
      if (this.#line.length > MAX_LINE_BYTES) throw headError("a chunk-size line or the trailers are too long");
      return bytes.length;
    }
    const line = this.#line + bytes.toString("latin1", at, lf);
    this.#line = "";
    if (!line.endsWith("\r") || line.indexOf("\r") !== line.length - 1) {
      throw headError("a line of the chunked body does not end with CRLF");
    }
    const content = line.slice(0, -1);
    const next = lf + 1;
    if (this.#state === State.ChunkEnd) {
      if (content !== "") throw headError("a chunk's data is longer than its size");
      this.#state = State.ChunkSize;
    } else if (this.#state === State.ChunkSize) {
      const size = CHUNK_SIZE.exec(content);
      if (size === null) throw headError(`the chunk size ${quote(content)} is not hexadecimal`);
      this.#remaining = Number.parseInt(size[1] as string, 16);
      this.#state = this.#remaining === 0 ? State.Trailers : State.ChunkData;
    } else if (content === "") {
      this.#state = State.Done;
      this.#finish(this.#trailers ?? NO_TRAILERS);
    } else {
      this.#trailers ??= {};
      addFields(readAnswerFields(`${content}\r\n`, 0, "trailer").headers, this.#trailers);
    }
    return next;
  }
}

/** Adds `fields` to `into`; a name in both gets an array of its values, as undici gives them. */
function addFields(fields: IncomingHttpHeaders, into: Record<string, string | string[]>): void {
  for (const key in fields) {
    const value = fields[key] as string | string[];
    const seen = into[key];
    if (seen === undefined) into[key] = value;
    else into[key] = [...(Array.isArray(seen) ? seen : [seen]), ...(Array.isArray(value) ? value : [value])];
  }
}

/**
 * The status code and text of the status line that ends at `lineEnd` (`text` is `bytes` decoded),
 * when it is `HTTP/1.0` or `HTTP/1.1`, a space, three digits, and nothing more or a space and a
 * text without CR or LF (RFC 9112 §4); undefined otherwise. Read in the bytes: a regular
 * expression's match costs an array and its strings for every answer.
 */
export function statusLine(
  bytes: Uint8Array,
  text: string,
  lineEnd: number,
): { code: number; text: string } | undefined {
  if (lineEnd < 12 || (lineEnd > 12 && bytes[12] !== 0x20)) return undefined;
  if (!asciiAt(bytes, 0, "HTTP/1.")) return undefined;
  const minor = bytes[7] as number;
  if ((minor !== 0x30 && minor !== 0x31) || bytes[8] !== 0x20) return undefined;
  let code = 0;
  for (let i = 9; i < 12; i++) {
    const digit = (bytes[i] as number) - 0x30;
    if (digit < 0 || digit > 9) return undefined;
    code = code * 10 + digit;
  }
  for (let i = 13; i < lineEnd; i++) if (bytes[i] === 0x0d || bytes[i] === 0x0a) return undefined;
  return { code, text: lineEnd > 13 ? text.slice(13, lineEnd) : "" };
}

/**
 * Where the first CRLF CRLF at or after `from` in `bytes` starts, or -1. A loop rather than
 * `Buffer.indexOf`, whose argument checks and call into C++ cost more than reading a short head
 * here: it looks at every fourth byte, and only where that byte is a CR or an LF at the ones
 * around it (a byte that is neither cannot be inside the four, so none of them ends before the
 * fourth byte after it).
 */
export function headEnd(bytes: Uint8Array, from: number): number {
  const length = bytes.length;
  let i = from + 3;
  while (i < length) {
    const c = bytes[i] as number;
    if (c === 0x0a) {
      if (bytes[i - 1] === 0x0d && bytes[i - 2] === 0x0a && bytes[i - 3] === 0x0d) return i - 3;
      // This LF can still be the second of the four: their last byte is two on.
      i += 2;
    } else if (c === 0x0d) {
      // The first or the third of the four: their last byte is one or three on.
      i += 1;
    } else {
      i += 4;
    }
  }
  return -1;
}

function keepsAlive(connection: string | string[] | undefined, http10: boolean): boolean {
  if (connection === undefined) return !http10;
  const tokens = String(connection).toLowerCase();
  if (tokens === "keep-alive") return true;
  if (/(?:^|,)\s*close\s*(?:,|$)/.test(tokens)) return false;
  return !http10 || /(?:^|,)\s*keep-alive\s*(?:,|$)/.test(tokens);
}

/** A Content-Length: digits, the same number however many times it is given (RFC 9110 §8.6). */
function parseContentLength(value: string | string[]): number {
  if (typeof value === "string" && httpDigits(value)) return Number(value);
  const values = (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(","));
  let length: number | undefined;
  for (const v of values) {
    const text = v.trim();
    if (!httpDigits(text)) throw headError(`the Content-Length ${quote(String(value))} is not a number of bytes`);
    const n = Number(text);
    if (length !== undefined && n !== length)
      throw headError(`the answer gives two Content-Lengths (${quote(String(value))})`);
    length = n;
  }
  return length ?? 0;
}
