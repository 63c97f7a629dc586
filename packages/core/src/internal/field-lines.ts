import type { IncomingHttpHeaders } from "node:http";
import type { HeadLines } from "../contract/concern.js";
import { fieldValue } from "./http-grammar.js";

/**
 * The field lines of a message's head as they arrived, checked by the reader that found them
 * (the upstream client's answer reader, the sidecar's proxy front), and made into an object only
 * when someone asks for `headers`. A proxy passes the lines on as they are (`forwarded`) and never
 * needs the object: no value is sliced, no line rebuilt.
 *
 *   const lines = new FieldLines(text, from, ["content-length"], [from, from + 14, from + 17], true);
 *   lines.get("content-length"); // "2"
 */
export class FieldLines {
  readonly #text: string;
  readonly #from: number;
  /** The lower-cased name of each line. */
  readonly #names: string[];
  /** Per line: where it starts, where its colon is, where its CRLF is. */
  readonly #bounds: number[];
  /** Whether every value is one a writer takes as it is (no control character but tab, no DEL). */
  readonly #writable: boolean;
  #headers: IncomingHttpHeaders | undefined;
  #framing: Framing | undefined;

  /**
   * The lines of `text` from `from` to its end, each ending with CRLF: `names` (lower case) and
   * `bounds` (three offsets a line) as the reader found them.
   */
  constructor(
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

  /** Fields known only as an object (from undici's handler API): there are no lines to pass on. */
  static of(headers: IncomingHttpHeaders): FieldLines {
    return new FieldLines("", 0, [], [], false, headers);
  }

  /** The fields as Node and undici give them: names lower-cased, a name given twice an array of its values. */
  get headers(): IncomingHttpHeaders {
    if (this.#headers !== undefined) return this.#headers;
    const fields: Record<string, string | string[]> = {};
    const names = this.#names;
    for (let i = 0; i < names.length; i++) {
      const key = names[i] as string;
      const value = this.#value(i);
      // Own fields only: a `constructor` line is a field, not the prototype's function.
      const values = withValue(Object.hasOwn(fields, key) ? fields[key] : undefined, value);
      // `__proto__` assigned would set the prototype (a string is ignored): defined, it is a field.
      if (key === "__proto__") Object.defineProperty(fields, key, { value: values, enumerable: true, writable: true });
      else fields[key] = values;
    }
    this.#headers = fields;
    return fields;
  }

  /** The value of the field `name` (lower case): an array when it is given more than once. */
  get(name: string): string | string[] | undefined {
    if (this.#headers !== undefined) return this.#headers[name];
    let found: string | string[] | undefined;
    const names = this.#names;
    const length = name.length;
    for (let i = 0; i < names.length; i++) {
      // The lengths first: most names differ in length, and comparing two lengths needs no call.
      const other = names[i] as string;
      if (other.length === length && other === name) found = withValue(found, this.#value(i));
    }
    return found;
  }

  /** Whether a field `name` (lower case) is given: `get` without reading its value. */
  has(name: string): boolean {
    if (this.#headers !== undefined) return this.#headers[name] !== undefined;
    const names = this.#names;
    const length = name.length;
    for (let i = 0; i < names.length; i++) {
      const other = names[i] as string;
      if (other.length === length && other === name) return true;
    }
    return false;
  }

  /**
   * The fields that frame the message and say what becomes of its connection, found in one pass
   * over the names (each `get` is a pass of its own), once: the HTTP client reads all four of
   * every answer, a proxy two of them again.
   */
  framing(): Framing {
    if (this.#framing !== undefined) return this.#framing;
    let framing: Framing;
    if (this.#headers !== undefined) {
      const h = this.#headers;
      framing = {
        connection: h.connection,
        keepAlive: h["keep-alive"],
        transferEncoding: h["transfer-encoding"],
        contentLength: h["content-length"],
      };
    } else {
      framing = { connection: undefined, keepAlive: undefined, transferEncoding: undefined, contentLength: undefined };
      const names = this.#names;
      for (let i = 0; i < names.length; i++) {
        const name = names[i] as string;
        // By length first: most names are none of the four, and comparing lengths needs no call.
        switch (name.length) {
          case 10:
            if (name === "connection") framing.connection = withValue(framing.connection, this.#value(i));
            else if (name === "keep-alive") framing.keepAlive = withValue(framing.keepAlive, this.#value(i));
            break;
          case 14:
            if (name === "content-length") framing.contentLength = withValue(framing.contentLength, this.#value(i));
            break;
          case 17:
            if (name === "transfer-encoding")
              framing.transferEncoding = withValue(framing.transferEncoding, this.#value(i));
            break;
        }
      }
    }
    this.#framing = framing;
    return framing;
  }

  /**
   * The lines a proxy passes on, as they came: all but those whose name is in `drop` (lower
   * case) or that the Connection header names. Undefined when a value holds a character a
   * writer refuses (a control character, DEL), or when the fields came as an object (`of`): the
   * caller writes `headers` then, the path that refuses such a value.
   */
  forwarded(drop: ReadonlySet<string>): HeadLines | undefined {
    if (!this.#writable) return undefined;
    const named = connectionOptions(this.framing().connection);
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

/** What `FieldLines.framing` finds: each field's value, an array when it is given more than once. */
export interface Framing {
  connection: string | string[] | undefined;
  keepAlive: string | string[] | undefined;
  transferEncoding: string | string[] | undefined;
  contentLength: string | string[] | undefined;
}

/** A field's values with `value` added: the value alone, then an array of them, as undici gives them. */
function withValue(values: string | string[] | undefined, value: string): string | string[] {
  if (values === undefined) return value;
  if (!Array.isArray(values)) return [values, value];
  values.push(value);
  return values;
}

/**
 * The options a Connection header gives (RFC 9110 7.6.1), lower-cased: the fields that are for
 * this hop only. Undefined when it gives only `keep-alive` or `close`, as most do.
 */
export function connectionOptions(value: string | string[] | undefined): string[] | undefined {
  // Options that name no field: most messages say only one of these. Compared, not looked up in
  // a set: a value read from a message is a new string, which a lookup would hash first.
  if (value === undefined || value === "keep-alive" || value === "close") return undefined;
  return String(value)
    .toLowerCase()
    .split(/\s*,\s*/);
}
