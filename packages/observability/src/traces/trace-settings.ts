import type { Sampler } from "@opentelemetry/sdk-trace";
import type { Config } from "@tandem/core";
import { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, TraceIdRatioBasedSampler } from "./samplers.js";
import { type SamplerName, type TraceEnv, tracesUrl } from "./trace-env.js";

/** How spans are made and where they go, once the environment and the config file are both known. */
export interface TraceSettings {
  serviceName: string;
  sampler: Sampler;
  /** The full OTLP/HTTP traces URL; `undefined` when neither the environment nor the file sets one. */
  endpoint: string | undefined;
}

/**
 * Settles the trace settings: each `OTEL_*` variable wins over its `tandem.yaml` counterpart
 * (`service`, `telemetry.traces.sampler`, `.ratio`, `.export.otlp`), which wins over the
 * OpenTelemetry defaults.
 */
export function resolveTraceSettings(env: TraceEnv, config: Config | undefined): TraceSettings {
  const configured = config?.get<string>("telemetry.traces.export.otlp");
  return {
    serviceName:
      env.serviceName ??
      env.resourceAttributes["service.name"] ??
      config?.get<string>("service") ??
      `unknown_service:${process.argv0}`,
    sampler: createSampler(
      env.sampler ?? config?.get<SamplerName>("telemetry.traces.sampler") ?? "parentbased_always_on",
      env.samplerArg ?? config?.get<number>("telemetry.traces.ratio") ?? 1,
    ),
    endpoint: env.endpoint ?? (configured === undefined ? undefined : tracesUrl(configured)),
  };
}

/** The sampler an `OTEL_TRACES_SAMPLER` name stands for; `ratio` is used by the ratio samplers. */
function createSampler(name: SamplerName, ratio: number): Sampler {
  switch (name) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(ratio);
    case "parentbased_always_off":
      return new ParentBasedSampler(new AlwaysOffSampler());
    case "parentbased_traceidratio":
      return new ParentBasedSampler(new TraceIdRatioBasedSampler(ratio));
    default:
      return new ParentBasedSampler(new AlwaysOnSampler());
  }
}
