import { type Context, propagation, ROOT_CONTEXT } from "@opentelemetry/api";
import {
  connectionOptions,
  type FieldLines,
  type ProxyIncoming,
  type ProxyOutgoing,
  type ProxyRequest,
  payloadTooLarge,
  TandemError,
} from "@tandem/core";
import type { LocalHttp } from "./local-http.js";
import type { RelayResponse } from "./relay-body.js";
import type { AnswerWriter, RelayRequest } from "./upstream.js";

// Hop-by-hop headers (RFC 9110 7.6.1) and the proxy's own: never forwarded.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-authenticate",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
]);

// The sidecar marks its own error answers with this header; an upstream must not forge one.
const SIDECAR_ONLY = "x-tandem-error";

/** What of an answer's head is never passed on. */
const NOT_FORWARDED: ReadonlySet<string> = new Set([...HOP_BY_HOP, SIDECAR_ONLY]);
/**
 * ... nor, of an answer framed by Transfer-Encoding, its Content-Length, which the body read by
 * its chunks need not match: RFC 9112 §6.3 has an intermediary remove it before forwarding.
 */
const NOT_FORWARDED_CHUNKED: ReadonlySet<string> = new Set([...NOT_FORWARDED, "content-length"]);

/**
 * What of a request's lines is not passed on as it came: the hop's, and what the proxy writes
 * itself (its Via) or the pipeline reads (Content-Length, Idempotency-Key).
 */
const NOT_PASSED: ReadonlySet<string> = new Set([...HOP_BY_HOP, "via", "content-length", "idempotency-key"]);

/** RFC 9110 §7.6.3: each proxy appends its entry to the Via the request came with. */
function via(given: string | string[] | undefined): string {
  // Several Via lines are one value, joined by commas.
  if (given === undefined) return "1.1 tandem";
  return `${Array.isArray(given) ? given.join(", ") : given}, 1.1 tandem`;
}

/**
 * Whether the request carries trace context (or baggage): the propagator reads it from the
 * headers object then, and the attempt writes its own trace headers in place of the caller's.
 */
function traced(lines: FieldLines): boolean {
  return lines.has("traceparent") || lines.has("tracestate") || lines.has("baggage");
}

/** Bodies up to this size are held so that a retry can send them again, as Envoy buffers them. */
const REPLAY_BUFFER = 1024 * 1024;

/**
 * The request body for the pipeline: the bytes of a small body of known length (so it can be
 * retried), or the stream itself (sent once). `length`: its Content-Length, if it gave one.
 */
async function requestBody(
  req: ProxyIncoming,
  length: string | string[] | undefined,
  limit: number,
): Promise<Buffer | AsyncIterable<Buffer>> {
  if (length !== undefined && Number(length) <= Math.min(REPLAY_BUFFER, limit)) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk);
    return Buffer.concat(chunks);
  }
  return limited(req, limit);
}

/** Whether a request with this framing has a body to send on (most proxied requests, GETs, have none). */
function hasBody(length: string | string[] | undefined, transferEncoding: string | string[] | undefined): boolean {
  return length === undefined ? transferEncoding !== undefined : length !== "0";
}

/** The body as it streams, failing with 413 once it passes `limit` bytes. */
async function* limited(req: ProxyIncoming, limit: number): AsyncIterable<Buffer> {
  let seen = 0;
  for await (const chunk of req) {
    seen += chunk.length;
    if (seen > limit) {
      throw payloadTooLarge(limit);
    }
    yield chunk;
  }
}

/**
 * The sidecar's forward proxy: `GET http://payments/charge` goes through the `payments`
 * upstream's pipeline (balancing, retries, breaker, ...). Only the names of configured
 * upstreams are reached, on the default port: no IP literal, no other host, no other port. Both
 * answers stream through; a request body of known length up to 1 MiB is held so a retry can
 * resend it, a larger or chunked one streams through and is sent once. The caller's W3C
 * `traceparent` is continued: each attempt's span is a child of the span that sent the request.
 */
export function forwardProxy(http: LocalHttp): (request: ProxyRequest) => Promise<void> {
  return async ({ req, res, target, signal, maxBodyBytes }) => {
    const upstream = http.upstream(target.hostname);
    if (upstream === undefined || target.port !== "" || target.credentials) {
      throw new TandemError(
        "forbidden",
        `the forward proxy does not reach ${target.host}: it is not a configured upstream`,
        {
          details: { target: target.host, upstreams: http.names() },
        },
      );
    }
    const lines = req.lines;
    const passed = lines === undefined || traced(lines) ? undefined : lines.forwarded(NOT_PASSED);
    let request: RelayRequest;
    let parent: Context = ROOT_CONTEXT;
    let length: string | string[] | undefined;
    let chunked: string | string[] | undefined;
    if (lines !== undefined && passed !== undefined) {
      // The lines as they came, but those of the hop and those written below: no object is made
      // of them, copied and written out again.
      ({ contentLength: length, transferEncoding: chunked } = lines.framing());
      const headers: Record<string, string> = { via: via(lines.get("via")) };
      if (length !== undefined) headers["content-length"] = String(length);
      const key = lines.get("idempotency-key");
      if (key !== undefined) headers["idempotency-key"] = String(key);
      request = { method: req.method ?? "GET", path: target.path, headers, signal, headLines: passed.text };
    } else {
      const given = req.headers;
      // The Connection header's own list is split only when it names more than `keep-alive` or
      // `close`, as most say.
      const named = connectionOptions(given.connection);
      const headers: Record<string, string> = {};
      for (const key in given) {
        const value = given[key];
        if (value === undefined || HOP_BY_HOP.has(key) || named?.includes(key) === true) continue;
        headers[key] = Array.isArray(value) ? value.join(", ") : value;
      }
      headers.via = via(given.via);
      // Without trace headers there is no context to continue: no propagator run, no context built.
      if (given.traceparent !== undefined || given.baggage !== undefined)
        parent = propagation.extract(ROOT_CONTEXT, given);
      length = given["content-length"];
      chunked = given["transfer-encoding"];
      request = { method: req.method ?? "GET", path: target.path, headers, signal };
    }
    if (hasBody(length, chunked)) request.body = await requestBody(req, length, maxBodyBytes);
    const answer = new ProxyAnswer(res);
    let response: RelayResponse;
    try {
      response = await upstream.relay(request, parent, answer);
    } catch (error) {
      answer.abandon();
      throw error;
    }
    await answer.sent(response);
  };
}

/**
 * The answer of one forward-proxy request, written to its client as soon as the pipeline has it
 * (`AnswerWriter`), or else once `relay` resolves. Writing it throws nothing into the pipeline: a
 * failure is kept for the proxy to throw.
 */
class ProxyAnswer implements AnswerWriter {
  readonly #res: ProxyOutgoing;
  #piped: Promise<void> | undefined;
  #error: unknown;
  #failed = false;

  constructor(res: ProxyOutgoing) {
    this.#res = res;
  }

  answer(response: RelayResponse): void {
    try {
      this.#piped = writeAnswer(this.#res, response);
    } catch (error) {
      this.#failed = true;
      this.#error = error;
    }
  }

  /** Settles once the client has `response` (the request's final answer) whole. */
  sent(response: RelayResponse): Promise<void> {
    if (this.#piped === undefined && !this.#failed) this.answer(response);
    if (this.#failed) return Promise.reject(this.#error);
    return this.#piped as Promise<void>;
  }

  /** The pipeline failed after all: a body still being written is left to fail unheard. */
  abandon(): void {
    this.#piped?.catch(() => {});
  }
}

/**
 * Writes the answer's head to the client and pipes its body after it. The answer's header lines
 * go on as they came where the writer takes them so (the proxy front does): no object of them is
 * made, copied and written out again.
 */
function writeAnswer(res: ProxyOutgoing, response: RelayResponse): Promise<void> {
  const head = response.head;
  const dropped = head.framing().transferEncoding === undefined ? NOT_FORWARDED : NOT_FORWARDED_CHUNKED;
  const lines = res.writeHeadLines === undefined ? undefined : head.forwarded(dropped);
  if (lines !== undefined) {
    res.writeHeadLines?.(response.statusCode, lines);
    return response.body.pipeTo(res);
  }
  const out: Record<string, string | string[]> = {};
  const answered = response.headers;
  const answerNamed = connectionOptions(answered.connection);
  for (const key in answered) {
    const value = answered[key];
    if (value === undefined || dropped.has(key) || answerNamed?.includes(key) === true) continue;
    out[key] = value;
  }
  res.writeHead(response.statusCode, out);
  return response.body.pipeTo(res);
}
