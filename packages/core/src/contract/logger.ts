/** One log method: pino's call shapes (`log(obj, msg)` or `log(msg)`). */
export interface LogFn {
  (object: object, message?: string, ...args: unknown[]): void;
  (message: string, ...args: unknown[]): void;
}

/**
 * `rt.logger`: a pino-compatible structured logger. A pino `Logger` satisfies this interface, so
 * code written against pino keeps working.
 */
export interface Logger {
  level: string;
  fatal: LogFn;
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  trace: LogFn;
  /** A logger that adds `bindings` to every line. */
  child(bindings: Record<string, unknown>): Logger;
}
