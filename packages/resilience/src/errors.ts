import { registerProblemDecoder, TandemError } from "@tandem/core";

/** How a request failed without an answer. */
export type UpstreamFailure = "connect-error" | "reset" | "protocol";

/** The transport failed: no connection, a reset, or an answer that is not HTTP. */
export class UpstreamError extends TandemError {
  constructor(upstream: string, endpoint: string, reason: UpstreamFailure, cause: unknown, message?: string) {
    const why = (cause as { code?: string } | undefined)?.code ?? (cause as Error | undefined)?.message ?? reason;
    super("upstream_error", message ?? `${upstream} (${endpoint}): ${reason} (${why})`, {
      status: 502,
      cause,
      details: { upstream, endpoint, reason },
    });
  }
}

/** The circuit breaker is open: calls fail fast until it half-opens. */
export class CircuitOpenError extends TandemError {
  constructor(policy: string, retryAfterMs: number) {
    super("circuit_open", `circuit of ${policy} is open; next trial in ${Math.max(0, Math.round(retryAfterMs))} ms`, {
      status: 503,
      details: { policy, retryAfterMs: Math.max(0, Math.round(retryAfterMs)) },
    });
  }
}

/** The bulkhead is full: too many calls running and waiting already. */
export class BulkheadRejectedError extends TandemError {
  constructor(policy: string, maxConcurrent: number, maxQueued: number) {
    super("bulkhead_rejected", `bulkhead of ${policy} is full (${maxConcurrent} running, ${maxQueued} queued)`, {
      status: 503,
      details: { policy, maxConcurrent, maxQueued },
    });
  }
}

/** The rate limit has no token left for this call. */
export class RateLimitedError extends TandemError {
  constructor(policy: string, rps: number, retryAfterMs: number) {
    super(
      "rate_limited",
      `rate limit of ${policy} (${rps}/s) reached; a token frees in ${Math.ceil(retryAfterMs)} ms`,
      {
        status: 429,
        details: { policy, rps, retryAfterMs: Math.ceil(retryAfterMs) },
      },
    );
  }
}

/** A retry was due but the retry budget is spent: retries must not multiply an outage. */
export class RetryBudgetExhaustedError extends TandemError {
  constructor(policy: string, attempt: number, cause: unknown) {
    super("retry_budget_exhausted", `retry budget of ${policy} is spent; gave up after attempt ${attempt}`, {
      status: 503,
      cause,
      details: { policy, attempts: attempt },
    });
  }
}

/**
 * Teaches the sidecar client to decode these errors, so a rejection decided by the sidecar
 * arrives as the same class the local policy throws. Called when a remote implementation starts.
 */
export function registerResilienceProblems(): void {
  registerProblemDecoder(
    "circuit_open",
    (p) => new CircuitOpenError(String(p.details?.policy), Number(p.details?.retryAfterMs ?? 0)),
  );
  registerProblemDecoder(
    "bulkhead_rejected",
    (p) =>
      new BulkheadRejectedError(
        String(p.details?.policy),
        Number(p.details?.maxConcurrent),
        Number(p.details?.maxQueued),
      ),
  );
  registerProblemDecoder(
    "rate_limited",
    (p) =>
      new RateLimitedError(String(p.details?.policy), Number(p.details?.rps), Number(p.details?.retryAfterMs ?? 0)),
  );
  registerProblemDecoder(
    "retry_budget_exhausted",
    (p) => new RetryBudgetExhaustedError(String(p.details?.policy), Number(p.details?.attempts ?? 0), undefined),
  );
  registerProblemDecoder(
    "upstream_error",
    (p) =>
      new UpstreamError(
        String(p.details?.upstream ?? ""),
        String(p.details?.endpoint ?? ""),
        (p.details?.reason as UpstreamFailure | undefined) ?? "protocol",
        undefined,
        p.detail,
      ),
  );
}
