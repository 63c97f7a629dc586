import { parseKeyPairsIntoRecord } from "@opentelemetry/core";
import { ConfigError } from "@tandem/core";

/** The samplers `OTEL_TRACES_SAMPLER` and `telemetry.traces.sampler` name. */
export type SamplerName =
  | "always_on"
  | "always_off"
  | "traceidratio"
  | "parentbased_always_on"
  | "parentbased_always_off"
  | "parentbased_traceidratio";

const SAMPLERS: readonly SamplerName[] = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
];

/** The batch span processor's bounds (`OTEL_BSP_*`); unset ones keep the SDK's defaults. */
interface BatchEnv {
  scheduledDelayMillis?: number;
  exportTimeoutMillis?: number;
  maxQueueSize?: number;
  maxExportBatchSize?: number;
}

/**
 * What the standard `OTEL_*` variables say about traces, validated. The environment wins over
 * `tandem.yaml`, as the OpenTelemetry SDKs' own configuration does.
 */
export interface TraceEnv {
  /** `OTEL_SDK_DISABLED=true`: tandem sets up no tracing at all. */
  disabled: boolean;
  /** `OTEL_TRACES_EXPORTER=none`: spans are made (ids for logs, propagation) but never exported. */
  exporterNone: boolean;
  serviceName?: string;
  /** `OTEL_RESOURCE_ATTRIBUTES`. */
  resourceAttributes: Record<string, string>;
  sampler?: SamplerName;
  samplerArg?: number;
  /** The full traces URL: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`. */
  endpoint?: string;
  /** `OTEL_EXPORTER_OTLP_HEADERS` overlaid with `OTEL_EXPORTER_OTLP_TRACES_HEADERS`. */
  headers: Record<string, string>;
  /** Per export, retries included. Default 10 000 ms. */
  timeoutMs: number;
  compression: "gzip" | "none";
  batch: BatchEnv;
}

type Variables = Readonly<Record<string, string | undefined>>;

/**
 * Reads the `OTEL_*` variables that concern traces. A value that is not allowed throws a
 * `ConfigError` naming the variable, at start-up rather than at the first span.
 */
export function readTraceEnv(variables: Variables): TraceEnv {
  const get = (name: string) => {
    const value = variables[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const sampler = get("OTEL_TRACES_SAMPLER");
  if (sampler !== undefined && !(SAMPLERS as readonly string[]).includes(sampler)) {
    throw invalid("OTEL_TRACES_SAMPLER", sampler, SAMPLERS);
  }
  const exporter = get("OTEL_TRACES_EXPORTER");
  if (exporter !== undefined && exporter !== "otlp" && exporter !== "none") {
    throw invalid("OTEL_TRACES_EXPORTER", exporter, ["otlp", "none"]);
  }
  for (const name of ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]) {
    const protocol = get(name);
    if (protocol !== undefined && protocol !== "http/protobuf") throw invalid(name, protocol, ["http/protobuf"]);
  }
  const compression = get("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION") ?? get("OTEL_EXPORTER_OTLP_COMPRESSION") ?? "none";
  if (compression !== "gzip" && compression !== "none") {
    throw invalid("OTEL_EXPORTER_OTLP_COMPRESSION", compression, ["gzip", "none"]);
  }
  const arg = get("OTEL_TRACES_SAMPLER_ARG");
  const specific = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const base = get("OTEL_EXPORTER_OTLP_ENDPOINT");
  const endpoint =
    specific !== undefined
      ? httpUrl("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", specific)
      : base === undefined
        ? undefined
        : tracesUrl(httpUrl("OTEL_EXPORTER_OTLP_ENDPOINT", base));
  const env: TraceEnv = {
    disabled: get("OTEL_SDK_DISABLED")?.toLowerCase() === "true",
    exporterNone: exporter === "none",
    resourceAttributes: parseKeyPairsIntoRecord(get("OTEL_RESOURCE_ATTRIBUTES")),
    headers: {
      ...parseKeyPairsIntoRecord(get("OTEL_EXPORTER_OTLP_HEADERS")),
      ...parseKeyPairsIntoRecord(get("OTEL_EXPORTER_OTLP_TRACES_HEADERS")),
    },
    timeoutMs:
      positive("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")) ??
      positive("OTEL_EXPORTER_OTLP_TIMEOUT", get("OTEL_EXPORTER_OTLP_TIMEOUT")) ??
      10_000,
    compression,
    batch: {},
  };
  const serviceName = get("OTEL_SERVICE_NAME");
  if (serviceName !== undefined) env.serviceName = serviceName;
  if (sampler !== undefined) env.sampler = sampler as SamplerName;
  if (arg !== undefined) {
    const ratio = Number(arg);
    if (!(ratio >= 0 && ratio <= 1)) throw invalid("OTEL_TRACES_SAMPLER_ARG", arg, ["a number from 0 to 1"]);
    env.samplerArg = ratio;
  }
  if (endpoint !== undefined) env.endpoint = endpoint;
  const batch: [keyof BatchEnv, string][] = [
    ["scheduledDelayMillis", "OTEL_BSP_SCHEDULE_DELAY"],
    ["exportTimeoutMillis", "OTEL_BSP_EXPORT_TIMEOUT"],
    ["maxQueueSize", "OTEL_BSP_MAX_QUEUE_SIZE"],
    ["maxExportBatchSize", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"],
  ];
  for (const [key, name] of batch) {
    const value = positive(name, get(name));
    if (value !== undefined) env.batch[key] = value;
  }
  return env;
}

/** Appends the traces path to a base OTLP/HTTP endpoint, as `OTEL_EXPORTER_OTLP_ENDPOINT` is read. */
export function tracesUrl(base: string): string {
  return `${base.endsWith("/") ? base : `${base}/`}v1/traces`;
}

function httpUrl(variable: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(variable, value, ["an http:// or https:// URL"]);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalid(variable, value, ["an http:// or https:// URL"]);
  }
  return value;
}

function positive(variable: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw invalid(variable, value, ["a whole number above 0"]);
  return n;
}

function invalid(variable: string, value: string, allowed: readonly string[]): ConfigError {
  return new ConfigError(`${variable} is "${value}"; expected ${allowed.join(", ")}`, {
    details: { variable, value, allowed },
  });
}
