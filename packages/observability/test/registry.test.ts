import { spawnSync } from "node:child_process";
import { fixedLabels } from "@tandem/core";
import { MetricError, MetricRegistry, OVERFLOW_LABEL, PodMetrics } from "@tandem/observability";
import { describe, expect, it } from "vitest";

function errorOf(fn: () => unknown): MetricError {
  try {
    fn();
  } catch (error) {
    if (error instanceof MetricError) return error;
    throw error;
  }
  throw new Error("expected a MetricError");
}

describe("MetricRegistry", () => {
  it("refuses bad names, counters without _total and reserved labels, saying why", () => {
    const r = new MetricRegistry();
    expect(errorOf(() => r.counter("orders-created_total")).message).toContain(
      'metric name "orders-created_total" is invalid',
    );
    expect(errorOf(() => r.counter("orders_created")).message).toContain("must end in _total");
    expect(errorOf(() => r.gauge("queue_total")).message).toContain("must not end in _total");
    expect(errorOf(() => r.counter("a_total", { labelNames: ["__x"] })).message).toContain('label name "__x"');
    expect(errorOf(() => r.histogram("h_seconds", { labelNames: ["le"] })).message).toContain(
      "cannot have a label named le",
    );
    expect(errorOf(() => r.histogram("h_seconds", { buckets: [1, 0.5] })).message).toContain("strictly ascending");
  });

  it("returns the same instrument for the same declaration and refuses a clashing one", () => {
    const r = new MetricRegistry();
    r.counter("orders_total", { labelNames: ["status"] }).inc({ status: "ok" });
    r.counter("orders_total", { labelNames: ["status"] }).inc({ status: "ok" }, 2);
    expect(errorOf(() => r.gauge("orders_total")).message).toContain(
      "already declared as a counter with labels [status]",
    );
    expect(errorOf(() => r.counter("orders_total", { labelNames: ["code"] })).code).toBe("metric_invalid");
    const pod = new PodMetrics({ self: "p" });
    pod.apply({
      process: "x",
      families: [{ name: "orders_total", type: "counter", help: "h", labelNames: ["status"], series: [[["ok"], 3]] }],
    });
    expect(pod.text(false)).toContain('orders_total{status="ok"} 3');
  });

  it("names an unknown label and the labels there are", () => {
    const c = new MetricRegistry().counter("orders_total", { labelNames: ["status"] });
    const error = errorOf(() => c.inc({ status: "ok", region: "eu" }));
    expect(error.message).toBe('metric orders_total has no label "region"; its labels are: status');
  });

  it("keeps process_ and nodejs_ for runtime metrics, and refuses a per-process gauge with its own process label", () => {
    const r = new MetricRegistry();
    expect(errorOf(() => r.gauge("process_open_fds")).message).toContain("kept for runtime metrics");
    expect(
      errorOf(() => r.gauge("workers", { labelNames: ["process"], aggregation: "per-process" })).message,
    ).toContain('adds the label "process"');
  });

  it("treats a label given as undefined as absent", () => {
    const r = new MetricRegistry();
    const c = r.counter("orders_total", { labelNames: ["status"] });
    c.inc({ status: undefined as unknown as string });
    expect([...(r.families.get("orders_total")?.series.values() ?? [])]).toEqual([{ labels: [""], value: 1 }]);
  });

  it("records a fixedLabels object used again into its series, also after that series was removed", () => {
    let left = 1;
    const r = new MetricRegistry({ budget: { take: () => left-- > 0 } });
    const h = r.histogram("call_seconds", { labelNames: ["status"], buckets: [1] });
    const ok = fixedLabels({ status: 200 });
    expect(Object.isFrozen(ok)).toBe(true);
    expect(Object.keys(ok)).toEqual(["status"]);
    h.observe(ok, 0.5);
    h.observe(ok, 2);
    const family = r.families.get("call_seconds");
    expect([...(family?.series.values() ?? [])]).toEqual([{ labels: ["200"], counts: [1, 1], sum: 2.5, count: 2 }]);
    // Sidecar mode removes a series once its deltas are sent; the next observation starts a new one.
    family?.series.delete("200");
    left = 1;
    h.observe(ok, 0.25);
    expect([...(family?.series.values() ?? [])]).toEqual([{ labels: ["200"], counts: [1, 0], sum: 0.25, count: 1 }]);
    // Past the budget a value is recorded nowhere, and once there is room again it is recorded.
    family?.series.clear();
    h.observe(ok, 0.5);
    expect(family?.series.size).toBe(0);
    left = 1;
    h.observe(ok, 0.5);
    expect([...(family?.series.values() ?? [])]).toEqual([{ labels: ["200"], counts: [1, 0], sum: 0.5, count: 1 }]);
  });

  it("refuses to count down", () => {
    const c = new MetricRegistry().counter("orders_total");
    expect(errorOf(() => c.inc(undefined, -1)).message).toContain("cannot go down");
  });

  it("folds label sets past the cap into one overflow series instead of growing", () => {
    const r = new MetricRegistry({ maxSeriesPerMetric: 3 });
    const c = r.counter("requests_total", { labelNames: ["user"] });
    for (let i = 0; i < 10; i++) c.inc({ user: `u${i}` });
    const family = r.families.get("requests_total");
    expect(family?.series.size).toBe(4);
    expect(family?.overflowed).toBe(7);
    const overflow = [...(family?.series.values() ?? [])].find((s) => s.labels[0] === OVERFLOW_LABEL);
    expect(overflow).toMatchObject({ value: 7 });
    // And the folding is counted where an operator sees it.
    const counted = [...(r.families.get("tandem_metric_overflow_total")?.series.values() ?? [])];
    expect(counted).toEqual([{ labels: ["requests_total"], value: 7 }]);
  });
});

describe("PodMetrics", () => {
  it("adds counters and histograms of every process, and combines gauges as declared", () => {
    const pod = new PodMetrics({ self: "sidecar" });
    const family = (name: string, type: "counter" | "gauge" | "histogram", series: unknown[], extra = {}) => ({
      name,
      type,
      help: name,
      labelNames: ["route"],
      series,
      ...extra,
    });
    for (const [process, n] of [
      ["a", 2],
      ["b", 5],
    ] as const) {
      expect(
        pod.apply({
          process,
          families: [
            family("hits_total", "counter", [[["/x"], n]]),
            family("depth", "gauge", [[["/x"], n]]),
            family("peak", "gauge", [[["/x"], n]], { aggregation: "max" }),
            family("mem_bytes", "gauge", [[["/x"], n]], { aggregation: "per-process" }),
            family("latency_seconds", "histogram", [[["/x"], [1, 0, n], 0.5 + n, 1 + n]], { buckets: [0.1, 1] }),
          ] as never,
        }),
      ).toEqual([]);
    }
    const text = pod.text(false);
    expect(text).toContain('hits_total{route="/x"} 7');
    expect(text).toContain('depth{route="/x"} 7');
    expect(text).toContain('peak{route="/x"} 5');
    expect(text).toContain('mem_bytes{route="/x",process="a"} 2');
    expect(text).toContain('mem_bytes{route="/x",process="b"} 5');
    expect(text).toContain('latency_seconds_bucket{route="/x",le="0.1"} 2');
    expect(text).toContain('latency_seconds_bucket{route="/x",le="+Inf"} 9');
    expect(text).toContain('latency_seconds_count{route="/x"} 9');
  });

  it("drops the gauges of a process that stopped reporting", () => {
    const pod = new PodMetrics({ self: "sidecar", processTtlMs: 1000 });
    const batch = {
      name: "depth",
      type: "gauge" as const,
      help: "d",
      labelNames: [],
      series: [[[], 3]] as [string[], number][],
    };
    pod.apply({ process: "a", families: [batch] }, 0);
    pod.apply({ process: "b", families: [batch] }, 900);
    const depth = (now: number) => [...(pod.families(now).find((f) => f.definition.name === "depth")?.series ?? [])];
    expect(depth(1000)).toEqual([{ labels: [], value: 6 }]);
    // a has been silent for 1500 ms: only b still counts.
    expect(depth(1500)).toEqual([{ labels: [], value: 3 }]);
    expect(depth(2000)).toEqual([]);
  });

  it("refuses a whole malformed or clashing family, naming it, and applies the rest", () => {
    const pod = new PodMetrics({ self: "s" });
    const rejected = pod.apply({
      process: "a",
      families: [
        { name: "ok_total", type: "counter", help: "", labelNames: [], series: [[[], 1]] },
        {
          name: "neg_total",
          type: "counter",
          help: "",
          labelNames: [],
          series: [
            [[], 1],
            [[], -5],
          ],
        },
        { name: "wide_total", type: "counter", help: "", labelNames: ["a"], series: [[["x", "y"], 1]] },
        { name: "bad-name", type: "gauge", help: "", labelNames: [], series: [] },
      ],
    });
    expect(rejected.map((r) => r.name)).toEqual(["neg_total", "wide_total", "bad-name"]);
    const text = pod.text(false);
    expect(text).toContain("ok_total 1");
    expect(text).not.toContain("neg_total 1");
  });

  it("refuses new metrics past its cap of metric names, naming them, and keeps recording the ones it has", () => {
    const pod = new PodMetrics({ self: "s", maxFamilies: 3 });
    const counter = (name: string) => ({
      name,
      type: "counter" as const,
      help: "",
      labelNames: [],
      series: [[[], 1]] as [string[], number][],
    });
    const rejected = pod.apply({ process: "a", families: ["a_total", "b_total", "c_total", "d_total"].map(counter) });
    expect(rejected).toEqual([{ name: "d_total", reason: expect.stringContaining("the most it keeps") }]);
    expect(pod.apply({ process: "b", families: [counter("a_total"), counter("e_total")] }).map((r) => r.name)).toEqual([
      "e_total",
    ]);
    const text = pod.text(false);
    expect(text).toContain("a_total 2");
    expect(text).not.toContain("d_total");
    expect(pod.registry.families.size).toBe(3);
  });
});

describe("exposition", () => {
  it("passes promtool check metrics, escapes label values and help", (ctx) => {
    if (spawnSync("promtool", ["--version"]).error !== undefined)
      ctx.skip("promtool is not installed (Debian package prometheus)");
    const pod = new PodMetrics({ self: "s" });
    const m = pod.ownMetrics();
    m.counter("http_requests_total", { help: 'Requests "served"\nby route', labelNames: ["route", "code"] }).inc({
      route: '/a"b\\c\nd',
      code: 200,
    });
    m.gauge("queue_depth", { help: "Items waiting." }).set(undefined, 4);
    m.histogram("http_client_request_duration_seconds", { help: "Duration.", labelNames: ["server_address"] }).observe(
      { server_address: "payments" },
      0.03,
    );
    const text = pod.text(false);
    expect(text).toContain('route="/a\\"b\\\\c\\nd"');
    const check = spawnSync("promtool", ["check", "metrics"], { input: text });
    expect(check.stdout.toString() + check.stderr.toString()).toBe("");
    expect(check.status).toBe(0);
    const om = pod.expose("application/openmetrics-text");
    expect(om.body).toContain("# TYPE http_requests counter\n");
    expect(om.body).toContain("http_requests_total{");
    expect(om.body.endsWith("# EOF\n")).toBe(true);
  });
});
