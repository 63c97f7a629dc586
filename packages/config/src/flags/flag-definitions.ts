import type { FlagdCore } from "@openfeature/flagd-core";
import { ErrorCode, StandardResolutionReasons } from "@openfeature/server-sdk";
import { ConfigError } from "@tandem/core";

/*
 * Parses flag definitions in the flagd format (JSON, or YAML as flagd also reads) into a new
 * evaluator. Anything flagd would refuse is a `ConfigError` naming the source. flagd's evaluator
 * (with its JsonLogic engine) and the YAML parser are loaded at the first definitions that need
 * them: a process without flags never loads them.
 */

/** What the provider asks of an evaluator: flagd's, or `NO_FLAGS`. */
type FlagEvaluator = Pick<
  FlagdCore,
  | "getFlags"
  | "resolveBooleanEvaluation"
  | "resolveStringEvaluation"
  | "resolveNumberEvaluation"
  | "resolveObjectEvaluation"
>;

/** Parsed flag definitions: the evaluator and the flags whose targeting is a split. */
export interface FlagSet {
  core: FlagEvaluator;
  /** Flags whose targeting is a `fractional` split at the top (directly or through `$ref`). */
  split: ReadonlySet<string>;
  json: string;
}

/** Parses flag definitions; see `FlagSet`. */
export async function parseFlagDefinitions(text: string, source: string): Promise<FlagSet> {
  let json: string;
  try {
    json = source.endsWith(".json") ? text : JSON.stringify((await import("yaml")).parse(text));
    JSON.parse(json);
  } catch (error) {
    throw new ConfigError(
      `flag definitions ${source} are not valid ${source.endsWith(".json") ? "JSON" : "YAML"}: ${(error as Error).message.split("\n")[0]}`,
      {
        cause: error,
        details: { file: source },
      },
    );
  }
  const { FlagdCore } = await import("@openfeature/flagd-core");
  const core = new FlagdCore(undefined, silentLogger);
  try {
    core.setConfigurations(json);
  } catch (error) {
    throw new ConfigError(`flag definitions ${source} are invalid: ${(error as Error).message.split("\n")[0]}`, {
      cause: error,
      details: { file: source },
    });
  }
  return { core, json, split: splitFlags(JSON.parse(json)) };
}

/**
 * flagd reports a fractional split as TARGETING_MATCH; OpenFeature has SPLIT for it. A flag
 * whose whole targeting is a split is reported as SPLIT; a split nested in other logic stays
 * TARGETING_MATCH, since which branch decided is not visible from outside the evaluator.
 */
function splitFlags(definitions: {
  flags?: Record<string, { targeting?: unknown }>;
  $evaluators?: Record<string, unknown>;
}): Set<string> {
  const split = new Set<string>();
  for (const [key, flag] of Object.entries(definitions.flags ?? {})) {
    let targeting = flag.targeting as Record<string, unknown> | undefined;
    const ref = targeting?.$ref;
    if (typeof ref === "string") targeting = definitions.$evaluators?.[ref] as Record<string, unknown> | undefined;
    if (targeting !== undefined && targeting !== null && typeof targeting === "object" && "fractional" in targeting) {
      split.add(key);
    }
  }
  return split;
}

/** The keys whose definition differs between two sets of flags, sorted. */
export function changedFlagKeys(previous: FlagSet | undefined, next: FlagSet): string[] {
  const before = previous?.core.getFlags() ?? new Map();
  const after = next.core.getFlags();
  const changed = new Set<string>();
  for (const [key, flag] of after) {
    const old = before.get(key);
    if (old === undefined || old.hash !== flag.hash) changed.add(key);
  }
  for (const key of before.keys()) if (!after.has(key)) changed.add(key);
  return [...changed].sort();
}

// flagd-core logs targeting problems at warn; they surface as error codes in the evaluation
// details instead, so nothing is lost by keeping them out of the service's log.
const silentLogger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

/**
 * The evaluator of an empty set of definitions (`{"flags":{}}`), without loading flagd: every
 * key resolves as flagd resolves a key it does not know, to the default with FLAG_NOT_FOUND.
 */
const emptyEvaluator: FlagEvaluator = {
  getFlags: () => new Map(),
  resolveBooleanEvaluation: (key, value) => notFound(key, value),
  resolveStringEvaluation: (key, value) => notFound(key, value),
  resolveNumberEvaluation: (key, value) => notFound(key, value),
  resolveObjectEvaluation: (key, value) => notFound(key, value),
};

function notFound<T>(key: string, value: T) {
  return {
    value,
    reason: StandardResolutionReasons.ERROR,
    errorCode: ErrorCode.FLAG_NOT_FOUND,
    errorMessage: `flag '${key}' not found`,
    flagMetadata: {},
  };
}

/** No flag definitions at all: what a process without a flags source evaluates against. */
export const NO_FLAGS: FlagSet = { core: emptyEvaluator, split: new Set(), json: '{"flags":{}}' };
