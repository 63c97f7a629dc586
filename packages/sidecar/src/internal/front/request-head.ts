import type { IncomingHttpHeaders } from "node:http";
import {
  asciiAt,
  FieldLines,
  fieldName,
  fieldValue,
  httpDigits,
  noteName,
  type SeenNames,
  seenName,
} from "@tandem/core";

/** The methods the front serves; llhttp knows more, and a request with any other goes to Node. */
const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];
/** What ends the request line: the last blank on it, and the only version the front reads. */
const VERSION = " HTTP/1.1";
const LONGEST_METHOD = 7;
/** The largest head the front reads; a larger one goes to Node, which allows 16 KiB. */
const MAX_HEAD_BYTES = 8 * 1024;
/** More header lines than this go to Node. */
const MAX_HEADERS = 100;

/** `headEnd`: the end has not come yet; a byte no head may hold came. */
export const MORE = -1;
export const NOT_PLAIN = -2;

/** A request head the front read and will serve. */
export class RequestHead {
  readonly method: string;
  /** The request target as written: absolute form, `http://payments/charge`. */
  readonly url: string;
  /** The header lines as they came, each name once: what a proxy passes on as it is. */
  readonly lines: FieldLines;
  /** The head's length in bytes, the blank line included. */
  readonly headBytes: number;
  /** The declared body length, 0 without `Content-Length`. */
  readonly bodyBytes: number;
  /** What the sidecar's checks read, noted as the lines were read: whether a `Host` came, ... */
  readonly hasHost: boolean;
  /** ... the `Proxy-Authorization`, ... */
  readonly authorization: string | undefined;
  /** ... and whether an `Origin` or a `Sec-Fetch-Site` came (a browser's request). */
  readonly browser: boolean;

  constructor(
    method: string,
    url: string,
    lines: FieldLines,
    headBytes: number,
    bodyBytes: number,
    hasHost: boolean,
    authorization: string | undefined,
    browser: boolean,
  ) {
    this.method = method;
    this.url = url;
    this.lines = lines;
    this.headBytes = headBytes;
    this.bodyBytes = bodyBytes;
    this.hasHost = hasHost;
    this.authorization = authorization;
    this.browser = browser;
  }

  /** Header names in lower case, values without surrounding blanks: made of `lines` when first read. */
  get headers(): IncomingHttpHeaders {
    return this.lines.headers;
  }
}

/**
 * Reads the request head at the start of `buffer`, for the front to serve: `"more"` when the head
 * is not complete yet, `undefined` when the front leaves the request to Node's HTTP server, which
 * answers it as it always did (Node then reads the same bytes again). `seen`: the connection's
 * note of the names its last head gave, line by line (a client sends the same names request after
 * request).
 *
 * The front takes only what it reads in one way that Node also reads in that way: an HTTP/1.1
 * request of a method Node knows, an absolute `http://` target of visible ASCII, CRLF line ends,
 * header names that are tokens, values of visible characters, blanks and obs-text (no obs-fold),
 * each name once, no `Transfer-Encoding`, `Expect` or `Upgrade`, a `Connection` that says only
 * `keep-alive`, and one plain `Content-Length`. Anything else is Node's to accept or refuse, so
 * the front never accepts a request Node would refuse, nor reads one differently.
 */
export function readRequestHead(buffer: Buffer, seen?: SeenNames): RequestHead | "more" | undefined {
  // Whatever is not a proxied request (the sidecar's own API, bytes that are not HTTP at all) is
  // recognised by its first bytes, and goes to Node at once.
  const space = methodEnd(buffer);
  if (space === undefined) return undefined;
  if (space === -1) return "more";
  if (buffer.length > space + 1 && buffer[space + 1] !== 0x68 /* h */) return undefined;
  const end = headEnd(buffer);
  // Bytes no head may hold go to Node at once, which refuses them at once, rather than waiting
  // here for the rest of a head that cannot be served.
  if (end === MORE) return "more";
  if (end < 0 || end + 4 > MAX_HEAD_BYTES) return undefined;
  const lines = lineCount;
  const lineEnd = lines === 0 ? end : (LINE_ENDS[0] as number);
  // The request line in its bytes: a method of the front's, a target of visible ASCII in absolute
  // form, and HTTP/1.1 after the last blank (no string made of a part that may be refused).
  const method = knownMethod(buffer, space);
  const versionAt = lineEnd - VERSION.length;
  if (method === undefined || versionAt <= space || !asciiAt(buffer, versionAt, VERSION)) return undefined;
  if (!asciiAt(buffer, space + 1, "http://") || !visibleAsciiBytes(buffer, space + 1, versionAt)) return undefined;
  // With the last line's CRLF: every line of the text ends with one, as `FieldLines` has them.
  const head = buffer.toString("latin1", 0, end + 2);
  const url = head.slice(space + 1, versionAt);
  if (lines > MAX_HEADERS) return undefined;
  // Made to size: grown by pushes, they would be copied twice or three times for a dozen lines.
  const names: string[] = new Array(lines);
  const bounds: number[] = new Array(3 * lines);
  let bodyBytes = 0;
  let hasHost = false;
  let authorization: string | undefined;
  let browser = false;
  // Each header line, from the CRLF before it to the one after it (the head's end after the last).
  for (let k = 0; k < lines; k++) {
    const from = (LINE_ENDS[k] as number) + 2;
    const to = k + 1 < lines ? (LINE_ENDS[k + 1] as number) : end;
    let name = seen === undefined ? undefined : seenName(seen, k, buffer, from, to);
    let colon = name === undefined ? from : from + name.length;
    if (name === undefined) {
      while (colon < to && buffer[colon] !== 0x3a) colon++;
      if (colon === from || colon === to) return undefined;
      name = fieldName(head.slice(from, colon));
      // A name the prototype of a plain object has (`__proto__`, `constructor`) is Node's to read:
      // its headers object would not hold it as a field. Checked once, before the name is noted.
      if (name === undefined || name in PLAIN) return undefined;
      if (seen !== undefined) noteName(seen, k, name, buffer, from, colon);
    }
    // Each name once. The names so far compared in turn, by length first: most differ in it, and
    // comparing two lengths needs no call.
    const length = name.length;
    for (let j = 0; j < k; j++) {
      const other = names[j] as string;
      if (other.length === length && other === name) return undefined;
    }
    // The names the front refuses or reads, found by length first for the same reason.
    switch (length) {
      case 4:
        if (name === "host") hasHost = true;
        break;
      case 6:
        if (name === "expect") return undefined;
        if (name === "origin") browser = true;
        break;
      case 7:
        if (name === "upgrade") return undefined;
        break;
      case 10:
        if (name === "connection" && fieldValue(head, colon + 1, to).toLowerCase() !== "keep-alive") return undefined;
        break;
      case 14:
        if (name === "content-length") {
          // Node's parser takes spaces after the digits, not tabs.
          const value = fieldValue(head, colon + 1, to);
          if (!httpDigits(value) || head.slice(colon, to).includes("\t")) return undefined;
          bodyBytes = Number(value);
        } else if (name === "sec-fetch-site") {
          browser = true;
        }
        break;
      case 17:
        if (name === "transfer-encoding") return undefined;
        break;
      case 19:
        if (name === "proxy-authorization") authorization = fieldValue(head, colon + 1, to);
        break;
    }
    names[k] = name;
    bounds[3 * k] = from;
    bounds[3 * k + 1] = colon;
    bounds[3 * k + 2] = to;
  }
  const fields = new FieldLines(head, lines === 0 ? end + 2 : (LINE_ENDS[0] as number) + 2, names, bounds, true);
  return new RequestHead(method, url, fields, end + 4, bodyBytes, hasHost, authorization, browser);
}

/** What a plain object has from its prototype: no header of these names is read here. */
const PLAIN: object = {};

/**
 * Where the head at the start of `bytes` ends (the CR of its blank line), every byte before it
 * checked to hold only what a head's lines may: tabs, visible characters, spaces and obs-text, and
 * CR only as the first half of a line end (no bare CR or LF, no other control character). `MORE`
 * when the bytes so far are such and the end has not come (a CR last may be half of a line end);
 * `NOT_PLAIN` at the first byte no head may hold, or past `MAX_HEAD_BYTES`. One pass over the
 * bytes, before any string is made of them.
 */
export function headEnd(bytes: Buffer): number {
  const length = bytes.length;
  const limit = Math.min(length, MAX_HEAD_BYTES);
  const ends = LINE_ENDS;
  let count = 0;
  let i = 0;
  for (;;) {
    // The bytes up to the next that is not plain: a loop that loads and compares, nothing more.
    let c = 0;
    for (; i < limit; i++) {
      c = bytes[i] as number;
      if (c < 0x20 ? c !== 0x09 : c === 0x7f) break;
    }
    lineCount = count;
    if (i >= limit) return i >= length ? MORE : NOT_PLAIN;
    if (c !== 0x0d) return NOT_PLAIN;
    if (i + 1 === length) return MORE;
    if (bytes[i + 1] !== 0x0a) return NOT_PLAIN;
    if (i + 3 < length && bytes[i + 2] === 0x0d && bytes[i + 3] === 0x0a) return i;
    // A line end, not the head's: noted up to a little past the most lines the front reads; the
    // count goes on, and a head with more lines goes to Node.
    if (count < ends.length) ends[count] = i;
    count++;
    i += 2;
  }
}

/**
 * Where `headEnd` found each line end but the head's last (the request line's first), and how
 * many: its one pass over the bytes finds them, so the lines are not searched for again. Written
 * by each call, read right after it: one request head is read at a time.
 */
const LINE_ENDS = new Int32Array(MAX_HEADERS + 2);
let lineCount = 0;

/** A target holds visible ASCII: no blank, no control character, no obs-text. */
function visibleAsciiBytes(bytes: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = bytes[i] as number;
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** The method of the front's (a constant string) that the first `length` bytes spell, if any. */
function knownMethod(bytes: Buffer, length: number): string | undefined {
  for (const method of METHODS) if (method.length === length && asciiAt(bytes, 0, method)) return method;
  return undefined;
}

/**
 * Where the method of the request line at the start of `buffer` ends (the space after it): -1
 * when the bytes so far could still be one of the front's methods, undefined when they cannot.
 */
function methodEnd(buffer: Buffer): number | undefined {
  const length = Math.min(buffer.length, LONGEST_METHOD + 1);
  for (let i = 0; i < length; i++) {
    const byte = buffer[i] as number;
    if (byte === 0x20) return i > 0 ? i : undefined;
    if (byte < 0x41 || byte > 0x5a) return undefined;
  }
  return length > LONGEST_METHOD ? undefined : -1;
}
