import {
  type EvaluationContext,
  type FlagValue,
  type FlagValueType,
  type JsonValue,
  type Logger,
  OpenFeatureEventEmitter,
  type Provider,
  ProviderEvents,
  type ResolutionDetails,
  StandardResolutionReasons,
} from "@openfeature/server-sdk";
import type { FlagSet } from "./flag-definitions.js";

/**
 * The OpenFeature provider behind `rt.flags`, the same in both modes: it evaluates in-process
 * with flagd's evaluator over the definitions it is given (read from a file in library mode,
 * synced from the sidecar in sidecar mode), so no evaluation costs a round trip.
 */
export class TandemFlagProvider implements Provider {
  readonly metadata = { name: "tandem" } as const;
  readonly runsOn = "server" as const;
  readonly events = new OpenFeatureEventEmitter();
  #flags: FlagSet;

  constructor(flags: FlagSet) {
    this.#flags = flags;
  }

  /** Swaps in new definitions and announces the changed keys (CONFIGURATION_CHANGED). */
  update(flags: FlagSet, changed: readonly string[]): void {
    this.#flags = flags;
    if (changed.length > 0) this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: [...changed] });
  }

  /** Evaluations go on with the last good definitions; this only tells the application. */
  markStale(message: string): void {
    this.events.emit(ProviderEvents.Stale, { message });
  }

  markError(message: string): void {
    this.events.emit(ProviderEvents.Error, { message });
  }

  markReady(): void {
    this.events.emit(ProviderEvents.Ready);
  }

  resolveBooleanEvaluation(key: string, value: boolean, context: EvaluationContext, logger: Logger) {
    return Promise.resolve(this.resolve("boolean", key, value, context, logger));
  }

  resolveStringEvaluation(key: string, value: string, context: EvaluationContext, logger: Logger) {
    return Promise.resolve(this.resolve("string", key, value, context, logger));
  }

  resolveNumberEvaluation(key: string, value: number, context: EvaluationContext, logger: Logger) {
    return Promise.resolve(this.resolve("number", key, value, context, logger));
  }

  resolveObjectEvaluation<T extends JsonValue>(
    key: string,
    value: T,
    context: EvaluationContext,
    logger: Logger,
  ): Promise<ResolutionDetails<T>> {
    return Promise.resolve(this.resolve("object", key, value, context, logger));
  }

  /** The evaluation itself, synchronous (flagd's evaluator is): what the four methods above resolve to. */
  resolve<T extends FlagValue>(
    type: FlagValueType,
    key: string,
    value: T,
    context: EvaluationContext,
    logger: Logger,
  ): ResolutionDetails<T> {
    const core = this.#flags.core;
    let details: ResolutionDetails<FlagValue>;
    if (type === "boolean") details = core.resolveBooleanEvaluation(key, value as boolean, context, logger);
    else if (type === "string") details = core.resolveStringEvaluation(key, value as string, context, logger);
    else if (type === "number") details = core.resolveNumberEvaluation(key, value as number, context, logger);
    else details = core.resolveObjectEvaluation(key, value as JsonValue, context, logger);
    return this.#reason(key, details) as ResolutionDetails<T>;
  }

  #reason<T>(key: string, details: ResolutionDetails<T>): ResolutionDetails<T> {
    if (details.reason === StandardResolutionReasons.TARGETING_MATCH && this.#flags.split.has(key)) {
      details.reason = StandardResolutionReasons.SPLIT;
    }
    return details;
  }
}
