import type { ConfigIssue } from "./loader.js";

/** Looks a secret up by name; `undefined` when there is none. */
export type SecretLookup = (name: string) => string | undefined;

const REF = /\$\{secret:([A-Za-z0-9._-]+)\}/g;

/** What resolving references found: where secrets went, and which secrets were used. */
export interface SecretUse {
  /** Dotted paths whose values hold a secret (to redact them in dumps). */
  paths: string[];
  /** Names of the secrets referenced. */
  names: Set<string>;
}

/**
 * Replaces `${secret:name}` inside every string of `value` with the secret's value. A reference
 * to a missing secret is an issue naming the path and the secret, never its value.
 */
export function resolveSecretRefs(
  value: unknown,
  lookup: SecretLookup | undefined,
  issues: ConfigIssue[],
  use: SecretUse,
  path = "",
): unknown {
  if (typeof value === "string") {
    if (!value.includes("${secret:")) return value;
    use.paths.push(path || "(root)");
    return value.replace(REF, (_, name: string) => {
      use.names.add(name);
      const secret = lookup?.(name);
      if (secret === undefined) {
        issues.push({ path: path || "(root)", message: `secret "${name}" is referenced but not found` });
        return "";
      }
      return secret;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveSecretRefs(v, lookup, issues, use, `${path}[${i}]`));
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      out[k] = resolveSecretRefs(v, lookup, issues, use, path === "" ? k : `${path}.${k}`);
    return out;
  }
  return value;
}

/** A copy of `values` with every path in `paths` replaced by `[redacted]`, for dumps and logs. */
export function redact<T>(values: T, paths: readonly string[]): T {
  if (paths.length === 0) return values;
  const copy = structuredClone(values) as Record<string, unknown>;
  for (const path of paths) {
    const keys = path.split(/\.|\[(\d+)\]/).filter((k) => k !== undefined && k !== "");
    let node: Record<string, unknown> | undefined = copy;
    for (let i = 0; i < keys.length - 1 && node !== undefined; i++) {
      node = node[keys[i] as string] as Record<string, unknown> | undefined;
    }
    const last = keys.at(-1);
    if (node !== undefined && last !== undefined) node[last] = "[redacted]";
  }
  return copy as T;
}
