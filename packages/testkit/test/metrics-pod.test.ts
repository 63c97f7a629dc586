import { spawnSync } from "node:child_process";
import {
  eventually,
  type StartedSidecar,
  samples,
  sidecarRuntime,
  spawnSidecarApp,
  startSidecar,
} from "@tandem/testkit";
import { describe, expect, it } from "vitest";

async function scrape(admin: string, accept?: string): Promise<string> {
  return (await fetch(`${admin}/metrics`, accept === undefined ? {} : { headers: { accept } })).text();
}

/** Runs a real Node process that records `n` increments through the sidecar, then closes. */
function recorder(sidecar: StartedSidecar, n: number): Promise<number | null> {
  const child = spawnSidecarApp(
    sidecar,
    `const c = rt.metrics.counter("pod_jobs_total", { help: "Jobs.", labelNames: ["kind"] });
    for (let i = 0; i < ${n}; i++) c.inc({ kind: "email" });
    rt.metrics.gauge("pod_workers", { help: "Workers." }).set(undefined, 2);
    await rt.close();`,
  );
  return new Promise((resolve) => child.on("exit", resolve));
}

describe("one /metrics per pod", () => {
  it("sums a counter two processes write through one sidecar, and combines their gauges", async () => {
    const sidecar = await startSidecar();
    const codes = await Promise.all([recorder(sidecar, 300), recorder(sidecar, 200)]);
    expect(codes).toEqual([0, 0]);
    const text = await scrape(sidecar.admin);
    expect(samples(text, "pod_jobs_total")).toEqual(['pod_jobs_total{kind="email"} 500']);
    // Gauges add up across processes by default, as prom-client's cluster mode does.
    expect(samples(text, "pod_workers")).toEqual(["pod_workers 4"]);
    await sidecar.stop();
  });

  it("keeps counts recorded while the sidecar was away and delivers them when it is back", async () => {
    const first = await startSidecar();
    const rt = await sidecarRuntime(first);
    const c = rt.metrics.counter("outage_events_total", { help: "Events." });
    c.inc(undefined, 10);
    await eventually(async () =>
      expect(samples(await scrape(first.admin), "outage_events_total")).toEqual(["outage_events_total 10"]),
    );
    first.kill("SIGKILL");
    await first.exited;
    // Recording never waits on the sidecar.
    for (let i = 0; i < 25; i++) c.inc();
    await new Promise((r) => setTimeout(r, 1500));
    const second = await startSidecar({ listen: new URL(first.api).host, token: first.token as string });
    await eventually(async () =>
      expect(samples(await scrape(second.admin), "outage_events_total")).toEqual(["outage_events_total 25"]),
    );
    await rt.close();
    await second.stop();
  });

  it("drops and counts a batch the sidecar refuses, and later metrics still arrive", async () => {
    const sidecar = await startSidecar();
    const rt = await sidecarRuntime(sidecar);
    rt.metrics.counter("huge_labels_total", { labelNames: ["k"] }).inc({ k: "x".repeat(5000) });
    await rt.metrics.expose();
    rt.metrics.counter("after_total").inc();
    const text = (await rt.metrics.expose()).body;
    expect(samples(text, "after_total")).toEqual(["after_total 1"]);
    expect(samples(text, "tandem_telemetry_dropped_total")).toEqual([
      'tandem_telemetry_dropped_total{signal="metrics"} 1',
    ]);
    await rt.close();
    await sidecar.stop();
  });

  it("serves the sidecar's own metrics and the pod's in one scrape that promtool accepts", async (ctx) => {
    if (spawnSync("promtool", ["--version"]).error !== undefined)
      ctx.skip("promtool is not installed (Debian package prometheus)");
    const sidecar = await startSidecar();
    await recorder(sidecar, 3);
    const text = await scrape(sidecar.admin);
    expect(text).toContain("process_resident_memory_bytes");
    expect(text).toContain("tandem_config_generation 1");
    expect(samples(text, "pod_jobs_total")).toEqual(['pod_jobs_total{kind="email"} 3']);
    const check = spawnSync("promtool", ["check", "metrics"], { input: text });
    expect(check.stdout.toString() + check.stderr.toString()).toBe("");
    const om = await scrape(sidecar.admin, "application/openmetrics-text; version=1.0.0");
    expect(om.match(/# EOF/g)).toHaveLength(1);
    expect(om.endsWith("# EOF\n")).toBe(true);
    await sidecar.stop();
  });
});
