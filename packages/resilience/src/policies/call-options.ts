import { AbortedError, type ExecuteOptions, TandemError } from "@tandem/core";

type Work<T> = (signal: AbortSignal) => Promise<T>;

/**
 * Applies an `execute` call's own options around a policy: the caller's signal (the work sees
 * it with the policy's, and the call rejects at once when it fires) and the fallback. Calls
 * without options pay nothing.
 */
export function withCallOptions<T>(
  name: string,
  run: (work: Work<T>) => Promise<T>,
  work: Work<T>,
  options: ExecuteOptions<T> | undefined,
): Promise<T> {
  if (options === undefined) return run(work);
  const { signal, fallback } = options;
  let result: Promise<T>;
  if (signal === undefined) {
    result = run(work);
  } else if (signal.aborted) {
    result = Promise.reject(aborted(name, signal));
  } else {
    const wrapped: Work<T> = (policySignal) =>
      work(AbortSignal.any([policySignal, signal])).catch((error: unknown) => {
        // Aborted by the caller: not a failure of what the policy guards.
        throw signal.aborted ? aborted(name, signal) : error;
      });
    result = new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(aborted(name, signal));
      signal.addEventListener("abort", onAbort, { once: true });
      run(wrapped).then(
        (value) => {
          signal.removeEventListener("abort", onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      );
    });
  }
  if (fallback === undefined) return result;
  return result.catch((error: unknown) => {
    if (TandemError.is(error) && (error.code === "aborted" || error.code === "config_invalid")) throw error;
    return typeof fallback === "function" ? (fallback as (e: unknown) => T | Promise<T>)(error) : fallback;
  });
}

function aborted(name: string, signal: AbortSignal): AbortedError {
  return new AbortedError(`${name}: the call was aborted by its caller`, {
    cause: signal.reason,
    details: { policy: name },
  });
}
