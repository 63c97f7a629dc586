import { type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { PROBLEM_CONTENT_TYPE, type StandardSchemaV1, TandemError, toProblem } from "@tandem/core";

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
export function sendProblem(
  res: ServerResponse,
  error: unknown,
  instance?: string,
  headers?: Record<string, string>,
): void {
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

/** Answers a CONNECT request with 403 problem+json on the raw socket and closes it. */
export function refuseTunnel(socket: Duplex, target: string): void {
  const problem = toProblem(
    new TandemError("forbidden", `the forward proxy does not tunnel to ${target}: it is not a configured upstream`, {
      details: { target },
    }),
  );
  const body = JSON.stringify(problem);
  socket.end(
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
