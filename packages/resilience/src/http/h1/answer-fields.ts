import { FieldLines, fieldName, noteName, type SeenNames, seenName } from "@tandem/core";
import { Http1Error } from "./http1-error.js";

/**
 * Reads the field lines of an answer's `text` from `from`, each ending with CRLF (RFC 9112 §5: a
 * name that is a token, no line folded, no CR, LF or NUL in a value); throws an `Http1Error`
 * naming the line when one is not a valid `name: value` (`what`: "header" or "trailer").
 *
 * `seen` is the caller's note of the names the last head on the connection gave (`SeenNames`):
 * an upstream writes the same names in the same order answer after answer.
 *
 * `bytes` are those of `text` (its latin1 encoding; more may follow), as the parser has them: the
 * lines are scanned in them, where each look at a character is a load, not a string's
 * representation checked again at every character.
 *
 *   readAnswerFields("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", 17).get("content-length"); // "2"
 */
export function readAnswerFields(
  text: string,
  from: number,
  what = "header",
  seen?: SeenNames,
  bytes: Uint8Array = Buffer.from(text, "latin1"),
): FieldLines {
  const names: string[] = [];
  const bounds: number[] = [];
  const length = text.length;
  let writable = true;
  let at = from;
  for (let line = 0; at < length; line++) {
    const first = bytes[at];
    if (first === 0x20 || first === 0x09)
      throw answerError(`a ${what} is folded over two lines (obsolete line folding)`);
    let key = seen === undefined ? undefined : seenName(seen, line, bytes, at, length);
    let colon = key === undefined ? -1 : at + key.length;
    if (key === undefined) {
      let lineEnd = text.indexOf("\r\n", at);
      if (lineEnd < 0) lineEnd = length;
      colon = text.indexOf(":", at);
      const name = colon < 0 || colon > lineEnd ? "" : text.slice(at, colon);
      key = name === "" ? undefined : fieldName(name);
      if (key === undefined) throw answerError(`the ${what} line ${quote(text.slice(at, lineEnd))} has no valid name`);
      if (seen !== undefined) noteName(seen, line, key, bytes, at, colon);
    }
    // The value, up to the line's CRLF: the line's end is found in the same pass that checks it.
    let end = colon + 1;
    for (; end < length; end++) {
      const c = bytes[end] as number;
      if (c < 0x20) {
        if (c === 0x0d && end + 1 < length && bytes[end + 1] === 0x0a) break;
        if (c === 0x00 || c === 0x0d || c === 0x0a)
          throw answerError(`the ${what} ${text.slice(at, colon)} has a CR, LF or NUL in its value`);
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
