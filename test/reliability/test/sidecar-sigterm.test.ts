// Faults in sidecar mode: the orders example under `tandem run` at ~300 req/s, its sidecar
// stopped with SIGTERM mid-load (as Kubernetes stops a container): it drains what is in
// flight, forwards the spans it holds, and exits 0; the app loses no request meanwhile.

import { eventually } from "@tandem/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FAULT_LOAD,
  type OrdersFixture,
  type OrdersPod,
  type Outcome,
  openLoopLoad,
  p99BySecond,
  scrape,
  startOrdersFixture,
  sumOf,
} from "./support/sidecar-faults.js";

const { rate: RATE, durationMs: DURATION_MS, faultAtMs: STOP_AT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS } = FAULT_LOAD;
/** `--drain-timeout` the pod's sidecar runs with (startOrdersPod). */
const DRAIN_TIMEOUT_MS = 5000;

describe("the sidecar stopped with SIGTERM under load (tandem run)", () => {
  let fixture: OrdersFixture;
  let receiver: OrdersFixture["receiver"];
  let pod: OrdersPod;
  let outcomes: Outcome[] = [];
  let stoppedAt = 0;

  beforeAll(async () => {
    fixture = await startOrdersFixture();
    ({ receiver, pod } = fixture);
  });

  afterAll(async () => {
    await fixture?.close();
  });

  it("drains: no request fails, the spans it holds are forwarded, it exits 0 within its drain time", async () => {
    const [first] = pod.sidecars();
    expect(first).toBeDefined();
    const { pid } = first as { pid: number };
    const mark = pod.lines.length;
    outcomes = await openLoopLoad({
      url: pod.url,
      rate: RATE,
      durationMs: DURATION_MS,
      timeoutMs: REQUEST_TIMEOUT_MS,
      onTick: (elapsed) => {
        if (elapsed < STOP_AT_MS || stoppedAt !== 0) return;
        stoppedAt = Date.now();
        process.kill(pid, "SIGTERM");
      },
    });
    const mine = (json: Record<string, unknown>) => json.pid === pid;
    const draining = await pod.waitForLine((j) => mine(j) && j.event === "draining", 1000, mark);
    const stopped = await pod.waitForLine((j) => mine(j) && j.event === "stopped", 1000, mark);
    const died = await pod.waitForLine((j) => j.event === "sidecar_died" && j.component === "tandem-run", 1000, mark);
    const failed = outcomes.filter((o) => o.status !== 201);
    console.log(
      JSON.stringify({
        sent: outcomes.length,
        failed: failed.length,
        failures: [...new Set(failed.map((f) => `${f.status} ${f.error}: ${f.detail}`))],
        p99BySecondMs: p99BySecond(outcomes, DURATION_MS),
        openAtSigterm: outcomes.filter((o) => o.start <= stoppedAt && o.end >= stoppedAt).length,
        sidecarInflightAtDrain: draining.json.inflight,
        drainMs: stopped.json.ms,
        drained: stopped.json.drained,
        abandoned: stopped.json.abandoned,
        exitAfterMs: died.at - stoppedAt,
        exit: { code: died.json.code, signal: died.json.signal },
      }),
    );
    expect(stoppedAt).toBeGreaterThan(0);
    expect(outcomes).toHaveLength((RATE * DURATION_MS) / 1000);
    expect(failed).toEqual([]);
    expect(draining.json.inflight as number).toBeGreaterThan(0);
    expect(stopped.json).toMatchObject({ drained: true, abandoned: 0 });
    expect(stopped.json.ms as number).toBeLessThan(DRAIN_TIMEOUT_MS);
    expect(died.json).toMatchObject({ code: 0, signal: null });
    expect(died.at - stoppedAt).toBeLessThan(DRAIN_TIMEOUT_MS + 5000);
  });

  it("loses no telemetry: every order's span reaches the collector, its count the restarted sidecar", async () => {
    const ok = outcomes.filter((o) => o.status === 201);
    expect(ok.length).toBeGreaterThan(0);
    const want = new Set(ok.map((o) => o.traceId));
    const missing = () => {
      const seen = new Set(receiver.spans().map((s) => s.traceId));
      return [...want].filter((id) => !seen.has(id));
    };
    await eventually(() => expect(missing()).toEqual([]), 20_000).catch(() => {});
    const lost = missing();
    const restarted = pod.sidecars()[1];
    expect(restarted).toBeDefined();
    const createdAfterStop = ok.filter((o) => o.start > stoppedAt).length;
    let created = 0;
    await eventually(async () => {
      created = sumOf((await scrape((restarted as { admin: string }).admin)) ?? "", "orders_created_total");
      expect(created).toBeGreaterThanOrEqual(createdAfterStop);
    }, 10_000);
    console.log(
      JSON.stringify({
        orders: ok.length,
        tracesAtCollector: want.size - lost.length,
        lostBeforeStop: lost.filter((id) => (ok.find((o) => o.traceId === id)?.end ?? 0) < stoppedAt).length,
        lost: lost.length,
        createdAfterStop,
        restartedSidecarCreated: created,
      }),
    );
    expect(lost).toEqual([]);
  });
});
