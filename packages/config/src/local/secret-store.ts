import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { type Secrets, TandemError } from "@tandem/core";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
const MAX_SECRET_BYTES = 1024 * 1024;

/** Where secrets come from. */
export interface SecretStoreOptions {
  /** A directory with one file per secret, named after it (a Kubernetes secret volume). */
  dir?: string | undefined;
  /** Env variables `PREFIX_DB_PASSWORD` give the secret `db-password`. */
  envPrefix?: string | undefined;
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Secrets from a directory and the environment, held in memory and re-read on `reload()`. A
 * file wins over an env variable of the same name. One trailing newline of a file is dropped,
 * as `kubectl create secret --from-file` keeps the one editors add.
 */
export class SecretStore implements Secrets {
  #values = new Map<string, string>();
  readonly #options: SecretStoreOptions;

  private constructor(options: SecretStoreOptions) {
    this.#options = options;
  }

  /** Reads every secret once. An unreadable directory is a `ConfigError`-like failure at start. */
  static async open(options: SecretStoreOptions): Promise<SecretStore> {
    const store = new SecretStore(options);
    store.#values = await store.#read();
    return store;
  }

  /** The names of the secrets there are (never their values). */
  names(): string[] {
    return [...this.#values.keys()].sort();
  }

  /** The value, or `undefined`; for `${secret:name}` references. */
  lookup(name: string): string | undefined {
    return this.#values.get(name);
  }

  async get(name: string): Promise<string> {
    if (!isSecretName(name)) {
      throw new TandemError(
        "bad_request",
        `"${name.slice(0, 64)}" is not a secret name: letters, digits, '.', '-', '_'`,
        {
          details: { name: name.slice(0, 64) },
        },
      );
    }
    const value = this.#values.get(name);
    if (value === undefined) {
      throw new TandemError("not_found", `no secret named "${name}"`, { details: { name } });
    }
    return value;
  }

  /** Re-reads every source; resolves with the names whose value appeared, changed or went. */
  async reload(): Promise<string[]> {
    const next = await this.#read();
    const changed = new Set<string>();
    for (const [name, value] of next) if (this.#values.get(name) !== value) changed.add(name);
    for (const name of this.#values.keys()) if (!next.has(name)) changed.add(name);
    this.#values = next;
    return [...changed].sort();
  }

  async #read(): Promise<Map<string, string>> {
    const values = new Map<string, string>();
    const { dir, envPrefix, env = {} } = this.#options;
    if (envPrefix !== undefined) {
      for (const [key, value] of Object.entries(env)) {
        if (value === undefined || !key.startsWith(envPrefix) || key.length === envPrefix.length) continue;
        const name = key.slice(envPrefix.length).toLowerCase().replaceAll("_", "-");
        if (isSecretName(name)) values.set(name, value);
      }
    }
    if (dir !== undefined) {
      let entries: string[];
      try {
        entries = await readdir(dir);
      } catch (error) {
        throw new TandemError(
          "config_invalid",
          `secrets directory ${dir} cannot be read (${(error as { code?: string }).code})`,
          {
            cause: error,
            details: { dir },
          },
        );
      }
      for (const entry of entries) {
        // Kubernetes keeps its bookkeeping (..data, ..2024_01_01...) in dot entries.
        if (entry.startsWith(".") || !isSecretName(entry)) continue;
        const path = join(dir, entry);
        try {
          const info = await stat(path);
          if (!info.isFile() || info.size > MAX_SECRET_BYTES) continue;
          const text = await readFile(path, "utf8");
          values.set(entry, text.endsWith("\n") ? text.slice(0, -1) : text);
        } catch {
          // Removed between readdir and read: the next reload settles it.
        }
      }
    }
    return values;
  }
}

/** True for a name a secret can have: no path separators, no `..`, no leading dot. */
export function isSecretName(name: string): boolean {
  return NAME.test(name) && !name.includes("..");
}
