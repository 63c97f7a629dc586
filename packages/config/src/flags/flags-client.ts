import {
  type Client,
  ErrorCode,
  type EvaluationContext,
  type EvaluationDetails,
  type FlagValue,
  type FlagValueType,
  type Hook,
  instantiateErrorByErrorCode,
  type Logger,
  OpenFeature,
  ProviderStatus,
  type ResolutionDetails,
  StandardResolutionReasons,
} from "@openfeature/server-sdk";
import type { TandemFlagProvider } from "./provider.js";

let domains = 0;

/**
 * Registers `provider` under a domain of its own and returns the OpenFeature client bound to
 * it, so tandem never replaces a provider the application set as its default. The client
 * evaluates without the SDK's hook machinery while no hook is registered (see `evaluateDirectly`).
 */
export async function bindClient(provider: TandemFlagProvider): Promise<{ client: Client; domain: string }> {
  const domain = `tandem-${++domains}`;
  await OpenFeature.setProviderAndWait(domain, provider);
  const client = OpenFeature.getClient(domain);
  evaluateDirectly(client, provider);
  return { client, domain };
}

/** The parts of the SDK's client the direct evaluation reads (runtime fields of its client class). */
interface ClientInternals {
  providerAccessor?: () => unknown;
  apiContextAccessor?: () => EvaluationContext;
  apiHooksAccessor?: () => Hook[];
  transactionContextAccessor?: () => EvaluationContext;
  readonly _logger?: Logger;
}

type Details = EvaluationDetails<FlagValue>;
type Resolution = ResolutionDetails<FlagValue>;
type Evaluate = (key: string, value: FlagValue, context?: EvaluationContext, options?: object) => Promise<unknown>;

const NO_METADATA = Object.freeze({});
const EMPTY_CONTEXT: EvaluationContext = Object.freeze({});
const NOT_DIRECT = Symbol("not direct");

/**
 * Makes `client`'s eight evaluation methods answer straight from `provider` while nothing would
 * run around the evaluation: no hook (global, on the client or given with the call; tandem's
 * provider has none), the domain still bound to `provider`, and a provider that is neither
 * starting nor failed. Then the answer is what the SDK's
 * `evaluate` would return, built the same way (the same merged context, details and error codes),
 * without the hook contexts, generators and copies that cost it ~10 µs per evaluation where
 * flagd's evaluator takes well under one; a `get*Value` call builds no details at all. Otherwise, and whenever the SDK's
 * client has not the fields read here, the SDK evaluates as usual. The client object stays the
 * SDK's own: hooks, handlers, context and logger are set on it as on any client.
 */
function evaluateDirectly(client: Client, provider: TandemFlagProvider): void {
  const internals = client as unknown as ClientInternals;
  const { providerAccessor, apiContextAccessor, apiHooksAccessor, transactionContextAccessor } = internals;
  if (
    providerAccessor === undefined ||
    apiContextAccessor === undefined ||
    apiHooksAccessor === undefined ||
    transactionContextAccessor === undefined ||
    !("_logger" in internals)
  ) {
    return;
  }
  // What the SDK's `evaluate` would hand the provider, or NOT_DIRECT when the SDK must evaluate.
  const resolve = (
    type: FlagValueType,
    key: string,
    value: FlagValue,
    invocation: EvaluationContext | undefined,
    options: object | undefined,
  ): Resolution | typeof NOT_DIRECT => {
    if (
      options !== undefined ||
      apiHooksAccessor().length > 0 ||
      client.getHooks().length > 0 ||
      providerAccessor() !== provider
    ) {
      return NOT_DIRECT;
    }
    const status = client.providerStatus;
    if (status === ProviderStatus.NOT_READY || status === ProviderStatus.FATAL) return NOT_DIRECT;
    const context = merged(apiContextAccessor(), transactionContextAccessor(), client.getContext(), invocation);
    return provider.resolve(type, key, value, context, internals._logger as Logger);
  };
  const sdk = Object.getPrototypeOf(client) as Record<string, Evaluate>;
  const methods = client as unknown as Record<string, Evaluate>;
  for (const [type, name] of [
    ["boolean", "Boolean"],
    ["string", "String"],
    ["number", "Number"],
    ["object", "Object"],
  ] as const) {
    const valueMethod = `get${name}Value`;
    const detailsMethod = `get${name}Details`;
    const sdkValue = sdk[valueMethod] as Evaluate;
    const sdkDetails = sdk[detailsMethod] as Evaluate;
    // The value alone: no details object is built for it (the SDK builds one and reads `.value`).
    methods[valueMethod] = (key, value, context, options) => {
      let resolution: Resolution | typeof NOT_DIRECT;
      try {
        resolution = resolve(type, key, value, context, options);
      } catch {
        return Promise.resolve(value);
      }
      if (resolution === NOT_DIRECT) return sdkValue.call(client, key, value, context, options);
      return Promise.resolve(resolution.errorCode ? value : resolution.value);
    };
    methods[detailsMethod] = (key, value, context, options) => {
      let resolution: Resolution | typeof NOT_DIRECT;
      try {
        resolution = resolve(type, key, value, context, options);
      } catch (error) {
        return Promise.resolve(failed(key, value, error, NO_METADATA));
      }
      if (resolution === NOT_DIRECT) return sdkDetails.call(client, key, value, context, options);
      return Promise.resolve(details(key, value, resolution));
    };
  }
}

/**
 * The context the provider evaluates with: the global, transaction, client and invocation contexts
 * merged and frozen, as the SDK does. When the first three are empty (an application that passes
 * its context with each call) the invocation's own object, not a frozen copy: without hooks only
 * the provider sees it, and flagd's evaluator copies it before it adds its own properties.
 */
function merged(
  api: EvaluationContext,
  transaction: EvaluationContext,
  own: EvaluationContext,
  invocation: EvaluationContext | undefined,
): EvaluationContext {
  if (isEmpty(api) && isEmpty(transaction) && isEmpty(own)) return invocation ?? EMPTY_CONTEXT;
  return Object.freeze({ ...api, ...transaction, ...own, ...invocation });
}

/** No enumerable key: a spread of it would copy nothing. */
function isEmpty(context: EvaluationContext): boolean {
  for (const _ in context) return false;
  return true;
}

/** The SDK's details for an answer of the provider: its error as the SDK reports it, or the answer with its metadata frozen. */
function details(key: string, value: FlagValue, resolution: Resolution): Details {
  const flagMetadata = Object.freeze(resolution.flagMetadata ?? {});
  if (resolution.errorCode) {
    return failed(key, value, instantiateErrorByErrorCode(resolution.errorCode, resolution.errorMessage), flagMetadata);
  }
  return { ...resolution, flagMetadata, flagKey: key };
}

/** The SDK's details for a failed evaluation: the caller's default, `ERROR`, the error's code. */
function failed(key: string, value: FlagValue, error: unknown, flagMetadata: Readonly<object>): Details {
  const e = error as { code?: string; message?: string } | undefined;
  return {
    errorCode: (e?.code || ErrorCode.GENERAL) as ErrorCode,
    errorMessage: e?.message,
    value,
    reason: StandardResolutionReasons.ERROR,
    flagMetadata: flagMetadata as Details["flagMetadata"],
    flagKey: key,
  };
}
