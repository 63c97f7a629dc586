import {
  ConfigError,
  type EventStream,
  type Logger,
  type Secrets,
  type SidecarClient,
  type StandardSchemaV1,
  TandemError,
} from "@tandem/core";
import { ConfigStore } from "../config-store.js";
import { changedFlagKeys, type FlagSet, NO_FLAGS, parseFlagDefinitions } from "../flags/flag-definitions.js";
import { TandemFlagProvider } from "../flags/provider.js";
import { applyAppSchema, type ConfigIssue } from "../local/loader.js";
import { resolveSecretRefs, type SecretUse } from "../local/secret-refs.js";

/** Options of `RemoteConfigSources.open`. */
export interface RemoteConfigOptions {
  client: SidecarClient;
  logger: Logger;
  appSchema?: StandardSchemaV1 | undefined;
  /** After this long without the sidecar, flags report STALE. Default: `flags.staleAfter` (5 s). */
  staleAfterMs?: number;
}

interface ConfigAnswer {
  generation: number;
  values: Record<string, unknown>;
  secretNames: string[];
}

interface FlagsAnswer {
  definitions: Record<string, unknown>;
}

/**
 * Configuration, flags and secrets synced from the sidecar. The sidecar owns the files and the
 * watching; this side keeps the last good snapshot, follows the change streams, evaluates flags
 * in-process, and goes on serving the last good state while the sidecar is away: flags report
 * STALE after a grace period, and everything resyncs when the sidecar is back.
 */
export class RemoteConfigSources {
  readonly store: ConfigStore;
  readonly provider: TandemFlagProvider;
  readonly secrets: RemoteSecrets;
  readonly #options: RemoteConfigOptions;
  readonly #streams: EventStream[] = [];
  #flags: FlagSet;
  #staleTimer: NodeJS.Timeout | undefined;
  #stale = false;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(options: RemoteConfigOptions, values: Record<string, unknown>, flags: FlagSet) {
    this.#options = options;
    this.store = new ConfigStore(values, options.logger);
    this.#flags = flags;
    this.provider = new TandemFlagProvider(this.#flags);
    this.secrets = new RemoteSecrets(options.client);
  }

  /** Fetches the snapshots and opens the change streams. */
  static async open(options: RemoteConfigOptions): Promise<RemoteConfigSources> {
    const secrets = new RemoteSecrets(options.client);
    const values = await resolveRemote(
      await options.client.get<ConfigAnswer>("/v1/config"),
      secrets,
      options.appSchema,
    );
    const flags = await options.client.get<FlagsAnswer>("/v1/flags");
    const sources = new RemoteConfigSources(options, values, await flagSet(flags));
    sources.#follow("/v1/config/events", () => sources.#syncConfig());
    sources.#follow("/v1/flags/events", () => sources.#syncFlags());
    return sources;
  }

  close(): void {
    clearTimeout(this.#staleTimer);
    for (const stream of this.#streams) stream.close();
  }

  #follow(path: string, sync: () => Promise<void>): void {
    const run = () => {
      const next = this.#queue.then(sync);
      this.#queue = next.catch(() => {});
    };
    this.#streams.push(
      this.#options.client.events(path, {
        onEvent: run,
        // Every (re)connection resyncs: a restarted sidecar numbers its events afresh.
        onOpen: () => {
          this.#connected();
          run();
        },
        onError: (error, fatal) => {
          this.#disconnected();
          if (fatal)
            this.#options.logger.error(
              { event: "config_stream_failed", path, reason: error.message },
              "config stream stopped",
            );
        },
        retryMs: 100,
        maxRetryMs: 1000,
      }),
    );
  }

  async #syncConfig(): Promise<void> {
    try {
      const answer = await this.#options.client.get<ConfigAnswer>("/v1/config");
      const values = await resolveRemote(answer, this.secrets, this.#options.appSchema);
      const changed = this.store.apply(values);
      if (changed.length > 0) {
        this.#options.logger.info(
          { event: "config_applied", generation: this.store.snapshot().generation, changed },
          "config change applied",
        );
      }
    } catch (error) {
      this.#options.logger.warn(
        { event: "config_sync_failed", reason: (error as Error).message },
        "config sync failed; the last good config stays in force",
      );
    }
  }

  async #syncFlags(): Promise<void> {
    try {
      const answer = await this.#options.client.get<FlagsAnswer>("/v1/flags");
      const flags = await flagSet(answer);
      const changed = changedFlagKeys(this.#flags, flags);
      this.#flags = flags;
      this.provider.update(flags, changed);
    } catch (error) {
      this.#options.logger.warn(
        { event: "flags_sync_failed", reason: (error as Error).message },
        "flag sync failed; the last good definitions stay in force",
      );
    }
  }

  #connected(): void {
    clearTimeout(this.#staleTimer);
    this.#staleTimer = undefined;
    if (this.#stale) {
      this.#stale = false;
      this.provider.markReady();
    }
  }

  #disconnected(): void {
    if (this.#staleTimer !== undefined || this.#stale) return;
    this.#staleTimer = setTimeout(
      () => {
        this.#stale = true;
        this.provider.markStale("the sidecar is unreachable; evaluating the last definitions it sent");
      },
      this.#options.staleAfterMs ?? this.store.get<number>("flags.staleAfter") ?? 5000,
    );
    this.#staleTimer.unref();
  }
}

/**
 * `rt.secrets` in sidecar mode: each read asks the sidecar, so a rotation is seen at once; the
 * last value read is kept for when the sidecar is away.
 */
export class RemoteSecrets implements Secrets {
  readonly #client: SidecarClient;
  readonly #lastKnown = new Map<string, string>();

  constructor(client: SidecarClient) {
    this.#client = client;
  }

  async get(name: string): Promise<string> {
    try {
      const { value } = await this.#client.get<{ value: string }>(`/v1/secrets/${encodeURIComponent(name)}`);
      this.#lastKnown.set(name, value);
      return value;
    } catch (error) {
      const known = this.#lastKnown.get(name);
      if (
        known !== undefined &&
        TandemError.is(error) &&
        (error.code === "sidecar_unavailable" || error.code === "timeout")
      ) {
        return known;
      }
      throw error;
    }
  }
}

/** The sidecar's flag definitions as a flag set; none at all need no evaluator loaded. */
function flagSet(answer: FlagsAnswer): Promise<FlagSet> {
  const json = JSON.stringify(answer.definitions);
  return json === NO_FLAGS.json ? Promise.resolve(NO_FLAGS) : parseFlagDefinitions(json, "sidecar /v1/flags.json");
}

async function resolveRemote(
  answer: ConfigAnswer,
  secrets: RemoteSecrets,
  appSchema: StandardSchemaV1 | undefined,
): Promise<Record<string, unknown>> {
  const found = new Map<string, string>();
  for (const name of answer.secretNames) found.set(name, await secrets.get(name));
  const issues: ConfigIssue[] = [];
  const use: SecretUse = { paths: [], names: new Set() };
  const values = resolveSecretRefs(answer.values, (n) => found.get(n), issues, use) as Record<string, unknown>;
  await applyAppSchema(values, appSchema, issues);
  if (issues.length > 0) {
    throw new ConfigError(
      `the sidecar's configuration is invalid here, ${issues.length} problem(s): ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
      {
        details: { issues },
      },
    );
  }
  return values;
}
