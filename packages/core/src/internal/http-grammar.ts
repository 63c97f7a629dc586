// Pieces of HTTP's grammar (RFC 9110) that the sidecar's request reader and the upstream client's
// request writer and answer reader share.

/** A token: a method or a field name. */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * Whether `value` is a Content-Length: decimal digits, no more than a safe integer holds (1 to 15
 * of them). Compared character by character: it is read in every answer, where a regular
 * expression's run costs several times as much.
 */
export function httpDigits(value: string): boolean {
  const length = value.length;
  if (length === 0 || length > 15) return false;
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
/** A Transfer-Encoding whose last coding is chunked: the body is framed in chunks. */
export const HTTP_CHUNKED_LAST = /(?:^|,)\s*chunked\s*$/i;

/** Field names seen valid, as written, with their lower-case form: most requests repeat a few dozen. */
const NAMES = new Map<string, string>();
/** Names beyond this many are checked each time, so that random names cannot grow the table. */
const MAX_NAMES = 512;

/**
 * The lower-case form of a field name, or undefined when `name` is not a token. A name seen
 * before is looked up rather than checked and lower-cased again, and the same lower-case string
 * comes back each time, which V8 has already made a property key of.
 */
export function fieldName(name: string): string | undefined {
  const known = NAMES.get(name);
  if (known !== undefined) return known;
  if (!HTTP_TOKEN.test(name)) return undefined;
  const lower = name.toLowerCase();
  if (NAMES.size < MAX_NAMES) NAMES.set(name, NAMES.get(lower) ?? lower);
  return lower;
}

/** Whether `bytes` hold the ASCII `text` at `at`: a head's fixed parts compared where they are. */
export function asciiAt(bytes: Uint8Array, at: number, text: string): boolean {
  if (at + text.length > bytes.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * A reader's note, kept from one head to the next on a connection, of the names the last head
 * gave line by line: per line the name lower-cased, then its bytes as written. A peer writes the
 * same names in the same order message after message, and a name found where the last head had
 * it is compared in its bytes, not cut out as a string, looked up and checked again.
 */
export type SeenNames = (string | Uint8Array)[];

/** How many lines of a head a `SeenNames` keeps. */
const SEEN_LINES = 32;

/**
 * The lower-cased name of the field line at `at` in `bytes`, when it is the name `seen` has for
 * line `line` and a colon follows it before `end`; undefined otherwise. The colon is at `at` plus
 * the name's length.
 */
export function seenName(
  seen: SeenNames,
  line: number,
  bytes: Uint8Array,
  at: number,
  end: number,
): string | undefined {
  const key = seen[2 * line] as string | undefined;
  if (key === undefined) return undefined;
  const written = seen[2 * line + 1] as Uint8Array;
  const n = written.length;
  if (at + n >= end || bytes[at + n] !== 0x3a) return undefined;
  for (let i = 0; i < n; i++) if (bytes[at + i] !== written[i]) return undefined;
  return key;
}

/** Notes in `seen` that line `line` is named `key`, written as the bytes from `at` to `colon`. */
export function noteName(
  seen: SeenNames,
  line: number,
  key: string,
  bytes: Uint8Array,
  at: number,
  colon: number,
): void {
  if (line >= SEEN_LINES) return;
  seen[2 * line] = key;
  // A copy: `bytes` may be a view of a buffer the socket reuses.
  seen[2 * line + 1] = new Uint8Array(bytes.subarray(at, colon));
}

/**
 * Whether `value` holds a character a field value may not: a control character other than a
 * tab, DEL, or anything beyond latin1 (RFC 9110 5.5 allows visible characters, blanks and
 * obs-text). A loop, cheaper than a regular expression for the short values of most headers.
 */
export function badFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 ? c !== 0x09 : c === 0x7f || c > 0xff) return true;
  }
  return false;
}

/** The value of a field line `text` holds from `from` to `to`, without the spaces and tabs around it. */
export function fieldValue(text: string, from: number, to: number): string {
  let start = from;
  let end = to;
  while (start < end && isBlank(text.charCodeAt(start))) start++;
  while (end > start && isBlank(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

function isBlank(code: number): boolean {
  return code === 0x20 || code === 0x09;
}
