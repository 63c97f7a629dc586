import type { ConfigIssue } from "./loader.js";

/** Looks a secret up by name; `undefined` when there is none. */
export type SecretLookup = (name: string) => string | undefined;

const REF = /\$\{secret:([A-Za-z0-9._-]+)\}/g;

/**
 * Replaces `${secret:name}` inside every string of `value` with the secret's value. A reference
 * to a missing secret is an issue naming the path and the secret, never its value.
 */
export function resolveSecretRefs(
  value: unknown,
  lookup: SecretLookup | undefined,
  issues: ConfigIssue[],
  path = "",
): unknown {
  if (typeof value === "string") {
    if (!value.includes("${secret:")) return value;
    return value.replace(REF, (_, name: string) => {
      const secret = lookup?.(name);
      if (secret === undefined) {
        issues.push({ path: path || "(root)", message: `secret "${name}" is referenced but not found` });
        return "";
      }
      return secret;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveSecretRefs(v, lookup, issues, `${path}[${i}]`));
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      out[k] = resolveSecretRefs(v, lookup, issues, path === "" ? k : `${path}.${k}`);
    return out;
  }
  return value;
}
