import { trace } from "@opentelemetry/api";
import {
  type Concern,
  type ConcernContext,
  type ConcernInstance,
  type Facets,
  formatSidecarAddress,
  type Logger,
  type Mode,
  type Runtime,
  type RuntimeStatus,
  resolveEnv,
  SidecarClient,
  type StandardSchemaV1,
} from "@tandem/core";
import { secretRedactor, traceMixin } from "@tandem/observability";
import { type DestinationStream, pino } from "pino";
import { builtinConcerns } from "./concerns.js";
import { unavailable } from "./unavailable.js";

/** Options of `createRuntime`; each overrides the matching env variable. */
export interface RuntimeOptions {
  /** Overrides `TANDEM_MODE`. */
  mode?: Mode;
  /** Overrides `TANDEM_SIDECAR` (`http://127.0.0.1:4600` or `unix:/path.sock`). */
  sidecar?: string;
  /** Overrides `TANDEM_TOKEN`. */
  token?: string;
  /** Overrides `TANDEM_SIDECAR_REQUIRED`: fail instead of falling back to library mode. */
  sidecarRequired?: boolean;
  /** Overrides `TANDEM_CONFIG`. */
  configPath?: string;
  /** Validates the `app` section of the config (any Standard Schema: zod, valibot, ...). */
  appSchema?: StandardSchemaV1;
  /** How long to wait for the sidecar to be ready. Default 30 000 ms. */
  readyTimeoutMs?: number;
  /** The environment to read instead of `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * The logger tandem and `rt.logger` use, in both modes. Default: pino at `TANDEM_LOG_LEVEL` or
   * info, with trace ids and secret values redacted, to stdout in library mode; in sidecar mode
   * `rt.logger`'s lines are batched to the sidecar, which writes them to its sinks.
   */
  logger?: Logger;
  /** Where the default logger writes in library mode (and tandem's own lines in both). Default stdout. */
  logDestination?: DestinationStream;
  /** The concerns to run. Default: every concern this build ships. */
  concerns?: readonly Concern[];
}

/**
 * Creates the runtime in the mode `TANDEM_MODE` asks for. In sidecar mode it waits for the
 * sidecar to be ready; when it is not and `TANDEM_SIDECAR_REQUIRED` is off, it falls back to
 * library mode with the same configuration, logs that once and counts it.
 *
 * @example
 * const rt = await createRuntime();
 * rt.logger.info({ mode: rt.mode }, "started");
 * await rt.close();
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const variables = overlay(options);
  const env = resolveEnv(variables);
  const facets: Partial<Facets> = {};
  const logger: Logger = options.logger ?? defaultLogger(env.logLevel, facets, options.logDestination);
  const context: ConcernContext = { env, variables, logger, facets, appSchema: options.appSchema };
  const concerns = options.concerns ?? builtinConcerns;
  let client: SidecarClient | undefined;
  let fallbacks = 0;
  let mode: Mode = env.mode;
  if (env.mode === "sidecar") {
    client = new SidecarClient({ address: env.sidecar, token: env.token });
    try {
      await client.waitUntilReady({ timeoutMs: options.readyTimeoutMs ?? 30_000 });
    } catch (error) {
      await client.close();
      client = undefined;
      if (env.sidecarRequired) throw error;
      fallbacks++;
      mode = "library";
      logger.warn(
        {
          event: "sidecar_fallback",
          sidecar: formatSidecarAddress(env.sidecar),
          reason: error instanceof Error ? error.message : String(error),
        },
        "sidecar unavailable, running in library mode",
      );
    }
  }
  const instances: ConcernInstance<Partial<Facets>>[] = [];
  try {
    for (const concern of concerns) {
      const instance =
        client === undefined ? await concern.local(context) : await concern.remote({ ...context, client });
      instances.push(instance);
      Object.assign(context.facets, instance.facets);
    }
    for (const instance of instances) await instance.started?.();
  } catch (error) {
    await closeAll(instances);
    await client?.close();
    throw error;
  }
  if (fallbacks > 0) {
    facets.metrics
      ?.counter("tandem_sidecar_fallback_total", {
        help: "Times this process ran on the local implementation because the sidecar was unreachable.",
      })
      .inc(undefined, fallbacks);
  }
  const rtLogger = options.logger ?? facets.logger ?? logger;
  const stopLevel =
    options.logger === undefined && env.logLevel === undefined ? followLogLevel(facets, [logger, rtLogger]) : undefined;
  let closing: Promise<void> | undefined;
  const sidecar = env.mode === "sidecar" ? formatSidecarAddress(env.sidecar) : undefined;
  return {
    mode,
    http: facets.http ?? unavailable("rt.http"),
    resilience: facets.resilience ?? unavailable("rt.resilience"),
    metrics: facets.metrics ?? unavailable("rt.metrics"),
    tracer: facets.tracer ?? trace.getTracer("tandem"),
    logger: rtLogger,
    config: facets.config ?? unavailable("rt.config"),
    flags: facets.flags ?? unavailable("rt.flags"),
    secrets: facets.secrets ?? unavailable("rt.secrets"),
    status: (): RuntimeStatus => ({
      requestedMode: env.mode,
      mode,
      degraded: mode !== env.mode,
      sidecarFallbacks: fallbacks,
      ...(sidecar === undefined ? {} : { sidecar }),
    }),
    close: () => {
      closing ??= (async () => {
        stopLevel?.();
        await closeAll(instances);
        await client?.close();
      })();
      return closing;
    },
  };
}

/**
 * pino with the active span's ids on each line and the config's secret values redacted (the
 * redactor is rebuilt at most once a second, so a rotated secret is redacted soon after).
 */
function defaultLogger(level: string | undefined, facets: Partial<Facets>, destination?: DestinationStream): Logger {
  const makeRedactor = secretRedactor(() => facets.secrets);
  let redact: ((text: string) => string) | undefined;
  let builtAt = 0;
  return pino(
    {
      level: level ?? "info",
      mixin: traceMixin,
      hooks: {
        streamWrite: (line) => {
          const now = Date.now();
          if (redact === undefined || now - builtAt > 1000) {
            redact = makeRedactor();
            builtAt = now;
          }
          return redact(line);
        },
      },
    },
    destination ?? pino.destination({ fd: 1, sync: true }),
  );
}

/**
 * Keeps the default loggers at `telemetry.logs.level`, reloads included (`TANDEM_LOG_LEVEL`
 * wins when set). Returns how to stop following.
 */
function followLogLevel(facets: Partial<Facets>, loggers: readonly Logger[]): (() => void) | undefined {
  const config = facets.config;
  if (config === undefined) return undefined;
  const apply = () => {
    const level = config.get<string>("telemetry.logs.level");
    if (level !== undefined) for (const logger of new Set(loggers)) logger.level = level;
  };
  apply();
  return config.onChange((change) => {
    if (change.changed.some((path) => path === "telemetry" || path.startsWith("telemetry.logs"))) apply();
  });
}

/** The env with the options written over it, so both go through the same validation. */
function overlay(options: RuntimeOptions): Record<string, string | undefined> {
  const env = { ...(options.env ?? process.env) };
  if (options.mode !== undefined) env.TANDEM_MODE = options.mode;
  if (options.sidecar !== undefined) env.TANDEM_SIDECAR = options.sidecar;
  if (options.token !== undefined) env.TANDEM_TOKEN = options.token;
  if (options.sidecarRequired !== undefined) env.TANDEM_SIDECAR_REQUIRED = String(options.sidecarRequired);
  if (options.configPath !== undefined) env.TANDEM_CONFIG = options.configPath;
  return env;
}

async function closeAll(instances: readonly ConcernInstance<Partial<Facets>>[]): Promise<void> {
  for (const instance of [...instances].reverse()) await instance.close?.();
}
