import { fullJitterDelay } from "@tandem/core";
import type { Dispatcher } from "undici";

/** How hard `postWithRetry` tries. */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** First backoff ceiling; attempt n waits up to `baseDelayMs * 2^n` (full jitter), capped. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Epoch ms: no attempt starts, and no wait ends, after it. */
  deadline: number;
  /** Bound of one attempt (`OTEL_EXPORTER_OTLP_TIMEOUT`); the deadline bounds it too. */
  attemptTimeoutMs?: number;
  /** Aborts the attempt in flight and any wait. */
  signal?: AbortSignal | undefined;
  random?: () => number;
}

/** What became of one payload. */
export type PostOutcome =
  | { kind: "sent"; attempts: number }
  /** A final answer (400, 401, 404, 413, 501...): trying again would not help. */
  | { kind: "refused"; attempts: number; status: number; reason: string; code?: string }
  /** Retryable failures until the attempts, the deadline or the signal ran out. */
  | { kind: "gave_up"; attempts: number; reason: string };

/** One OTLP/HTTP POST: the `origin` is needed with an undici `Agent`, not with a `Pool`. */
export interface PostRequest {
  origin?: string;
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** The statuses the OTLP/HTTP specification calls retryable. */
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

/** Connection-level failures worth another attempt (the collector restarting, a reset, a timeout). */
const RETRYABLE_ERRORS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/** The part of an answer body kept to find a problem code; the rest is discarded. */
const MAX_ANSWER = 16 * 1024;

/**
 * POSTs an OTLP payload, retrying on 429/502/503/504 and connection errors with capped
 * exponential backoff and full jitter, or after the `Retry-After` the server asked for. Bounded
 * by `maxAttempts` and `deadline`; never rejects.
 */
export async function postWithRetry(
  dispatcher: Dispatcher,
  request: PostRequest,
  policy: RetryPolicy,
): Promise<PostOutcome> {
  let reason = "the deadline passed before the first attempt";
  let attempts = 0;
  while (attempts < policy.maxAttempts) {
    const remaining = policy.deadline - Date.now();
    if (remaining <= 0 || policy.signal?.aborted) break;
    attempts++;
    const timeout = Math.min(remaining, policy.attemptTimeoutMs ?? remaining);
    let retryAfter: number | undefined;
    try {
      const answer = await dispatcher.request({
        ...(request.origin === undefined ? {} : { origin: request.origin }),
        path: request.path,
        method: "POST",
        headers: request.headers,
        body: request.body,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        ...(policy.signal === undefined ? {} : { signal: policy.signal }),
      });
      const text = await readCapped(answer.body);
      if (answer.statusCode < 300) return { kind: "sent", attempts };
      reason = `HTTP ${answer.statusCode}`;
      if (!RETRYABLE_STATUS.has(answer.statusCode)) {
        const code = problemCode(text);
        return {
          kind: "refused",
          attempts,
          status: answer.statusCode,
          reason,
          ...(code === undefined ? {} : { code }),
        };
      }
      retryAfter = retryAfterMs(answer.headers["retry-after"]);
    } catch (error) {
      const code = (error as { code?: string }).code;
      reason = code ?? (error as Error).message;
      if (policy.signal?.aborted) break;
      if (code === undefined || !RETRYABLE_ERRORS.has(code)) return { kind: "refused", attempts, status: 0, reason };
    }
    if (attempts >= policy.maxAttempts) break;
    const delay = retryAfter ?? fullJitterDelay(attempts - 1, policy.baseDelayMs, policy.maxDelayMs, policy.random);
    if (Date.now() + delay >= policy.deadline) {
      reason += `; the next attempt (in ${delay} ms) would pass the deadline`;
      break;
    }
    if (!(await wait(delay, policy.signal))) break;
  }
  if (policy.signal?.aborted) reason += "; stopped waiting";
  return { kind: "gave_up", attempts, reason };
}

/**
 * `Retry-After` in milliseconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3); `undefined`
 * when absent or unreadable.
 */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === "") return undefined;
  if (/^\s*\d+\s*$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

async function readCapped(body: Dispatcher.ResponseData["body"]): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    // Leaving the loop destroys the rest of the answer: an endless one cannot hold the sender.
    if (size >= MAX_ANSWER) break;
  }
  return Buffer.concat(chunks).subarray(0, MAX_ANSWER).toString("utf8");
}

function problemCode(text: string): string | undefined {
  try {
    const code = (JSON.parse(text) as { code?: unknown }).code;
    return typeof code === "string" ? code : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function wait(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
