import { FieldLines, fieldName } from "@tandem/core";
import { Http1Error } from "./http1-error.js";

/** How many lines of a head the note of names seen (`readAnswerFields`'s `seen`) keeps. */
const SEEN_LINES = 32;

/**
 * Reads the field lines of an answer's `text` from `from`, each ending with CRLF (RFC 9112 §5: a
 * name that is a token, no line folded, no CR, LF or NUL in a value); throws an `Http1Error`
 * naming the line when one is not a valid `name: value` (`what`: "header" or "trailer").
 *
 * `seen` is the caller's note, kept from one head to the next, of the names the last head gave
 * line by line (as written, then lower-cased): an upstream writes the same names in the same
 * order answer after answer, and a name found where the last head had it is compared in place,
 * not cut out, checked and looked up.
 *
 *   readAnswerFields("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", 17).get("content-length"); // "2"
 */
export function readAnswerFields(text: string, from: number, what = "header", seen?: string[]): FieldLines {
  const names: string[] = [];
  const bounds: number[] = [];
  let writable = true;
  let at = from;
  let line = 0;
  while (at < text.length) {
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
      let lineEnd = text.indexOf("\r\n", at);
      if (lineEnd < 0) lineEnd = text.length;
      colon = text.indexOf(":", at);
      name = colon < 0 || colon > lineEnd ? "" : text.slice(at, colon);
      key = name === "" ? undefined : fieldName(name);
      if (key === undefined) throw answerError(`the ${what} line ${quote(text.slice(at, lineEnd))} has no valid name`);
      if (seen !== undefined && line < SEEN_LINES) {
        seen[2 * line] = name;
        seen[2 * line + 1] = key;
      }
    }
    line++;
    // The value, up to the line's CRLF: the line's end is found in the same pass that checks it.
    let end = colon + 1;
    for (; end < text.length; end++) {
      const c = text.charCodeAt(end);
      if (c < 0x20) {
        if (c === 0x0d && text.charCodeAt(end + 1) === 0x0a) break;
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
  return new FieldLines(text, from, names, bounds, writable);
}

/** An answer that is not HTTP/1.1, as the client reports it. */
export function answerError(message: string): Http1Error {
  return new Http1Error("HPE_INVALID_RESPONSE", `the upstream's answer is not valid HTTP/1.1: ${message}`);
}

/** `text` quoted for an error message, cut at 80 characters. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);
}
