import { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { PROBLEM_CONTENT_TYPE, type StandardSchemaV1, TandemError, toProblem } from "@tandem/core";

/** An answer the sidecar writes: Node's `ServerResponse`, or the proxy front's `FrontResponse`. */
export interface Answer {
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  setHeader(name: string, value: string): unknown;
  writeHead(statusCode: number, headers: OutgoingHttpHeaders): unknown;
  end(text?: string): unknown;
  destroy(): unknown;
  on(event: "close", listener: () => void): unknown;
}

/** Writes `body` as JSON with `status`, unless the response was already sent. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** Writes an error as `application/problem+json`. Never includes a stack trace. */
export function sendProblem(res: Answer, error: unknown, instance?: string, headers?: Record<string, string>): void {
  const problem = toProblem(error, instance);
  if (res.headersSent) {
    // Too late for a status: cut the stream so the client sees a failure, not a short success.
    res.destroy();
    return;
  }
  const text = JSON.stringify(problem);
  res.writeHead(problem.status, {
    ...headers,
    // Marks the answer as the sidecar's own, so a proxy client can tell it from an upstream's.
    "x-tandem-error": problem.code,
    "content-type": PROBLEM_CONTENT_TYPE,
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Reads the rest of a request body and drops it, so the connection can carry the next request;
 * past `limit` bytes the connection is closed instead (a discarded body costs no memory, but it
 * is not read without end either).
 */
export function discardBody(req: IncomingMessage, limit: number): void {
  let seen = 0;
  req.on("data", (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > limit) req.socket.destroy();
  });
}

/** Parses a JSON body; a syntax error becomes a 400 that says where the JSON broke. */
export function parseJsonBody(bytes: Buffer): unknown {
  const text = bytes.toString("utf8");
  try {
    return JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    const position = /position (\d+)/.exec(message)?.[1];
    throw new TandemError("bad_request", `request body is not valid JSON: ${message}`, {
      details: position === undefined ? {} : { position: Number(position) },
    });
  }
}

/** Validates `value` against a Standard Schema; failures become a 400 listing every issue with its path. */
export async function validate<T>(schema: StandardSchemaV1<unknown, T>, value: unknown): Promise<T> {
  const result = await schema["~standard"].validate(value);
  if (result.issues === undefined) return result.value;
  const issues = result.issues.map((issue) => ({
    path: formatPath(issue.path),
    message: issue.message,
  }));
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join("; ");
  throw new TandemError("bad_request", `request body is invalid: ${summary}`, { details: { issues } });
}

function formatPath(path: StandardSchemaV1.Issue["path"]): string {
  if (path === undefined || path.length === 0) return "(body)";
  return path
    .map((p) => (typeof p === "object" ? p.key : p))
    .map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`))
    .join("")
    .replace(/^\./, "");
}

/**
 * Answers what Node's parser refused before any handler ran (malformed HTTP, headers too large,
 * a client too slow to send its request) with a problem document instead of Node's bare status
 * line, and closes the connection. A socket already answering another request is just closed.
 */
export function answerClientError(
  socket: Duplex,
  error: Error & { code?: string; reason?: string },
  limits: { headersTimeout: number; requestTimeout: number },
): void {
  const busy = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (error.code === "ECONNRESET" || !socket.writable || busy) {
    socket.destroy();
    return;
  }
  let problemError: TandemError;
  if (error.code === "HPE_HEADER_OVERFLOW") {
    problemError = new TandemError("headers_too_large", "the request line and headers are larger than 16 KiB", {
      status: 431,
    });
  } else if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    problemError = new TandemError(
      "request_timeout",
      `the request did not arrive in time: headers are due within ${limits.headersTimeout} ms, the whole request within ${limits.requestTimeout} ms`,
      { status: 408 },
    );
  } else {
    // The parser's reason ("Invalid header value char") names the fault, never the bytes.
    const reason = typeof error.reason === "string" ? error.reason : "malformed request";
    problemError = new TandemError("bad_request", `the request is not valid HTTP/1.1: ${reason}`, {
      details: { parser: error.code ?? null },
    });
  }
  writeRawProblem(socket, problemError);
}

function writeRawProblem(socket: Duplex, error: TandemError): void {
  const problem = toProblem(error);
  const body = JSON.stringify(problem);
  socket.end(
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\nx-tandem-error: ${problem.code}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Answers a CONNECT request with 403 problem+json on the raw socket and closes it. */
export function refuseTunnel(socket: Duplex, target: string): void {
  writeRawProblem(
    socket,
    new TandemError("forbidden", `the forward proxy does not tunnel to ${target}: it is not a configured upstream`, {
      details: { target },
    }),
  );
}
