/**
 * `rt.resilience`: wraps any async work in a named policy from the config file (rate limit,
 * total timeout, retry, circuit breaker, attempt timeout, in that order). The work always gets
 * an `AbortSignal` that fires when its attempt is given up.
 */
export interface Resilience {
  /**
   * Runs `work` under `policy`.
   * @example
   * const rows = await rt.resilience.execute("db", (signal) => db.query(sql, { signal }));
   */
  execute<T>(policy: string, work: (signal: AbortSignal) => Promise<T>): Promise<T>;
}
