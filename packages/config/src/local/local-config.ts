import { dirname, resolve } from "node:path";
import { type Counter, type Gauge, type Logger, type Metrics, type StandardSchemaV1, TandemError } from "@tandem/core";
import { ConfigStore } from "../config-store.js";
import { changedFlagKeys, type FlagSet, NO_FLAGS, parseFlagDefinitions } from "../flags/flag-definitions.js";
import { TandemFlagProvider } from "../flags/provider.js";
import type { ReloadStats } from "../status.js";
import { DirWatcher } from "./dir-watcher.js";
import { type LoadedConfig, parseConfig, readConfigText as readText } from "./loader.js";
import { SecretStore } from "./secret-store.js";

/** Options of `LocalConfigSources.open`. */
export interface LocalConfigOptions {
  /** tandem.yaml; none: defaults and env overrides only. */
  file?: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  appSchema?: StandardSchemaV1 | undefined;
  logger: Logger;
  /** Quiet time after a burst of file events before reloading. Default 100 ms. */
  debounceMs?: number;
  /** Watch the files and reload on change. Default true. */
  watch?: boolean;
  /** Where reloads are counted (`tandem_config_reloads_total`, `tandem_config_generation`). */
  metrics?: Metrics | undefined;
}

type LoadedFlags = (FlagSet & { source: string }) | undefined;

/** What changed in a reload, for the sidecar's change streams. */
export type SourceKind = "config" | "flags";

/**
 * The configuration, flag definitions and secrets read from files, kept current: each source's
 * directory is watched, a change is re-read and re-validated as a whole, and only a valid
 * result replaces the one in force. A rejected change is logged with every problem and counted,
 * and the last good state stays.
 */
export class LocalConfigSources {
  readonly store: ConfigStore;
  readonly secrets: SecretStore;
  readonly provider: TandemFlagProvider;
  readonly stats: ReloadStats = { applied: 0, rejected: 0, unchanged: 0, lastError: undefined };
  #loaded: LoadedConfig;
  #flags: LoadedFlags;
  readonly #options: LocalConfigOptions;
  readonly #watchers = new Map<string, DirWatcher>();
  readonly #listeners = new Set<(kind: SourceKind) => void>();
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  readonly #reloads: Counter | undefined;
  readonly #generation: Gauge | undefined;

  private constructor(options: LocalConfigOptions, loaded: LoadedConfig, secrets: SecretStore, flags: LoadedFlags) {
    this.#options = options;
    this.#loaded = loaded;
    this.secrets = secrets;
    this.#flags = flags;
    this.store = new ConfigStore(loaded.values, options.logger);
    this.provider = new TandemFlagProvider(flags ?? NO_FLAGS);
    this.#reloads = options.metrics?.counter("tandem_config_reloads_total", {
      help: "Config and flag reloads by result: applied, rejected (the last good stays) or unchanged.",
      labelNames: ["result"],
    });
    this.#generation = options.metrics?.gauge("tandem_config_generation", {
      help: "Generation of the config in force; goes up by one per applied change.",
    });
    this.#generation?.set(undefined, this.store.snapshot().generation);
  }

  /**
   * Loads everything once. At start there is no last good state to fall back on, so any
   * problem rejects with a `ConfigError` listing it.
   */
  static async open(options: LocalConfigOptions): Promise<LocalConfigSources> {
    const text = options.file === undefined ? undefined : await readText(options.file);
    // Secrets come first: the config may reference them, yet where they live is in the config.
    const bootstrap = await parseConfig(text, { file: options.file, env: options.env, secrets: () => "" });
    const secrets = await SecretStore.open({
      dir: secretsDir(bootstrap, options.file),
      envPrefix: bootstrap.values.secrets.envPrefix,
      env: options.env,
    });
    const loaded = await parseConfig(text, {
      file: options.file,
      env: options.env,
      secrets: (name) => secrets.lookup(name),
      appSchema: options.appSchema,
    });
    const flags = await readFlags(loaded, options.file);
    const sources = new LocalConfigSources(options, loaded, secrets, flags);
    if (options.watch !== false) sources.#watch();
    return sources;
  }

  /** The configuration in force, with what a dump must hide. */
  get loaded(): LoadedConfig {
    return this.#loaded;
  }

  /** The flag definitions in force, as flagd JSON. */
  get flagDefinitions(): string {
    return (this.#flags ?? NO_FLAGS).json;
  }

  /** Calls `listener` after each applied change of the configuration or the flags. */
  onUpdate(listener: (kind: SourceKind) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Re-reads every source now; reloads never overlap. */
  reload(): Promise<void> {
    const next = this.#queue.then(() => this.#reload());
    this.#queue = next.catch(() => {});
    return next;
  }

  close(): void {
    this.#closed = true;
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
  }

  async #reload(): Promise<void> {
    if (this.#closed) return;
    const log = this.#options.logger;
    let loaded: LoadedConfig;
    try {
      const secretsChanged = await this.secrets.reload();
      if (secretsChanged.length > 0) log.info({ event: "secrets_reloaded", names: secretsChanged }, "secrets changed");
      const text = this.#options.file === undefined ? undefined : await readText(this.#options.file);
      loaded = await parseConfig(text, {
        file: this.#options.file,
        env: this.#options.env,
        secrets: (name) => this.secrets.lookup(name),
        appSchema: this.#options.appSchema,
      });
    } catch (error) {
      this.#reject("config", error);
      return;
    }
    const changed = this.store.apply(loaded.values);
    this.#loaded = loaded;
    if (changed.length > 0) {
      this.#generation?.set(undefined, this.store.snapshot().generation);
      log.info(
        { event: "config_applied", generation: this.store.snapshot().generation, changed },
        "config change applied",
      );
      this.#emit("config");
    }
    this.#watch();
    const flags = await this.#reloadFlags(loaded);
    // One reload, one result: rejected if a part was, applied if a part changed.
    if (flags === "rejected") return;
    this.#count(changed.length > 0 || flags === "applied" ? "applied" : "unchanged");
  }

  async #reloadFlags(loaded: LoadedConfig): Promise<"applied" | "unchanged" | "rejected"> {
    let flags: LoadedFlags;
    try {
      flags = await readFlags(loaded, this.#options.file);
    } catch (error) {
      this.#reject("flags", error);
      this.provider.markError((error as Error).message);
      return "rejected";
    }
    const changed = changedFlagKeys(this.#flags, flags ?? NO_FLAGS);
    const recovered = this.stats.lastError?.source === "flags";
    this.#flags = flags;
    if (recovered) {
      this.stats.lastError = undefined;
      this.provider.markReady();
    }
    if (changed.length === 0) return "unchanged";
    this.provider.update(flags ?? NO_FLAGS, changed);
    this.#options.logger.info({ event: "flags_applied", changed }, "flag definitions changed");
    this.#emit("flags");
    return "applied";
  }

  #count(result: "applied" | "unchanged" | "rejected"): void {
    this.stats[result]++;
    this.#reloads?.inc({ result });
  }

  #reject(source: SourceKind, error: unknown): void {
    this.#count("rejected");
    // A rejected file may hold a secret's value where it does not belong (pasted into the wrong
    // setting, or as a key): the problems quote what they got, so the values are taken out.
    const redact = this.#secretRedactor();
    const message = redact((error as Error).message);
    const rawIssues = TandemError.is(error) ? error.details.issues : undefined;
    const issues = rawIssues === undefined ? undefined : (JSON.parse(redact(JSON.stringify(rawIssues))) as unknown);
    this.stats.lastError = { source, message, at: new Date().toISOString() };
    this.#options.logger.warn(
      { event: "config_rejected", source, reason: message, ...(issues === undefined ? {} : { issues }) },
      `${source} change rejected; the last good ${source} stays in force`,
    );
  }

  /** Replaces every current secret value (4 characters or more, also JSON-escaped) with `[redacted]`. */
  #secretRedactor(): (text: string) => string {
    const needles = new Set<string>();
    for (const name of this.secrets.names()) {
      const value = this.secrets.lookup(name);
      if (value === undefined || value.length < 4) continue;
      needles.add(value);
      needles.add(JSON.stringify(value).slice(1, -1));
    }
    // Longest first, so a secret that contains another is replaced whole.
    const ordered = [...needles].sort((a, b) => b.length - a.length);
    return (text) => ordered.reduce((out, needle) => out.replaceAll(needle, "[redacted]"), text);
  }

  #emit(kind: SourceKind): void {
    for (const listener of this.#listeners) listener(kind);
  }

  /** Watches the directories of every source in use, adding any a config change introduced. */
  #watch(): void {
    if (this.#options.watch === false || this.#closed) return;
    const dirs = new Set<string>();
    if (this.#options.file !== undefined) dirs.add(dirname(resolve(this.#options.file)));
    const flagSource = flagPath(this.#loaded, this.#options.file);
    if (flagSource !== undefined) dirs.add(dirname(flagSource));
    const secrets = secretsDir(this.#loaded, this.#options.file);
    if (secrets !== undefined) dirs.add(secrets);
    for (const dir of dirs) {
      if (!this.#watchers.has(dir)) {
        this.#watchers.set(dir, new DirWatcher(dir, this.#options.debounceMs ?? 100, () => void this.reload()));
      }
    }
  }
}

/** Relative paths in the config are relative to the config file, as in flagd and Envoy. */
function fromConfig(file: string | undefined, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  return resolve(file === undefined ? process.cwd() : dirname(resolve(file)), path);
}

function flagPath(loaded: LoadedConfig, file: string | undefined): string | undefined {
  return fromConfig(file, loaded.values.flags?.source);
}

function secretsDir(loaded: LoadedConfig, file: string | undefined): string | undefined {
  return fromConfig(file, loaded.values.secrets.dir);
}

async function readFlags(loaded: LoadedConfig, file: string | undefined) {
  const path = flagPath(loaded, file);
  if (path === undefined) return undefined;
  return { ...(await parseFlagDefinitions(await readText(path), path)), source: path };
}
