import type { Counter, Metrics } from "@tandem/core";

/** The one metric every bounded telemetry buffer counts its losses in, by `signal`. */
export const TELEMETRY_DROPPED = {
  name: "tandem_telemetry_dropped_total",
  help: "Telemetry dropped because a bound was reached or an export failed for good, by signal.",
  labelNames: ["signal"],
} as const;

/** The `tandem_telemetry_dropped_total` counter of `metrics`, to be incremented with `{ signal }`. */
export function telemetryDropped(metrics: Metrics): Counter {
  return metrics.counter(TELEMETRY_DROPPED.name, {
    help: TELEMETRY_DROPPED.help,
    labelNames: TELEMETRY_DROPPED.labelNames,
  });
}
