import { expect, it } from "vitest";
import type { ConformanceContext } from "../conformance.js";

/** The sample lines of one metric family in an exposition, sorted. */
export function samples(exposition: string, family: string): string[] {
  return exposition
    .split("\n")
    .filter((line) => line.startsWith(`${family}{`) || line.startsWith(`${family} `) || line.startsWith(`${family}_`))
    .sort();
}

/**
 * Metrics: the same instruments give the same names, labels and values in both modes, and bad
 * use fails the same way.
 */
export function metricsSuite(context: ConformanceContext): void {
  it("exposes what was recorded, with the same names, labels and values", async () => {
    const m = context.runtime.metrics;
    const orders = m.counter("conformance_orders_total", { help: "Orders.", labelNames: ["status"] });
    orders.inc({ status: "created" });
    orders.inc({ status: "created" }, 2);
    orders.inc({ status: "failed" });
    m.gauge("conformance_queue_depth", { help: "Queue." }).set(undefined, 7);
    const latency = m.histogram("conformance_latency_seconds", {
      help: "Latency.",
      labelNames: ["route"],
      buckets: [0.1, 1],
    });
    latency.observe({ route: "/orders" }, 0.05);
    latency.observe({ route: "/orders" }, 0.5);
    latency.observe({ route: "/orders" }, 5);
    const { body, contentType } = await m.expose();
    expect(contentType).toContain("text/plain; version=0.0.4");
    expect(samples(body, "conformance_orders_total")).toEqual([
      'conformance_orders_total{status="created"} 3',
      'conformance_orders_total{status="failed"} 1',
    ]);
    expect(samples(body, "conformance_queue_depth")).toEqual(["conformance_queue_depth 7"]);
    expect(samples(body, "conformance_latency_seconds")).toEqual([
      'conformance_latency_seconds_bucket{route="/orders",le="+Inf"} 3',
      'conformance_latency_seconds_bucket{route="/orders",le="0.1"} 1',
      'conformance_latency_seconds_bucket{route="/orders",le="1"} 2',
      'conformance_latency_seconds_count{route="/orders"} 3',
      'conformance_latency_seconds_sum{route="/orders"} 5.55',
    ]);
    expect(body).toContain("# HELP conformance_orders_total Orders.\n# TYPE conformance_orders_total counter\n");
  });

  it("serves OpenMetrics when asked", async () => {
    const { body, contentType } = await context.runtime.metrics.expose("application/openmetrics-text; version=1.0.0");
    expect(contentType).toContain("application/openmetrics-text");
    expect(body).toContain("# TYPE conformance_orders counter\n");
    expect(body.endsWith("# EOF\n")).toBe(true);
  });

  it("refuses an unknown label and a clashing declaration with the same error in both modes", () => {
    const m = context.runtime.metrics;
    expect(() => m.counter("conformance_orders_total", { labelNames: ["status"] }).inc({ region: "eu" })).toThrow(
      'metric conformance_orders_total has no label "region"; its labels are: status',
    );
    expect(() => m.gauge("conformance_orders_total")).toThrow(/already declared as a counter/);
  });
}
