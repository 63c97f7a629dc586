// Faults in sidecar mode: the orders example under `tandem run` at ~300 req/s, its sidecar
// killed with SIGKILL mid-load. The app serves in-process while the sidecar is away, returns to
// it once `tandem run` has restarted it, and what it recorded meanwhile reaches the new one.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eventually } from "@tandem/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FAULT_LOAD,
  type OrdersFixture,
  type OrdersPod,
  type Outcome,
  openLoopLoad,
  p99BySecond,
  percentile,
  sample,
  scrape,
  startOrdersFixture,
  sumOf,
} from "./support/sidecar-faults.js";

const { rate: RATE, durationMs: DURATION_MS, faultAtMs: KILL_AT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS } = FAULT_LOAD;
/** The app's keep-alive connections to the sidecar (SidecarClient's default). */
const SIDECAR_CONNECTIONS = 128;

describe("the sidecar killed with SIGKILL under load (tandem run)", () => {
  let fixture: OrdersFixture;
  let inventory: OrdersFixture["inventory"];
  let receiver: OrdersFixture["receiver"];
  let dir: string;
  let pod: OrdersPod;
  let outcomes: Outcome[] = [];
  let killedAt = 0;
  let openAtKill = 0;
  let oldAdmin = "";
  let lastOldCreated = 0;
  const probes: { at: number; end: number; status: number; body: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    fixture = await startOrdersFixture();
    ({ inventory, receiver, dir, pod } = fixture);
  });

  afterAll(async () => {
    await fixture?.close();
  });

  it("keeps answering while the sidecar is killed and restarted", async () => {
    const [first] = pod.sidecars();
    expect(first).toBeDefined();
    const { pid, admin } = first as { pid: number; admin: string };
    oldAdmin = admin;
    const post = async (items: number) => {
      const at = Date.now();
      const res = await fetch(`${pod.url}/orders`, {
        method: "POST",
        body: JSON.stringify({
          customerId: "probe",
          items: Array.from({ length: items }, (_, i) => ({ sku: `s${i}` })),
        }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      probes.push({ at, end: Date.now(), status: res.status, body: (await res.json()) as Record<string, unknown> });
    };
    await post(1);
    expect(probes[0]?.status).toBe(201);

    // The old sidecar's count, read as often as the load lets it: the last read before the kill.
    let scraping = true;
    const scraper = (async () => {
      while (scraping) {
        const text = await scrape(oldAdmin);
        if (text !== undefined) lastOldCreated = sumOf(text, "orders_created_total");
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    const pending: Promise<void>[] = [];
    const load = openLoopLoad({
      url: pod.url,
      rate: RATE,
      durationMs: DURATION_MS,
      timeoutMs: REQUEST_TIMEOUT_MS,
      onTick: (elapsed) => {
        if (elapsed < KILL_AT_MS || killedAt !== 0) return;
        scraping = false;
        killedAt = Date.now();
        process.kill(pid, "SIGKILL");
        // While no sidecar runs: the last good config (app.maxItems 20) and flags (new-checkout off).
        pending.push(post(21), post(1));
      },
    });
    outcomes = await load;
    await Promise.all(pending);
    scraping = false;
    await scraper;
    openAtKill = outcomes.filter((o) => o.start <= killedAt && o.end >= killedAt).length;

    const failedAll = outcomes.filter((o) => o.status !== 201);
    const before = outcomes.filter((o) => o.end < killedAt);
    const after = outcomes.filter((o) => o.start > killedAt);
    const served = outcomes.filter((o) => o.status === 201).length;
    console.log(
      JSON.stringify({
        sent: outcomes.length,
        served,
        failed: failedAll.length,
        openAtKill,
        failedErrors: [...new Set(failedAll.map((f) => `${f.error}: ${f.detail}`))],
        slowestFailureMs: Math.max(0, ...failedAll.map((f) => f.end - f.start)),
        slowestMs: Math.max(...outcomes.map((o) => o.end - o.start)),
        p50BeforeKillMs: percentile(before, 0.5),
        p99BeforeKillMs: percentile(before, 0.99),
        p99AfterKillMs: percentile(after, 0.99),
        p99BySecondMs: p99BySecond(outcomes, DURATION_MS),
      }),
    );
    expect(killedAt).toBeGreaterThan(0);
    expect(outcomes).toHaveLength((RATE * DURATION_MS) / 1000);
    // No request hung: each ended within its bound, with an answer.
    expect(outcomes.filter((o) => o.status === 0)).toEqual([]);
    const failed = outcomes.filter((o) => o.status !== 201);
    // Only requests in flight on the killed hop may fail: at most one per keep-alive connection
    // of the app to the sidecar (SidecarClient's pool of 128), each at once with a clear error,
    // not after the 8 s (timeout.total + 5 s) that would call the hop hung.
    for (const f of failed) {
      expect(f.error).toBe("sidecar_unavailable");
      expect(f.detail).toMatch(/the sidecar hop failed/);
      expect(f.end).toBeGreaterThanOrEqual(killedAt);
      expect(f.end - killedAt).toBeLessThan(6000);
    }
    expect(failed.length).toBeLessThanOrEqual(SIDECAR_CONNECTIONS);
    // The example sends both upstream calls with an idempotency key, so a hop cut by the kill is
    // sent again (to the new sidecar, or in-process): none of its requests fail at all.
    expect(failed).toEqual([]);
    // During the outage: the last good config and flags.
    const [tooMany, one] = probes.slice(1);
    expect(tooMany).toMatchObject({ status: 422, body: { code: "too_many_items" } });
    expect(String(tooMany?.body.detail)).toContain("at most 20");
    expect(one).toMatchObject({ status: 201, body: { checkout: "classic" } });
  });

  it("returns to the restarted sidecar, and delivers what it counted meanwhile", async () => {
    const restarted = pod.sidecars()[1];
    expect(restarted).toBeDefined();
    const { admin, at: readyAt, pid } = restarted as { pid: number; admin: string; at: number };
    expect(admin).toBe(oldAdmin); // tandem run restarts it where it was
    // (The old sidecar's last hops, and the new one's first before its ready line is read here,
    // may fall inside the window too: only the in-process ones are counted.)
    const outage = inventory.hits.filter((h) => h.at > killedAt && h.at < readyAt && !h.viaSidecar);
    // The app served in-process while no sidecar ran...
    expect(outage.length).toBeGreaterThan(0);
    // ...and went back to the sidecar as soon as it was ready: after it, nothing in-process.
    const backAt = inventory.hits.find((h) => h.at >= readyAt && h.viaSidecar)?.at;
    expect(backAt).toBeDefined();
    const lastLocal = inventory.hits.filter((h) => h.at >= readyAt && !h.viaSidecar).at(-1)?.at;
    // The issue asks for 2 s; the bound leaves room for a shared machine (the figure is printed).
    expect((backAt as number) - readyAt).toBeLessThan(5000);
    expect(lastLocal === undefined || lastLocal - readyAt < 5000).toBe(true);

    // Counters recorded during the outage reach the new sidecar (the app keeps deltas until a
    // flush succeeds), and the fallback is counted there. An order started after the kill was
    // counted after it: only the new sidecar can have it.
    const createdTotal = outcomes.filter((o) => o.status === 201).length + 3; // + the probes' orders
    const createdInOutage = outcomes.filter((o) => o.status === 201 && o.start > killedAt && o.end < readyAt).length;
    const createdAfterKill = outcomes.filter((o) => o.status === 201 && o.start > killedAt).length;
    expect(createdAfterKill).toBeGreaterThan(0);
    let text = "";
    await eventually(async () => {
      text = (await scrape(admin)) ?? "";
      expect(sumOf(text, "orders_created_total")).toBeGreaterThanOrEqual(createdAfterKill);
    }, 10_000);
    const newCreated = sumOf(text, "orders_created_total");
    expect(sample(text, "tandem_sidecar_fallback_total")).toBeGreaterThan(0);

    // Spans of the orders served after the kill wait in the app and reach the collector through
    // the new sidecar; only those the old sidecar held (accepted, not yet forwarded) are lost.
    const afterKill = outcomes.filter((o) => o.status === 201 && o.start > killedAt).map((o) => o.traceId);
    const missing = () => {
      const seen = new Set(receiver.spans().map((span) => span.traceId));
      return afterKill.filter((id) => !seen.has(id));
    };
    await eventually(() => expect(missing()).toEqual([]), 20_000).catch(() => {});
    const seen = new Set(receiver.spans().map((span) => span.traceId));
    const servedBefore = outcomes.filter((o) => o.status === 201 && o.start <= killedAt);
    console.log(
      JSON.stringify({
        spansAfterKill: { orders: afterKill.length, atCollector: afterKill.length - missing().length },
        spansBeforeKill: {
          orders: servedBefore.length,
          atCollector: servedBefore.filter((o) => seen.has(o.traceId)).length,
        },
      }),
    );
    expect(missing()).toEqual([]);

    // The config and flags streams reconnected too: a flag flipped now reaches the app.
    const flags = join(dir, "flags.json");
    writeFileSync(flags, readFileSync(flags, "utf8").replace('"defaultVariant": "off"', '"defaultVariant": "on"'));
    await eventually(async () => {
      const res = await fetch(`${pod.url}/orders`, { method: "POST", body: JSON.stringify({ items: [{ sku: "a" }] }) });
      expect(((await res.json()) as { checkout: string }).checkout).toBe("new");
    }, 15_000);
    console.log(
      JSON.stringify({
        newSidecarPid: pid,
        restartedAfterMs: readyAt - killedAt,
        outageHits: outage.length,
        backToSidecarMs: (backAt as number) - readyAt,
        lastLocalAfterReadyMs: lastLocal === undefined ? null : lastLocal - readyAt,
        createdTotal,
        createdInOutage,
        createdAfterKill,
        oldSidecarLastRead: lastOldCreated,
        newSidecar: newCreated,
        fallbacks: sample(text, "tandem_sidecar_fallback_total"),
      }),
    );
  });
});
