import { Readable } from "node:stream";
import { badFieldValue, fieldName, httpDigits, HTTP_TOKEN as TOKEN } from "@tandem/core";
import { Http1Error } from "./http1-error.js";

/** A request body as the pipeline hands it on: bytes of known length, or a stream sent once. */
export type RequestBody = Buffer | AsyncIterable<Buffer | Uint8Array | string> | undefined;

/** A request's head as written on the connection, and its body. */
export interface RequestHead {
  /** Request line and headers, ending with the empty line (latin1). */
  text: string;
  body: RequestBody;
  /** A stream body's length when the caller gave one, else -1 (sent chunked); a byte body's length. */
  length: number;
  /** The caller asked for the connection to close after this exchange. */
  close: boolean;
}

// A path of visible characters (and obs-text): never a space, CR, LF or NUL.
const BAD_PATH = /[^\u0021-\u00ff]/;
const PAYLOAD_METHODS = new Set(["POST", "PUT", "PATCH"]);
/**
 * The method and the path of the last request written, both found valid: a client sends the same
 * ones again and again, and a comparison costs less than a regular expression's run.
 */
let goodMethod = "GET";
let goodPath = "/";

/**
 * Builds the head of a request to `host` (the `Host` header unless the caller gives one), with
 * the framing of its body: `Content-Length` for bytes, `Transfer-Encoding: chunked` for a stream
 * of unknown length. Refuses, with undici's error codes, what would let a caller write another
 * request into this one (a CR or LF in a method, path, name or value) and the headers that
 * belong to the connection (`Transfer-Encoding`, `Keep-Alive`, `Upgrade`, `Expect`).
 * `traceLines`, the attempt's trace header lines as a tracer wrote them (`CHILD_TRACE_LINES`),
 * go in as they are, and any `traceparent` or `tracestate` in `headers` is left out then.
 * `headLines`, lines a proxy passes on as they came (`Http1DispatchOptions.headLines`), go in
 * after `headers` as they are: their reader checked them.
 */
export function requestHead(
  method: string,
  path: string,
  headers: Record<string, string | string[] | undefined> | null | undefined,
  host: string,
  body: unknown,
  traceLines = "",
  headLines = "",
): RequestHead {
  if (method !== goodMethod) {
    if (!TOKEN.test(method)) throw invalid(`the method ${JSON.stringify(method)} is not an HTTP token`);
    goodMethod = method;
  }
  if (path !== goodPath) {
    if (path.length === 0 || BAD_PATH.test(path))
      throw invalid(`the request path ${JSON.stringify(path)} is not valid`);
    goodPath = path;
  }
  let text = `${method} ${path} HTTP/1.1\r\n`;
  let hasHost = false;
  let close = false;
  let declared: string | undefined;
  if (headers !== undefined && headers !== null) {
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined) continue;
      const key = fieldName(name);
      if (key === undefined) throw invalid(`the header name ${JSON.stringify(name)} is not an HTTP token`);
      if (key === "content-length") {
        declared = String(value);
        continue;
      }
      if (traceLines !== "" && (key === "traceparent" || key === "tracestate")) continue;
      if (key === "host") hasHost = true;
      else if (key === "connection") {
        const token = String(value).toLowerCase();
        if (token !== "close" && token !== "keep-alive")
          throw invalid(`the connection header ${JSON.stringify(value)} is not keep-alive or close`);
        close = token === "close";
        continue;
      } else if (key === "transfer-encoding" || key === "keep-alive" || key === "upgrade") {
        throw invalid(`the ${key} header is the connection's, not the request's`);
      } else if (key === "expect") {
        throw new Http1Error("UND_ERR_NOT_SUPPORTED", "the expect header is not supported");
      }
      if (Array.isArray(value)) {
        for (const v of value) text += field(name, v);
      } else {
        text += field(name, value);
      }
    }
  }
  text += headLines;
  text += traceLines;
  if (!hasHost) text += `host: ${host}\r\n`;
  text += close ? "connection: close\r\n" : "connection: keep-alive\r\n";
  const declaredLength = declared === undefined ? -1 : contentLength(declared);
  let bytes: RequestBody;
  let length: number;
  if (body === undefined || body === null) {
    bytes = undefined;
    length = 0;
    if (declaredLength > 0) throw mismatch(declaredLength, 0);
    if (declaredLength === 0 || PAYLOAD_METHODS.has(method)) text += "content-length: 0\r\n";
  } else if (typeof body === "string" || body instanceof Uint8Array) {
    bytes =
      typeof body === "string"
        ? Buffer.from(body, "utf8")
        : Buffer.isBuffer(body)
          ? body
          : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    length = bytes.length;
    if (declaredLength >= 0 && declaredLength !== length) throw mismatch(declaredLength, length);
    text += `content-length: ${length}\r\n`;
  } else if (body instanceof Readable || (typeof body === "object" && Symbol.asyncIterator in body)) {
    bytes = body as AsyncIterable<Buffer>;
    length = declaredLength;
    text += length >= 0 ? `content-length: ${length}\r\n` : "transfer-encoding: chunked\r\n";
  } else {
    throw invalid("the request body is not a string, bytes or a stream");
  }
  return { text: `${text}\r\n`, body: bytes, length, close };
}

/** A header line; its value may hold tabs, visible ASCII, spaces and obs-text (undici accepts the same). */
function field(name: string, value: string): string {
  if (badFieldValue(value))
    throw invalid(`the value of the ${name} header has a character not allowed in HTTP (CR, LF, NUL, ...)`);
  return `${name}: ${value}\r\n`;
}

function contentLength(value: string): number {
  if (!httpDigits(value)) throw invalid(`the content-length header ${JSON.stringify(value)} is not a number of bytes`);
  return Number(value);
}

/** The body's length differs from the one the caller declared. */
export function mismatch(declared: number, actual: number): Http1Error {
  return new Http1Error(
    "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH",
    `the request body is ${actual} bytes long, but its content-length header says ${declared}`,
  );
}

function invalid(message: string): Http1Error {
  return new Http1Error("UND_ERR_INVALID_ARG", message);
}
