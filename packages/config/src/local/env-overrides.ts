const PREFIX = "TANDEM__";

/** True when `env` holds a `TANDEM__...` override for `applyEnvOverrides` to apply. */
export function hasEnvOverrides(env: Readonly<Record<string, string | undefined>>): boolean {
  return Object.keys(env).some((k) => k.startsWith(PREFIX) && env[k] !== undefined);
}

/**
 * Applies `TANDEM__SECTION__KEY=value` env variables over the file: each `__` descends one
 * level. A segment matches an existing key ignoring case and underscores (`MAX_ITEMS` finds
 * `maxItems`); a new key is written in camelCase. Values go through `parse`.
 *
 * @example
 * // TANDEM__APP__MAX_ITEMS=75  →  app.maxItems = 75
 */
export function applyEnvOverrides(
  raw: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
  parse: (text: string) => unknown,
): Record<string, unknown> {
  const result = structuredClone(raw);
  const names = Object.keys(env)
    .filter((k) => k.startsWith(PREFIX) && env[k] !== undefined)
    .sort();
  for (const variable of names) {
    const segments = variable.slice(PREFIX.length).split("__");
    if (segments.some((s) => s === "")) continue;
    let node: Record<string, unknown> = result;
    for (let i = 0; i < segments.length; i++) {
      const key = findKey(node, segments[i] as string);
      if (i === segments.length - 1) {
        node[key] = parse(env[variable] as string);
      } else {
        const next = node[key];
        if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
        node = node[key] as Record<string, unknown>;
      }
    }
  }
  return result;
}

function findKey(node: Record<string, unknown>, segment: string): string {
  const wanted = normalise(segment);
  return Object.keys(node).find((k) => normalise(k) === wanted) ?? camelCase(segment);
}

function normalise(key: string): string {
  return key.replaceAll("_", "").replaceAll("-", "").toLowerCase();
}

function camelCase(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
