import type { IncomingHttpHeaders } from "node:http";
import { fieldName, fieldValue, type HeadLines } from "@tandem/core";
import { Http1Error } from "./http1-error.js";

/** How many lines of a head the note of names seen (`read`'s `seen`) keeps. */
const SEEN_LINES = 32;

// Connection options that name no field (RFC 9110 7.6.1): most answers say only one of these.
const PLAIN_CONNECTION = new Set(["keep-alive", "close"]);

/**
 * The header section of an answer as it arrived, checked line by line when it is read (RFC 9112
 * §5: a name that is a token, no line folded, no CR, LF or NUL in a value), and made into an
 * object only when someone asks for `headers`. A proxy passes its lines on as they are
 * (`forwarded`) and never needs the object: no name is looked up, no value sliced, no line
 * rebuilt.
 *
 *   const head = AnswerHead.read("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", 17);
 *   head.get("content-length"); // "2"
 */
export class AnswerHead {
  readonly #text: string;
  readonly #from: number;
  /** The lower-cased name of each line. */
  readonly #names: string[];
  /** Per line: where it starts, where its colon is, where its CRLF is. */
  readonly #bounds: number[];
  /** Whether every value is one a writer takes as it is (no control character but tab, no DEL). */
  readonly #writable: boolean;
  #headers: IncomingHttpHeaders | undefined;

  private constructor(
    text: string,
    from: number,
    names: string[],
    bounds: number[],
    writable: boolean,
    headers?: IncomingHttpHeaders,
  ) {
    this.#text = text;
    this.#from = from;
    this.#names = names;
    this.#bounds = bounds;
    this.#writable = writable;
    this.#headers = headers;
  }

  /** A head known only as an object (from undici's handler API): it has no lines to pass on. */
  static of(headers: IncomingHttpHeaders): AnswerHead {
    return new AnswerHead("", 0, [], [], false, headers);
  }

  /**
   * Reads the field lines of `text` from `from`, each ending with CRLF; throws an `Http1Error`
   * naming the line when one is not a valid `name: value` (`what`: "header" or "trailer").
   *
   * `seen` is the caller's note, kept from one head to the next, of the names the last head gave
   * line by line (as written, then lower-cased): an upstream writes the same names in the same
   * order answer after answer, and a name found where the last head had it is compared in place,
   * not cut out, checked and looked up.
   */
  static read(text: string, from: number, what = "header", seen?: string[]): AnswerHead {
    const names: string[] = [];
    const bounds: number[] = [];
    let writable = true;
    let at = from;
    let line = 0;
    while (at < text.length) {
      let end = text.indexOf("\r\n", at);
      if (end < 0) end = text.length;
      const first = text.charCodeAt(at);
      if (first === 0x20 || first === 0x09)
        throw answerError(`a ${what} is folded over two lines (obsolete line folding)`);
      let name = seen?.[2 * line];
      let key: string | undefined;
      let colon: number;
      if (name !== undefined && text.charCodeAt(at + name.length) === 0x3a && text.startsWith(name, at)) {
        colon = at + name.length;
        key = seen?.[2 * line + 1];
      } else {
        colon = text.indexOf(":", at);
        name = colon < 0 || colon > end ? "" : text.slice(at, colon);
        key = name === "" ? undefined : fieldName(name);
        if (key === undefined) throw answerError(`the ${what} line ${quote(text.slice(at, end))} has no valid name`);
        if (seen !== undefined && line < SEEN_LINES) {
          seen[2 * line] = name;
          seen[2 * line + 1] = key;
        }
      }
      line++;
      for (let i = colon + 1; i < end; i++) {
        const c = text.charCodeAt(i);
        if (c < 0x20) {
          if (c === 0x00 || c === 0x0d || c === 0x0a)
            throw answerError(`the ${what} ${name} has a CR, LF or NUL in its value`);
          if (c !== 0x09) writable = false;
        } else if (c === 0x7f) {
          writable = false;
        }
      }
      names.push(key as string);
      bounds.push(at, colon, end);
      at = end + 2;
    }
    return new AnswerHead(text, from, names, bounds, writable);
  }

  /** The fields as undici gives them: names lower-cased, a name given twice an array of its values. */
  get headers(): IncomingHttpHeaders {
    if (this.#headers !== undefined) return this.#headers;
    const fields: Record<string, string | string[]> = {};
    const names = this.#names;
    for (let i = 0; i < names.length; i++) {
      const key = names[i] as string;
      const value = this.#value(i);
      const seen = fields[key];
      if (seen === undefined) fields[key] = value;
      else if (Array.isArray(seen)) seen.push(value);
      else fields[key] = [seen, value];
    }
    this.#headers = fields;
    return fields;
  }

  /** The value of the field `name` (lower case): an array when it is given more than once. */
  get(name: string): string | string[] | undefined {
    if (this.#headers !== undefined) return this.#headers[name];
    let found: string | string[] | undefined;
    const names = this.#names;
    for (let i = 0; i < names.length; i++) {
      if (names[i] !== name) continue;
      const value = this.#value(i);
      if (found === undefined) found = value;
      else if (Array.isArray(found)) found.push(value);
      else found = [found, value];
    }
    return found;
  }

  /**
   * The lines a proxy passes on, as they came: all but those whose name is in `drop` (lower
   * case) or that the Connection header names. Undefined when a value holds a character a
   * writer refuses (a control character, DEL), or when the head came as an object (`of`): the
   * caller writes `headers` then, the path that refuses such a value.
   */
  forwarded(drop: ReadonlySet<string>): HeadLines | undefined {
    if (!this.#writable) return undefined;
    const named = connectionOptions(this.get("connection"));
    const text = this.#text;
    const names = this.#names;
    const bounds = this.#bounds;
    let out = "";
    let keptFrom = this.#from;
    let contentLength = false;
    let date = false;
    for (let i = 0; i < names.length; i++) {
      const name = names[i] as string;
      if (drop.has(name) || named?.includes(name) === true) {
        const start = bounds[3 * i] as number;
        if (start > keptFrom) out += text.slice(keptFrom, start);
        keptFrom = (bounds[3 * i + 2] as number) + 2;
      } else if (name === "content-length") {
        contentLength = true;
      } else if (name === "date") {
        date = true;
      }
    }
    if (keptFrom < text.length) out += keptFrom === 0 ? text : text.slice(keptFrom);
    return { text: out, contentLength, date };
  }

  #value(line: number): string {
    const bounds = this.#bounds;
    return fieldValue(this.#text, (bounds[3 * line + 1] as number) + 1, bounds[3 * line + 2] as number);
  }
}

/**
 * The options a Connection header gives (RFC 9110 7.6.1), lower-cased: the fields that are for
 * this hop only. Undefined when it gives only `keep-alive` or `close`, as most do.
 */
export function connectionOptions(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined || (typeof value === "string" && PLAIN_CONNECTION.has(value))) return undefined;
  return String(value)
    .toLowerCase()
    .split(/\s*,\s*/);
}

/** An answer that is not HTTP/1.1, as the client reports it. */
export function answerError(message: string): Http1Error {
  return new Http1Error("HPE_INVALID_RESPONSE", `the upstream's answer is not valid HTTP/1.1: ${message}`);
}

/** `text` quoted for an error message, cut at 80 characters. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);
}
