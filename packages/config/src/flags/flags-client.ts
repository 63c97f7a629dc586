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
type Evaluate = (key: string, value: FlagValue, context?: EvaluationContext, options?: object) => Promise<unknown>;

const NO_METADATA = Object.freeze({});

/**
 * Makes `client`'s eight evaluation methods answer straight from `provider` while nothing would
 * run around the evaluation: no hook (global, on the client or given with the call; tandem's
 * provider has none), the domain still bound to `provider`, and a provider that is neither
 * starting nor failed. Then the answer is what the SDK's
 * `evaluate` would return, built the same way (the merged context, frozen; the same details
 * and error codes), without the hook contexts, generators and copies that cost it ~10 µs per
 * evaluation where flagd's evaluator takes well under one. Otherwise, and whenever the SDK's
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
  const direct = (
    type: FlagValueType,
    key: string,
    value: FlagValue,
    invocation: EvaluationContext | undefined,
    options: object | undefined,
  ): Details | undefined => {
    if (
      options !== undefined ||
      apiHooksAccessor().length > 0 ||
      client.getHooks().length > 0 ||
      providerAccessor() !== provider
    ) {
      return undefined;
    }
    const status = client.providerStatus;
    if (status === ProviderStatus.NOT_READY || status === ProviderStatus.FATAL) return undefined;
    const context = Object.freeze({
      ...apiContextAccessor(),
      ...transactionContextAccessor(),
      ...client.getContext(),
      ...invocation,
    });
    try {
      const resolution = provider.resolve(type, key, value, context, internals._logger as Logger);
      const flagMetadata = Object.freeze(resolution.flagMetadata ?? {});
      if (resolution.errorCode) {
        return failed(
          key,
          value,
          instantiateErrorByErrorCode(resolution.errorCode, resolution.errorMessage),
          flagMetadata,
        );
      }
      return { ...resolution, flagMetadata, flagKey: key };
    } catch (error) {
      return failed(key, value, error, NO_METADATA);
    }
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
    methods[valueMethod] = (key, value, context, options) => {
      const details = direct(type, key, value, context, options);
      return details === undefined
        ? sdkValue.call(client, key, value, context, options)
        : Promise.resolve(details.value);
    };
    methods[detailsMethod] = (key, value, context, options) => {
      const details = direct(type, key, value, context, options);
      return details === undefined ? sdkDetails.call(client, key, value, context, options) : Promise.resolve(details);
    };
  }
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
