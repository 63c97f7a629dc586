import { createNoopMeter, type Meter, type MeterProvider, type Counter as OtelCounter } from "@opentelemetry/api";
import type { Counter } from "@tandem/core";

/** The SDK's own count of processed spans; those with an `error.type` were lost. */
const PROCESSED = "otel.sdk.processor.span.processed";
const TRACES = { signal: "traces" } as const;

/**
 * A meter provider for the batch span processor's self-observability that turns the spans it
 * reports as lost (queue full, export failed) into `tandem_telemetry_dropped_total{signal="traces"}`.
 * Every other instrument it asks for is a no-op.
 */
export function droppedSpansMeterProvider(dropped: Counter): MeterProvider {
  const noop = createNoopMeter();
  const processed: OtelCounter = {
    add(value, attributes) {
      if (attributes?.["error.type"] !== undefined && value > 0) dropped.inc(TRACES, value);
    },
  };
  const meter: Meter = Object.create(noop);
  meter.createCounter = ((name: string, options) =>
    name === PROCESSED ? processed : noop.createCounter(name, options)) as Meter["createCounter"];
  return { getMeter: () => meter };
}
