import { NotAvailableError } from "@tandem/core";

/**
 * A facet that this build does not provide: every method throws `NotAvailableError` naming the
 * method, so nothing pretends to work.
 */
export function unavailable<T extends object>(facet: string): T {
  return new Proxy({} as T, {
    get(_target, property) {
      if (typeof property === "symbol" || property === "then") return undefined;
      return () => {
        throw new NotAvailableError(`${facet}.${property}()`);
      };
    },
  });
}
