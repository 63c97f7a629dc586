/**
 * Stable error codes. A code never changes meaning once published: callers switch on it, and
 * the sidecar sends it in every `application/problem+json` body so that a remote error decodes
 * to the same class as the local one.
 */
export type TandemErrorCode = CoreErrorCode | (string & {});

/** The codes `@tandem/core` itself defines; concern packages add their own. */
export type CoreErrorCode =
  | "config_invalid"
  | "sidecar_unavailable"
  | "not_available"
  | "timeout"
  | "aborted"
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "payload_too_large"
  | "unsupported_media_type"
  | "shutting_down"
  | "internal";

/** Options common to every tandem error. */
export interface TandemErrorOptions {
  /** The underlying error, kept for debugging; never sent over the wire. */
  cause?: unknown;
  /** Extra machine-readable facts (which variable, which upstream, ...). Sent over the wire. */
  details?: Record<string, unknown>;
  /** HTTP status the sidecar answers with for this error. */
  status?: number;
}

const BRAND = Symbol.for("tandem.error");

/**
 * The base of every error tandem throws. `code` is stable and `details` says where the problem
 * is, so callers can react without parsing messages.
 */
export class TandemError extends Error {
  readonly code: TandemErrorCode;
  readonly details: Record<string, unknown>;
  readonly status: number;

  constructor(code: TandemErrorCode, message: string, options: TandemErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
    this.status = options.status ?? defaultStatus(code);
    Object.defineProperty(this, BRAND, { value: true });
  }

  override get name(): string {
    return this.constructor.name;
  }

  /**
   * True for any tandem error, even one created by another copy of this package (two versions
   * installed side by side), where `instanceof` would say no.
   */
  static is(value: unknown): value is TandemError {
    return typeof value === "object" && value !== null && BRAND in value;
  }
}

/**
 * Configuration is wrong: an env variable, a config file or an option. The message names what
 * was wrong, where, and what is allowed; `details` carries the same as fields.
 */
export class ConfigError extends TandemError {
  constructor(message: string, options: Omit<TandemErrorOptions, "status"> = {}) {
    super("config_invalid", message, options);
  }
}

/** The sidecar could not be reached (down, not ready in time, or the connection failed). */
export class SidecarUnavailableError extends TandemError {
  constructor(message: string, options: Omit<TandemErrorOptions, "status"> = {}) {
    super("sidecar_unavailable", message, options);
  }
}

/** A facet was used that this build of tandem does not provide yet. */
export class NotAvailableError extends TandemError {
  constructor(facet: string) {
    super("not_available", `${facet} is not available in this build of tandem`, {
      details: { facet },
    });
  }
}

/** An operation ran out of time. `details.timeoutMs` says which bound was hit. */
export class TimeoutError extends TandemError {
  constructor(message: string, options: Omit<TandemErrorOptions, "status"> = {}) {
    super("timeout", message, options);
  }
}

/** The caller aborted the operation through its `AbortSignal`. */
export class AbortedError extends TandemError {
  constructor(message = "the operation was aborted", options: Omit<TandemErrorOptions, "status"> = {}) {
    super("aborted", message, options);
  }
}

function defaultStatus(code: TandemErrorCode): number {
  switch (code) {
    case "bad_request":
    case "config_invalid":
      return 400;
    case "unauthorized":
      return 401;
    case "forbidden":
      return 403;
    case "not_found":
      return 404;
    case "method_not_allowed":
      return 405;
    case "timeout":
      return 504;
    case "payload_too_large":
      return 413;
    case "unsupported_media_type":
      return 415;
    case "aborted":
      return 499;
    case "not_available":
      return 501;
    case "sidecar_unavailable":
    case "shutting_down":
      return 503;
    default:
      return 500;
  }
}
