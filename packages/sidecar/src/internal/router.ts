import type { RouteDefinition, RouteMethod } from "@tandem/core";

interface Compiled {
  route: RouteDefinition;
  segments: readonly string[];
}

/** What `Router.match` finds for a method and a path. */
export type Match =
  | { kind: "found"; route: RouteDefinition; params: Record<string, string> }
  | { kind: "method_not_allowed"; allowed: readonly RouteMethod[] }
  | { kind: "not_found" };

/**
 * Maps method and path to a route. Static paths are one map lookup; paths with `{param}`
 * segments are matched segment by segment (there are few of them).
 */
export class Router {
  readonly #static = new Map<string, Map<RouteMethod, RouteDefinition>>();
  readonly #dynamic: Compiled[] = [];
  readonly #routes: RouteDefinition[] = [];

  /** Adds routes; a second route with the same method and path is a programming error. */
  add(routes: readonly RouteDefinition[]): void {
    for (const route of routes) {
      if (!route.path.startsWith("/")) throw new Error(`route path ${route.path} must start with /`);
      if (this.#routes.some((r) => r.method === route.method && r.path === route.path)) {
        throw new Error(`route ${route.method} ${route.path} is registered twice`);
      }
      this.#routes.push(route);
      if (route.path.includes("{")) {
        this.#dynamic.push({ route, segments: route.path.split("/") });
      } else {
        let byMethod = this.#static.get(route.path);
        if (byMethod === undefined) {
          byMethod = new Map();
          this.#static.set(route.path, byMethod);
        }
        byMethod.set(route.method, route);
      }
    }
  }

  /** Every route, in registration order. */
  get routes(): readonly RouteDefinition[] {
    return this.#routes;
  }

  match(method: string, path: string): Match {
    const byMethod = this.#static.get(path);
    if (byMethod !== undefined) {
      const route = byMethod.get(method as RouteMethod);
      if (route !== undefined) return { kind: "found", route, params: {} };
      return { kind: "method_not_allowed", allowed: [...byMethod.keys()] };
    }
    const parts = path.split("/");
    const allowed: RouteMethod[] = [];
    for (const { route, segments } of this.#dynamic) {
      const params = matchSegments(segments, parts);
      if (params === undefined) continue;
      if (route.method === method) {
        return { kind: "found", route, params };
      }
      allowed.push(route.method);
    }
    return allowed.length > 0 ? { kind: "method_not_allowed", allowed } : { kind: "not_found" };
  }
}

function matchSegments(pattern: readonly string[], parts: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] as string;
    const v = parts[i] as string;
    if (p.startsWith("{") && p.endsWith("}")) {
      if (v === "") return undefined;
      let decoded: string;
      try {
        decoded = decodeURIComponent(v);
      } catch {
        return undefined;
      }
      params[p.slice(1, -1)] = decoded;
    } else if (p !== v) {
      return undefined;
    }
  }
  return params;
}
