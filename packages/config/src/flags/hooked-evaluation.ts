import {
  type Client,
  type EvaluationContext,
  type EvaluationDetails,
  type FlagValue,
  type FlagValueType,
  type Hook,
  type HookContext,
  type HookHints,
  instantiateErrorByErrorCode,
  type Logger,
  MapHookData,
  ProviderFatalError,
  ProviderNotReadyError,
  ProviderStatus,
  type ResolutionDetails,
  StandardResolutionReasons,
} from "@openfeature/server-sdk";
import { TandemFlagProvider } from "./provider.js";

type Details = EvaluationDetails<FlagValue>;
type Resolution = ResolutionDetails<FlagValue>;

/** What an evaluation with hooks reads of the SDK's client besides its public methods. */
export interface HookedClient {
  client: Client;
  /** tandem's provider: the one bound when the evaluation started. */
  provider: TandemFlagProvider;
  /** The provider bound now (the SDK's `_provider`), read again after the `before` hooks. */
  currentProvider: () => unknown;
  apiContext: () => EvaluationContext;
  apiHooks: () => Hook[];
  transactionContext: () => EvaluationContext;
  /** The client's logger (the SDK's `_logger`), read at each use as the SDK reads it. */
  logger: () => Logger;
}

type Resolver = (key: string, value: FlagValue, context: EvaluationContext, logger: Logger) => Promise<Resolution>;

/** tandem's provider's method the SDK would have picked for the type when the call began. */
const RESOLVERS: Record<FlagValueType, Resolver> = {
  boolean: TandemFlagProvider.prototype.resolveBooleanEvaluation as Resolver,
  string: TandemFlagProvider.prototype.resolveStringEvaluation as Resolver,
  number: TandemFlagProvider.prototype.resolveNumberEvaluation as Resolver,
  object: TandemFlagProvider.prototype.resolveObjectEvaluation as unknown as Resolver,
};

/** Evaluation options as the SDK reads them: hooks for this call and hints for them. */
interface Options {
  hooks?: Hook[];
  hookHints?: HookHints;
}

/**
 * One evaluation with hooks, step for step as the SDK's `evaluate` (OpenFeature specification,
 * section 4): `before` hooks in order (global, client, invocation), each able to add to the
 * context; the provider; then `after` (or `error`) and `finally` hooks in reverse order, each with
 * its own hook context and hook data; a throwing `after` hook turns the answer into the default
 * with its error; a throwing `error` or `finally` hook is logged and changes nothing. The same
 * hook contexts, details, error codes and log lines as the SDK's. What differs is only when it
 * waits: a hook that returns a promise is awaited, a hook that returns a value is not, where the
 * SDK awaits every step (a generator per stage, a promise per hook), which costs it ~10 µs per
 * evaluation. So hooks that return values all run before the call returns its promise, and two
 * evaluations started together run their hooks one after the other, not interleaved.
 */
export async function evaluateWithHooks(
  on: HookedClient,
  type: FlagValueType,
  key: string,
  defaultValue: FlagValue,
  invocation: EvaluationContext | undefined,
  options: Options = {},
): Promise<Details> {
  const { client, provider } = on;
  const hooks: Hook[] = [
    ...on.apiHooks(),
    ...(client.getHooks() as Hook[]),
    ...(options.hooks || []),
    ...((provider as { hooks?: Hook[] }).hooks || []),
  ];
  const reversed = [...hooks].reverse();
  // Not frozen yet: `before` hooks add to it, then it is frozen for the provider and later hooks.
  const context: EvaluationContext = {
    ...on.apiContext(),
    ...on.transactionContext(),
    ...client.getContext(),
    ...invocation,
  };
  // One per hook, in the order of `reversed`: the hook at `i` of `hooks` has the one at length - 1 - i.
  const hookContexts: HookContext[] = reversed.map(() =>
    Object.freeze({
      flagKey: key,
      defaultValue,
      flagValueType: type,
      clientMetadata: client.metadata,
      providerMetadata: provider.metadata,
      context,
      logger: on.logger(),
      hookData: new MapHookData(),
    }),
  );
  let details: Details;
  try {
    for (let i = 0; i < hooks.length; i++) {
      const hookContext = hookContexts[hooks.length - 1 - i] as HookContext;
      let added = hooks[i]?.before?.(hookContext, Object.freeze(options.hookHints));
      if (isThenable(added)) added = await added;
      if (added) Object.assign(context, added);
    }
    Object.freeze(context);
    // A provider may have failed while a hook waited.
    const status = client.providerStatus;
    if (status === ProviderStatus.NOT_READY) throw new ProviderNotReadyError("provider has not yet initialized");
    if (status === ProviderStatus.FATAL) throw new ProviderFatalError("provider is in an irrecoverable error state");
    // Rebound while a hook waited: the SDK calls the resolver it picked with the provider bound now.
    const current = on.currentProvider();
    const resolution =
      current === provider
        ? provider.resolve(type, key, defaultValue, context, on.logger())
        : await RESOLVERS[type].call(current as TandemFlagProvider, key, defaultValue, context, on.logger());
    const answered = answerDetails(key, resolution);
    if (answered.errorCode) {
      const error = answerError(answered);
      await runLogged(reversed, "error", hookContexts, error, options.hookHints, on.logger);
      details = errorDetails(key, defaultValue, error, answered.flagMetadata);
    } else {
      for (let i = 0; i < reversed.length; i++) {
        const done = reversed[i]?.after?.(hookContexts[i] as HookContext, answered, options.hookHints);
        if (isThenable(done)) await done;
      }
      details = answered;
    }
  } catch (error) {
    await runLogged(reversed, "error", hookContexts, error, options.hookHints, on.logger);
    details = errorDetails(key, defaultValue, error, {});
  }
  await runLogged(reversed, "finally", hookContexts, details, options.hookHints, on.logger);
  return details;
}

/**
 * The `error` or `finally` hooks, each in turn; what one throws is logged as the SDK logs it and
 * the next runs. Resolves at once when none returns a promise.
 */
async function runLogged(
  hooks: Hook[],
  stage: "error" | "finally",
  hookContexts: HookContext[],
  argument: unknown,
  hints: HookHints | undefined,
  logger: () => Logger,
): Promise<void> {
  for (let i = 0; i < hooks.length; i++) {
    try {
      const hook = hooks[i];
      const context = hookContexts[i] as HookContext;
      const done =
        stage === "error"
          ? hook?.error?.(context, argument, hints)
          : hook?.finally?.(context, argument as Details, hints);
      if (isThenable(done)) await done;
    } catch (error) {
      logger().error(`Unhandled error during '${stage}' hook: ${error}`);
      if (error instanceof Error) logger().error(error.stack);
      logger().error((error as { stack?: unknown } | undefined)?.stack);
    }
  }
}

/** The provider's answer as the SDK's details: its flag metadata frozen, the flag's key added. */
export function answerDetails(key: string, resolution: Resolution): Details {
  return { ...resolution, flagMetadata: Object.freeze(resolution.flagMetadata ?? {}), flagKey: key };
}

/** The error an answer with an error code stands for, as the SDK makes it. */
export function answerError(answered: Details): Error {
  return instantiateErrorByErrorCode(answered.errorCode as NonNullable<Details["errorCode"]>, answered.errorMessage);
}

/** The SDK's details of a failed evaluation: the caller's default, `ERROR`, the error's code. */
export function errorDetails(key: string, value: FlagValue, error: unknown, flagMetadata: Readonly<object>): Details {
  const e = error as { code?: string; message?: string } | undefined;
  return {
    errorCode: (e?.code || "GENERAL") as Details["errorCode"],
    errorMessage: e?.message,
    value,
    reason: StandardResolutionReasons.ERROR,
    flagMetadata: Object.freeze(flagMetadata) as Details["flagMetadata"],
    flagKey: key,
  };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === "function";
}
