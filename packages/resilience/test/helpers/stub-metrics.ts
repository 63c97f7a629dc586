import type { Labels, Metrics } from "@tandem/core";
import { afterAll } from "vitest";

/** Metrics whose histograms report each observation to `observe`; counters and gauges do nothing. */
export function observingMetrics(observe: (labels: Labels, seconds: number) => void): Metrics {
  return {
    histogram: () => ({ observe }),
    counter: () => ({ inc: () => {} }),
    gauge: () => ({ set: () => {} }),
  } as unknown as Metrics;
}

/** A list of things to close: all closed after the file's tests. */
export function closedAfterAll(): { close(): Promise<void> }[] {
  const open: { close(): Promise<void> }[] = [];
  afterAll(async () => {
    await Promise.all(open.map((o) => o.close()));
  });
  return open;
}
