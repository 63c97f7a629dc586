import type { IncomingMessage } from "node:http";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { readBody, TandemError } from "@tandem/core";
import { countSpans } from "./otlp-wire.js";

const gunzipAsync = promisify(gunzip);

/** The two OTLP/HTTP encodings. */
export type OtlpEncoding = "protobuf" | "json";

/** One accepted export request, as the queue holds it. */
export interface OtlpPayload {
  encoding: OtlpEncoding;
  /**
   * protobuf: the whole `ExportTraceServiceRequest`, which concatenates with others into one.
   * json: the elements of its `resourceSpans` array, comma-separated, without the brackets.
   */
  bytes: Buffer;
  spans: number;
}

/** The Content-Types OTLP/HTTP defines, by encoding. */
export const OTLP_CONTENT_TYPE: Readonly<Record<OtlpEncoding, string>> = {
  protobuf: "application/x-protobuf",
  json: "application/json",
};

/** The encoding a Content-Type names; anything else is a 415, as the OTLP/HTTP spec asks. */
export function otlpEncoding(contentType: string | undefined): OtlpEncoding {
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase();
  if (type === OTLP_CONTENT_TYPE.protobuf) return "protobuf";
  if (type === OTLP_CONTENT_TYPE.json) return "json";
  throw new TandemError(
    "unsupported_media_type",
    `expected application/x-protobuf or application/json, got "${contentType ?? "none"}"`,
  );
}

/**
 * Reads an OTLP/HTTP traces request: at most `limit` bytes on the wire (413), gunzipped to at
 * most `maxDecodedBytes` when `Content-Encoding: gzip` (413), checked (400) and its spans
 * counted. Protobuf is walked, not decoded; JSON is parsed, keeping integers beyond 2^53 exact.
 */
export async function readOtlpTraces(
  req: IncomingMessage,
  encoding: OtlpEncoding,
  limits: { limit: number; maxDecodedBytes: number },
): Promise<OtlpPayload> {
  const contentEncoding = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  if (contentEncoding !== "identity" && contentEncoding !== "gzip") {
    throw new TandemError("unsupported_media_type", `Content-Encoding "${contentEncoding}" is not supported; use gzip`);
  }
  let bytes = await readBody(req, limits.limit);
  if (contentEncoding === "gzip") bytes = await inflate(bytes, limits.maxDecodedBytes);
  if (encoding === "protobuf") return { encoding, bytes, spans: countSpans(bytes) };
  return parseJsonTraces(bytes);
}

function parseJsonTraces(bytes: Buffer): OtlpPayload {
  let request: unknown;
  try {
    request = JSON.parse(bytes.toString("utf8"), keepBigIntegers);
  } catch (error) {
    throw new TandemError("bad_request", `the body is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof request !== "object" || request === null || Array.isArray(request)) {
    throw badJson("the body is not a JSON object");
  }
  const resourceSpans = list(request, "resourceSpans", "resource_spans");
  let spans = 0;
  for (const rs of resourceSpans) {
    for (const ss of list(rs, "scopeSpans", "scope_spans")) spans += list(ss, "spans", "spans").length;
  }
  return { encoding: "json", bytes: Buffer.from(JSON.stringify(resourceSpans).slice(1, -1)), spans };
}

/** The array at `camel` (or its proto name `snake`) of a JSON message; empty when absent. */
function list(message: unknown, camel: string, snake: string): unknown[] {
  if (typeof message !== "object" || message === null || Array.isArray(message)) {
    throw badJson(`a ${camel} element is not an object`);
  }
  const value = (message as Record<string, unknown>)[camel] ?? (message as Record<string, unknown>)[snake];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw badJson(`${camel} is not an array`);
  return value;
}

const rawJson = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

/** A reviver that keeps integers JavaScript numbers cannot hold (nanosecond timestamps) as written. */
function keepBigIntegers(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value === "number" && !Number.isSafeInteger(value) && context?.source !== undefined) {
    return rawJson(context.source);
  }
  return value;
}

function badJson(why: string): TandemError {
  return new TandemError("bad_request", `the body is not an OTLP/JSON ExportTraceServiceRequest: ${why}`);
}

async function inflate(bytes: Buffer, max: number): Promise<Buffer> {
  try {
    return await gunzipAsync(bytes, { maxOutputLength: max });
  } catch (error) {
    if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      throw new TandemError("payload_too_large", `the body is larger than ${max} bytes once gunzipped`, {
        details: { limitBytes: max },
      });
    }
    throw new TandemError("bad_request", `the body is not valid gzip: ${(error as Error).message}`);
  }
}
