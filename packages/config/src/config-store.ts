import type { Config, ConfigChange, ConfigSnapshot, Logger } from "@tandem/core";

/**
 * The snapshot behind `rt.config`, the same in both modes: reads are synchronous and see one
 * frozen snapshot; `apply` swaps in a whole new one at once, bumps the generation only when a
 * value really changed, and tells the listeners which paths changed.
 */
export class ConfigStore implements Config {
  #snapshot: ConfigSnapshot;
  readonly #listeners = new Set<(change: ConfigChange) => void>();
  readonly #log: Logger;

  constructor(values: Record<string, unknown>, log: Logger) {
    this.#snapshot = { generation: 1, values: deepFreeze(structuredClone(values)) };
    this.#log = log;
  }

  get<T = unknown>(path: string): T | undefined {
    let node: unknown = this.#snapshot.values;
    let start = 0;
    while (start <= path.length) {
      const dot = path.indexOf(".", start);
      const key = path.slice(start, dot === -1 ? undefined : dot);
      if (typeof node !== "object" || node === null) return undefined;
      node = (node as Record<string, unknown>)[key];
      if (dot === -1) break;
      start = dot + 1;
    }
    return node as T | undefined;
  }

  snapshot(): ConfigSnapshot {
    return this.#snapshot;
  }

  onChange(listener: (change: ConfigChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Applies new values; resolves with the changed paths (none: nothing happened). */
  apply(values: Record<string, unknown>): string[] {
    const changed = diffPaths(this.#snapshot.values, values);
    if (changed.length === 0) return changed;
    const previous = this.#snapshot;
    this.#snapshot = { generation: previous.generation + 1, values: deepFreeze(structuredClone(values)) };
    const change: ConfigChange = { previous, current: this.#snapshot, changed };
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        this.#log.error({ event: "config_listener_failed", err: error }, "a config change listener threw");
      }
    }
    return changed;
  }
}

/** Dotted paths of the leaves that differ between `a` and `b` (arrays compare as one value). */
function diffPaths(a: unknown, b: unknown, path = ""): string[] {
  if (isRecord(a) && isRecord(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    const out: string[] = [];
    for (const key of [...keys].sort()) out.push(...diffPaths(a[key], b[key], path === "" ? key : `${path}.${key}`));
    return out;
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path || "(root)"];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
