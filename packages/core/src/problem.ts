import {
  AbortedError,
  ConfigError,
  NotAvailableError,
  SidecarUnavailableError,
  TandemError,
  TimeoutError,
} from "./errors.js";

/** Media type of every error body the sidecar sends (RFC 9457). */
export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/**
 * An RFC 9457 problem document as tandem sends it: the standard members plus the stable
 * `code` and the error's `details`.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  details?: Record<string, unknown>;
}

type ProblemDecoder = (problem: Problem) => TandemError;

const decoders = new Map<string, ProblemDecoder>([
  ["config_invalid", (p) => new ConfigError(p.detail, { details: p.details })],
  ["sidecar_unavailable", (p) => new SidecarUnavailableError(p.detail, { details: p.details })],
  ["not_available", (p) => new NotAvailableError(String(p.details?.facet ?? p.detail))],
  ["timeout", (p) => new TimeoutError(p.detail, { details: p.details })],
  ["aborted", (p) => new AbortedError(p.detail, { details: p.details })],
]);

/**
 * Teaches the client to decode problems with `code` into a specific error class, so an error
 * thrown by the sidecar arrives as the same class the local implementation throws. Concern
 * packages call this once for each code they define.
 */
export function registerProblemDecoder(code: string, decode: ProblemDecoder): void {
  decoders.set(code, decode);
}

/** Turns any thrown value into the problem document the sidecar answers with. */
export function toProblem(error: unknown, instance?: string): Problem {
  const err = TandemError.is(error) ? error : new TandemError("internal", "internal error", { cause: error });
  const problem: Problem = {
    type: `urn:tandem:problem:${err.code}`,
    title: titleOf(err.code),
    status: err.status,
    detail: err.message,
    code: err.code,
  };
  if (instance !== undefined) problem.instance = instance;
  if (Object.keys(err.details).length > 0) problem.details = err.details;
  return problem;
}

/**
 * Decodes a problem document received from the sidecar into a `TandemError`. A body that is not
 * a problem document still yields an error that carries the status and says what arrived.
 */
export function fromProblem(status: number, body: unknown): TandemError {
  if (!isProblem(body)) {
    const detail = typeof body === "string" ? body.slice(0, 200) : JSON.stringify(body)?.slice(0, 200);
    return new TandemError(codeForStatus(status), `sidecar answered ${status}: ${detail ?? "no body"}`, {
      status,
    });
  }
  const decode = decoders.get(body.code);
  if (decode !== undefined) return decode(body);
  return new TandemError(body.code, body.detail, {
    status: body.status,
    ...(body.details === undefined ? {} : { details: body.details }),
  });
}

function isProblem(body: unknown): body is Problem {
  if (typeof body !== "object" || body === null) return false;
  const b = body as Record<string, unknown>;
  return typeof b.code === "string" && typeof b.detail === "string" && typeof b.status === "number";
}

function codeForStatus(status: number): string {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 413:
      return "payload_too_large";
    case 503:
      return "sidecar_unavailable";
    default:
      return "internal";
  }
}

function titleOf(code: string): string {
  const words = code.replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}
