/** Options of one `execute` call. */
export interface ExecuteOptions<T> {
  /**
   * What to return when the policy gives up (timeouts, retries spent, breaker open, ...): a
   * value, or a function of the error. Not used for a call aborted by its caller or a policy
   * that is not configured.
   */
  fallback?: T | ((error: unknown) => T | Promise<T>);
  /** Aborts this call alone: the work's signal fires and the call rejects with `AbortedError`. */
  signal?: AbortSignal;
}

/**
 * `rt.resilience`: wraps any async work in a named policy from the config file (rate limit,
 * bulkhead, total timeout, retry, circuit breaker, attempt timeout, in that order). The work
 * always gets an `AbortSignal` that fires when its attempt is given up.
 */
export interface Resilience {
  /**
   * Runs `work` under `policy`.
   * @example
   * const rows = await rt.resilience.execute("db", (signal) => db.query(sql, { signal }), { fallback: [] });
   */
  execute<T>(policy: string, work: (signal: AbortSignal) => Promise<T>, options?: ExecuteOptions<T>): Promise<T>;
}
