/** An immutable view of the configuration at one generation. */
export interface ConfigSnapshot {
  /** Increases by one with every change applied; 1 for the first good load. */
  generation: number;
  values: Readonly<Record<string, unknown>>;
}

/** What changed between two generations, handed to `onChange` listeners. */
export interface ConfigChange {
  previous: ConfigSnapshot;
  current: ConfigSnapshot;
  /** Dotted paths whose values differ. */
  changed: readonly string[];
}

/**
 * `rt.config`: the validated, hot-reloaded configuration. Reads are synchronous and always see
 * the last good snapshot; a rejected change never reaches them.
 */
export interface Config {
  /** The value at a dotted path (`"app.maxItems"`), or `undefined`. */
  get<T = unknown>(path: string): T | undefined;
  snapshot(): ConfigSnapshot;
  /** Calls `listener` after each applied change; returns a function that unsubscribes. */
  onChange(listener: (change: ConfigChange) => void): () => void;
}

/**
 * `rt.secrets`: named secrets from a directory (one file each) or the environment. Values never
 * appear in logs, errors, metrics or dumps.
 */
export interface Secrets {
  /** The secret's current value; rejects with a `TandemError` (`not_found`) when there is none. */
  get(name: string): Promise<string>;
  /**
   * The names of the secrets known now (never their values). The local store provides it, with
   * `lookup`, so that the sidecar can redact secret values from the log lines it ships.
   */
  names?(): string[];
  /** A secret's current value, synchronously; `undefined` when there is none. Local store only. */
  lookup?(name: string): string | undefined;
}
