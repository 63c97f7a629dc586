import { Readable } from "node:stream";
import { TandemError, type UpstreamRequest, type UpstreamResponse } from "@tandem/core";

/**
 * Applies a request's `fallback` to a failure without an answer. A caller's abort and a
 * misconfiguration (an unknown upstream) are not failures to hide.
 */
export function withFallback(response: Promise<UpstreamResponse>, request: UpstreamRequest): Promise<UpstreamResponse> {
  const fallback = request.fallback;
  if (fallback === undefined) return response;
  return response.catch((error: unknown) => {
    if (TandemError.is(error) && (error.code === "aborted" || error.code === "config_invalid")) throw error;
    return fallback(error);
  });
}

/**
 * A ready-made answer for a `fallback`: the status, headers and body of an undici response,
 * with its body helpers (`json()`, `text()`, `arrayBuffer()`, `bytes()`, `dump()`).
 *
 * @example
 * rt.http.request("prices", { path: "/eur", fallback: () => staticResponse(200, { rate: 1 }) });
 */
export function staticResponse(
  statusCode: number,
  body: unknown = "",
  headers: Record<string, string> = {},
): UpstreamResponse {
  const isText = typeof body === "string" || body instanceof Uint8Array;
  const bytes = Buffer.from(isText ? (body as string | Uint8Array) : JSON.stringify(body));
  const type = isText ? "text/plain" : "application/json";
  const stream = Readable.from([bytes]);
  const helpers = {
    text: async () => bytes.toString("utf8"),
    json: async () => JSON.parse(bytes.toString("utf8")) as unknown,
    arrayBuffer: async () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    bytes: async () => new Uint8Array(bytes),
    dump: async () => {
      stream.destroy();
    },
  };
  return {
    statusCode,
    statusText: "",
    headers: { "content-type": type, "content-length": String(bytes.length), ...headers },
    trailers: {},
    opaque: null,
    context: {},
    body: Object.assign(stream, helpers),
  } as unknown as UpstreamResponse;
}
