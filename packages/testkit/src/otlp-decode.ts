/** One span as an OTLP receiver saw it, with what identifies it and where it came from. */
export interface ReceivedSpan {
  name: string;
  /** Lowercase hex, 32 characters. */
  traceId: string;
  /** Lowercase hex, 16 characters. */
  spanId: string;
  /** Lowercase hex; `undefined` for a root span. */
  parentSpanId: string | undefined;
  /** OTLP's SpanKind number (1 internal, 2 server, 3 client, ...). */
  kind: number;
  /** The resource's string attributes (`service.name`, ...). */
  resource: Readonly<Record<string, string>>;
  /** The instrumentation scope's name. */
  scope: string;
  /** The span's string and integer attributes, integers written as decimal strings. */
  attributes: Readonly<Record<string, string>>;
}

type Fields = Map<number, (Uint8Array | number)[]>;

/**
 * Decodes a protobuf `ExportTraceServiceRequest` into spans: a small reader written from the
 * OTLP .proto field numbers, independent of the code under test, so a test checks the bytes
 * on the wire rather than tandem against itself.
 */
export function decodeProtobufTraces(body: Uint8Array): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of messages(fields(body), 1)) {
    const rsFields = fields(rs);
    const resource = attributes(messages(fields(first(rsFields, 1) ?? new Uint8Array()), 1));
    for (const ss of messages(rsFields, 2)) {
      const ssFields = fields(ss);
      const scope = text(first(fields(first(ssFields, 1) ?? new Uint8Array()), 1));
      for (const span of messages(ssFields, 2)) {
        const s = fields(span);
        const parent = hex(first(s, 4));
        out.push({
          traceId: hex(first(s, 1)),
          spanId: hex(first(s, 2)),
          parentSpanId: parent === "" ? undefined : parent,
          name: text(first(s, 5)),
          kind: Number(s.get(6)?.[0] ?? 0),
          resource,
          scope,
          attributes: attributes(messages(s, 9)),
        });
      }
    }
  }
  return out;
}

interface JsonKeyValue {
  key: string;
  value?: { stringValue?: string; intValue?: string | number };
}

/** Decodes an OTLP/JSON `ExportTraceServiceRequest` (ids in hex, as OTLP/JSON writes them). */
export function decodeJsonTraces(body: unknown): ReceivedSpan[] {
  const strings = (list: JsonKeyValue[] | undefined) =>
    Object.fromEntries(
      (list ?? []).flatMap((kv) => {
        if (kv.value?.stringValue !== undefined) return [[kv.key, kv.value.stringValue]];
        return kv.value?.intValue === undefined ? [] : [[kv.key, String(kv.value.intValue)]];
      }),
    );
  const out: ReceivedSpan[] = [];
  const request = body as {
    resourceSpans?: {
      resource?: { attributes?: JsonKeyValue[] };
      scopeSpans?: {
        scope?: { name?: string };
        spans?: {
          name: string;
          traceId: string;
          spanId: string;
          parentSpanId?: string;
          kind?: number;
          attributes?: JsonKeyValue[];
        }[];
      }[];
    }[];
  };
  for (const rs of request.resourceSpans ?? []) {
    const resource = strings(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        out.push({
          name: span.name,
          traceId: span.traceId.toLowerCase(),
          spanId: span.spanId.toLowerCase(),
          parentSpanId: span.parentSpanId ? span.parentSpanId.toLowerCase() : undefined,
          kind: span.kind ?? 0,
          resource,
          scope: ss.scope?.name ?? "",
          attributes: strings(span.attributes),
        });
      }
    }
  }
  return out;
}

function attributes(keyValues: Uint8Array[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of keyValues) {
    const f = fields(kv);
    const value = first(f, 2);
    const valueFields = value === undefined ? undefined : fields(value);
    const stringValue = valueFields === undefined ? undefined : first(valueFields, 1);
    const intValue = valueFields?.get(3)?.[0];
    if (stringValue !== undefined) out[text(first(f, 1))] = text(stringValue);
    else if (typeof intValue === "number") out[text(first(f, 1))] = String(intValue);
  }
  return out;
}

/** Every field of a message, by number: bytes for length-delimited ones, numbers for varints. */
function fields(buf: Uint8Array): Fields {
  const out: Fields = new Map();
  let at = 0;
  while (at < buf.length) {
    const [tag, afterTag] = varint(buf, at);
    const wire = tag & 7;
    const field = tag >>> 3;
    let value: Uint8Array | number;
    if (wire === 0) {
      [value, at] = varint(buf, afterTag);
    } else if (wire === 2) {
      const [length, start] = varint(buf, afterTag);
      value = buf.subarray(start, start + length);
      at = start + length;
    } else if (wire === 1 || wire === 5) {
      const size = wire === 1 ? 8 : 4;
      value = buf.subarray(afterTag, afterTag + size);
      at = afterTag + size;
    } else {
      throw new Error(`unexpected wire type ${wire}`);
    }
    if (at > buf.length) throw new Error("truncated protobuf message");
    const list = out.get(field) ?? [];
    list.push(value);
    out.set(field, list);
  }
  return out;
}

function varint(buf: Uint8Array, from: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = from; i < buf.length && i < from + 10; i++) {
    const byte = buf[i] as number;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, i + 1];
    scale *= 128;
  }
  throw new Error("malformed varint");
}

function messages(f: Fields, field: number): Uint8Array[] {
  return (f.get(field) ?? []).filter((v): v is Uint8Array => v instanceof Uint8Array);
}

function first(f: Fields, field: number): Uint8Array | undefined {
  return messages(f, field)[0];
}

function text(bytes: Uint8Array | undefined): string {
  return bytes === undefined ? "" : Buffer.from(bytes).toString("utf8");
}

function hex(bytes: Uint8Array | undefined): string {
  return bytes === undefined ? "" : Buffer.from(bytes).toString("hex");
}
