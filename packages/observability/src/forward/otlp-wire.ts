import { TandemError } from "@tandem/core";

// Protocol Buffers wire types (protobuf.dev/programming-guides/encoding).
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/** Field numbers of opentelemetry/proto/trace/v1 and collector/trace/v1 that the walk follows. */
const REQUEST_RESOURCE_SPANS = 1;
const RESOURCE_SPANS_SCOPE_SPANS = 2;
const SCOPE_SPANS_SPANS = 2;

/**
 * Checks the framing of a protobuf `ExportTraceServiceRequest` down to its spans and counts
 * them, without decoding a span: every field of the request, its `ResourceSpans` and their
 * `ScopeSpans` must be well formed, with the right wire type where the schema says so. That is
 * what lets the sidecar concatenate requests into one batch (protobuf merges repeated fields
 * of concatenated messages) without one bad body spoiling the others. Throws a 400 otherwise.
 */
export function countSpans(body: Uint8Array): number {
  let spans = 0;
  walk(body, 0, body.length, "request", (field, wire, start, end) => {
    if (field !== REQUEST_RESOURCE_SPANS) return;
    expectLen(wire, "resource_spans");
    walk(body, start, end, "resource_spans", (f, w, s, e) => {
      if (f !== RESOURCE_SPANS_SCOPE_SPANS) return;
      expectLen(w, "scope_spans");
      walk(body, s, e, "scope_spans", (ff, ww) => {
        if (ff !== SCOPE_SPANS_SPANS) return;
        expectLen(ww, "spans");
        spans++;
      });
    });
  });
  return spans;
}

type Visit = (field: number, wire: number, start: number, end: number) => void;

/** Visits each field of the message in `buf[from, to)`; the loop advances at least one byte per field. */
function walk(buf: Uint8Array, from: number, to: number, what: string, visit: Visit): void {
  let at = from;
  while (at < to) {
    const [tag, afterTag] = varint(buf, at, to, what);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) throw bad(`${what} has a field numbered 0`);
    let start = afterTag;
    let end: number;
    switch (wire) {
      case VARINT:
        end = varint(buf, afterTag, to, what)[1];
        break;
      case I64:
        end = afterTag + 8;
        break;
      case I32:
        end = afterTag + 4;
        break;
      case LEN: {
        const [length, afterLength] = varint(buf, afterTag, to, what);
        start = afterLength;
        end = afterLength + length;
        break;
      }
      default:
        throw bad(`${what} uses wire type ${wire}, which OTLP never does`);
    }
    if (end > to) throw bad(`${what} is cut short`);
    visit(field, wire, start, end);
    at = end;
  }
}

/** Reads a varint of at most 10 bytes; returns its value (exact up to 2^53) and the next offset. */
function varint(buf: Uint8Array, from: number, to: number, what: string): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = from; i < to && i < from + 10; i++) {
    const byte = buf[i] as number;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, i + 1];
    scale *= 128;
  }
  throw bad(`${what} has a malformed varint`);
}

function expectLen(wire: number, field: string): void {
  if (wire !== LEN) throw bad(`${field} is not a length-delimited message`);
}

function bad(why: string): TandemError {
  return new TandemError("bad_request", `the body is not an OTLP ExportTraceServiceRequest: ${why}`);
}
