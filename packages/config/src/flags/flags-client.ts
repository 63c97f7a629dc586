import {
  type Client,
  type EvaluationContext,
  type EvaluationDetails,
  type FlagValue,
  type FlagValueType,
  type Hook,
  type Logger,
  OpenFeature,
  OpenFeatureAPI,
  ProviderStatus,
  type ResolutionDetails,
} from "@openfeature/server-sdk";
import { answerDetails, answerError, errorDetails, evaluateWithHooks, type HookedClient } from "./hooked-evaluation.js";
import type { TandemFlagProvider } from "./provider.js";

let domains = 0;

/**
 * Registers `provider` under a domain of its own and returns the OpenFeature client bound to
 * it, so tandem never replaces a provider the application set as its default. The client
 * evaluates without the SDK's evaluation machinery (see `evaluateDirectly`).
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

const EMPTY_CONTEXT: EvaluationContext = Object.freeze({});
const SDK = 0;
const HOOKED = 1;
const DIRECT = 2;
type Route = typeof SDK | typeof HOOKED | typeof DIRECT;

/**
 * Makes `client`'s eight evaluation methods answer from `provider` themselves while the domain is
 * still bound to `provider` and the provider is neither starting nor failed. With no hook
 * (global, on the client or given with the call; tandem's provider has none) and no options the
 * answer is what the SDK's `evaluate` would return, built the same way (the same merged context,
 * details and error codes), without the hook contexts, generators and copies that cost it ~10 µs
 * per evaluation where flagd's evaluator takes well under one; a `get*Value` call builds no
 * details at all. With hooks, `evaluateWithHooks` runs them as the SDK does. Otherwise, and
 * whenever the SDK's client has not the fields read here, the SDK evaluates as usual. The client
 * object stays the SDK's own: hooks, handlers, context and logger are set on it as on any client.
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
  // Hooks are handed the SDK's own objects (errors, hook data): only when the global API is the
  // copy of the SDK tandem imports (an application that loaded another copy first, its CommonJS
  // build or another version, owns the global one) does tandem run them; else the SDK does.
  const hooksHere = OpenFeature instanceof OpenFeatureAPI;
  const hooked: HookedClient = {
    client,
    provider,
    currentProvider: providerAccessor,
    apiContext: apiContextAccessor,
    apiHooks: apiHooksAccessor,
    transactionContext: transactionContextAccessor,
    logger: () => internals._logger as Logger,
  };
  // Who evaluates: the SDK (another provider bound, or one not ready), tandem with the hooks
  // (a hook registered anywhere, or options given with the call), or tandem straight through.
  const route = (options: object | undefined): Route => {
    if (providerAccessor() !== provider) return SDK;
    const status = client.providerStatus;
    if (status === ProviderStatus.NOT_READY || status === ProviderStatus.FATAL) return SDK;
    if (
      options === undefined &&
      apiHooksAccessor().length === 0 &&
      client.getHooks().length === 0 &&
      !((provider as { hooks?: unknown[] }).hooks?.length ?? 0)
    ) {
      return DIRECT;
    }
    return hooksHere ? HOOKED : SDK;
  };
  // The provider's answer with the contexts merged, as the SDK would hand it over.
  const resolve = (type: FlagValueType, key: string, value: FlagValue, invocation: EvaluationContext | undefined) =>
    provider.resolve(
      type,
      key,
      value,
      merged(apiContextAccessor(), transactionContextAccessor(), client.getContext(), invocation),
      internals._logger as Logger,
    );
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
      const way = route(options);
      if (way === SDK) return sdkValue.call(client, key, value, context, options);
      if (way === HOOKED) return evaluateWithHooks(hooked, type, key, value, context, options).then(answerValue);
      let resolution: Resolution;
      try {
        resolution = resolve(type, key, value, context);
      } catch {
        return Promise.resolve(value);
      }
      return Promise.resolve(resolution.errorCode ? value : resolution.value);
    };
    methods[detailsMethod] = (key, value, context, options) => {
      const way = route(options);
      if (way === SDK) return sdkDetails.call(client, key, value, context, options);
      if (way === HOOKED) return evaluateWithHooks(hooked, type, key, value, context, options);
      let resolution: Resolution;
      try {
        resolution = resolve(type, key, value, context);
      } catch (error) {
        return Promise.resolve(errorDetails(key, value, error, {}));
      }
      return Promise.resolve(details(key, value, resolution));
    };
  }
}

const answerValue = (details: Details): FlagValue => details.value;

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
  const answered = answerDetails(key, resolution);
  return answered.errorCode ? errorDetails(key, value, answerError(answered), answered.flagMetadata) : answered;
}
