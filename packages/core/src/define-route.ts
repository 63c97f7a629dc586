import type { RouteDefinition } from "./contract/routes.js";

/**
 * Declares a route with a typed body: the handler sees the schema's output type, and the result
 * fits in a list of routes of any body type.
 */
export function defineRoute<B>(definition: RouteDefinition<B>): RouteDefinition {
  return definition as unknown as RouteDefinition;
}
