import { describe, expect, it } from "vitest";
import { ProcessMetrics } from "../src/process-metrics.js";

const OPENMETRICS = "application/openmetrics-text; version=1.0.0";

/** The samples of a text exposition as name{labels} -> value. */
function samples(body: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of body.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe("ProcessMetrics", () => {
  it("serves the process and runtime metrics, and the sidecar's state", async () => {
    const metrics = new ProcessMetrics("1.2.3");
    metrics.setReady(true);
    metrics.setInflight(3);
    const { contentType, body } = await metrics.expose(undefined);
    expect(contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
    const s = samples(body);
    expect(s.get("tandem_sidecar_ready")).toBe(1);
    expect(s.get("tandem_sidecar_inflight_requests")).toBe(3);
    expect(s.get(`tandem_build_info{version="1.2.3",node_version="${process.version}"}`)).toBe(1);
    expect(s.get("process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(s.get("process_resident_memory_bytes")).toBeGreaterThan(10 * 1024 * 1024);
    expect(s.get('nodejs_heap_space_size_used_bytes{space="old"}')).toBeGreaterThan(0);
    expect(s.get("nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);
    // promtool flags gauges named *_total; the per-type gauges carry the same numbers.
    expect(body).not.toMatch(/^nodejs_active_\w+_total/m);
    metrics.setReady(false);
    expect(samples((await metrics.expose(undefined)).body).get("tandem_sidecar_ready")).toBe(0);
  });

  it("counts garbage collections in a histogram by kind", async () => {
    const metrics = new ProcessMetrics("1.2.3");
    // Enough short-lived garbage for the young generation to be collected a few times.
    const ring: object[] = [];
    for (let i = 0; i < 2_000_000; i++) ring[i % 1000] = { i, text: String(i) };
    expect(ring).toHaveLength(1000);
    await new Promise((resolve) => setTimeout(resolve, 50)); // GC entries are delivered async
    const s = samples((await metrics.expose(undefined)).body);
    const count = s.get('nodejs_gc_duration_seconds_count{kind="minor"}') ?? 0;
    expect(count).toBeGreaterThan(0);
    expect(s.get('nodejs_gc_duration_seconds_bucket{le="+Inf",kind="minor"}')).toBe(count);
    const buckets = ["0.001", "0.01", "0.1", "1", "2", "5"].map(
      (le) => s.get(`nodejs_gc_duration_seconds_bucket{le="${le}",kind="minor"}`) as number,
    );
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    expect(s.get('nodejs_gc_duration_seconds_sum{kind="minor"}')).toBeGreaterThan(0);
  });

  it("samples the event-loop delay while requests come and a while after, and reports none when idle", async () => {
    const metrics = new ProcessMetrics("1.2.3", { sampleAfterRequestMs: 100 });
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const lag = async () => {
      const s = samples((await metrics.expose(undefined)).body);
      return { p50: s.get("nodejs_eventloop_lag_p50_seconds"), max: s.get("nodejs_eventloop_lag_max_seconds") };
    };
    // No request yet: nothing sampled, and no placeholder values of an empty histogram.
    await sleep(60);
    expect(await lag()).toEqual({ p50: 0, max: 0 });
    // A request: sampled every 10 ms, each sample the time between two turns of the timer.
    metrics.noteRequest();
    await sleep(60);
    const busy = await lag();
    expect(busy.p50).toBeGreaterThanOrEqual(0.009);
    expect(busy.max).toBeGreaterThanOrEqual(busy.p50 as number);
    // Still sampled while a request is in progress, however long it takes.
    metrics.setInflight(1);
    await sleep(300);
    expect((await lag()).p50).toBeGreaterThan(0);
    // Quiet for longer than sampleAfterRequestMs: sampling stops (polled: a busy machine runs
    // the timer late).
    metrics.setInflight(0);
    let after = await lag();
    for (let i = 0; i < 100 && (after.p50 !== 0 || after.max !== 0); i++) {
      await lag(); // the scrape resets the histogram
      await sleep(60);
      after = await lag();
    }
    expect(after).toEqual({ p50: 0, max: 0 });
  });

  it("does not count the idle gap as a delay when requests come again", async () => {
    const metrics = new ProcessMetrics("1.2.3", { sampleAfterRequestMs: 50 });
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    metrics.noteRequest();
    await sleep(40);
    // Stopped after 50 ms without requests; then 400 ms idle, with no scrape in between.
    await sleep(450);
    metrics.noteRequest();
    await sleep(40);
    const s = samples((await metrics.expose(undefined)).body);
    expect(s.get("nodejs_eventloop_lag_p50_seconds")).toBeGreaterThanOrEqual(0.009);
    expect(s.get("nodejs_eventloop_lag_max_seconds")).toBeLessThan(0.3);
  });

  it("serves the same families as OpenMetrics, counters named without _total, ending in # EOF", async () => {
    const metrics = new ProcessMetrics("1.2.3");
    const text = (await metrics.expose(undefined)).body;
    const om = await metrics.expose(OPENMETRICS);
    expect(om.contentType).toBe("application/openmetrics-text; version=1.0.0; charset=utf-8");
    expect(om.body).toMatch(/\n# EOF\n$/);
    expect(om.body).not.toContain("\n\n");
    expect(om.body).toContain("# TYPE process_cpu_seconds counter\nprocess_cpu_seconds_total ");
    const types = (body: string) => [...body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(types(om.body)).toEqual(types(text).map((t) => t.replace(/_total counter$/, " counter")));
  });
});
