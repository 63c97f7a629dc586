import { type Context, isSpanContextValid, isValidTraceId, TraceFlags, trace } from "@opentelemetry/api";
import type { Sampler, SamplingResult } from "@opentelemetry/sdk-trace";

// The SDK's `SamplingDecision` values, which its tracer provider reads from `decision`.
const NOT_RECORD = 0;
const RECORD_AND_SAMPLED = 2;

const SAMPLED: SamplingResult = { decision: RECORD_AND_SAMPLED };
const DROPPED: SamplingResult = { decision: NOT_RECORD };

/*
 * The four samplers of `OTEL_TRACES_SAMPLER`, as the OpenTelemetry specification defines them and
 * the JS SDK implements them (the same decisions for the same trace ids). They are tandem's own so
 * that a process that exports no spans, which makes only their context, never loads the SDK.
 */

/** Samples every trace. */
export class AlwaysOnSampler implements Sampler {
  shouldSample(): SamplingResult {
    return SAMPLED;
  }

  toString(): string {
    return "AlwaysOnSampler";
  }
}

/** Samples no trace. */
export class AlwaysOffSampler implements Sampler {
  shouldSample(): SamplingResult {
    return DROPPED;
  }

  toString(): string {
    return "AlwaysOffSampler";
  }
}

/** Samples a fraction of traces, decided by the trace id alone, so every service decides alike. */
export class TraceIdRatioBasedSampler implements Sampler {
  readonly #ratio: number;
  readonly #upperBound: number;

  constructor(ratio: number) {
    this.#ratio = Number.isNaN(ratio) ? 0 : Math.min(1, Math.max(0, ratio));
    this.#upperBound = this.#ratio === 1 ? 2 ** 32 : Math.floor(this.#ratio * (2 ** 32 - 1));
  }

  shouldSample(_context: Context, traceId: string): SamplingResult {
    return isValidTraceId(traceId) && accumulate(traceId) < this.#upperBound ? SAMPLED : DROPPED;
  }

  toString(): string {
    return `TraceIdRatioBased{${this.#ratio}}`;
  }
}

/** The four 32-bit words of a trace id XORed together: what the ratio is compared with. */
function accumulate(traceId: string): number {
  let accumulation = 0;
  for (let i = 0; i < 32; i += 8) {
    accumulation = (accumulation ^ Number.parseInt(traceId.slice(i, i + 8), 16)) >>> 0;
  }
  return accumulation;
}

/** Follows the parent's decision, local or remote; a root span is decided by `root`. */
export class ParentBasedSampler implements Sampler {
  readonly #root: Sampler;

  constructor(root: Sampler) {
    this.#root = root;
  }

  shouldSample(...args: Parameters<Sampler["shouldSample"]>): SamplingResult {
    const parent = trace.getSpanContext(args[0]);
    if (parent === undefined || !isSpanContextValid(parent)) return this.#root.shouldSample(...args);
    return (parent.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? SAMPLED : DROPPED;
  }

  toString(): string {
    const root = this.#root.toString();
    return `ParentBased{root=${root}, remoteParentSampled=AlwaysOnSampler, remoteParentNotSampled=AlwaysOffSampler, localParentSampled=AlwaysOnSampler, localParentNotSampled=AlwaysOffSampler}`;
  }
}
