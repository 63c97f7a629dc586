import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ConfigStore } from "@tandem/config";
import { DeadlineWheel, LocalHttp } from "@tandem/resilience";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";

const logger = pino({ level: "silent" });
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

/** An instance that answers 200 after `delayMs` (or 503 to every other request), counting the requests it gets. */
async function instance(delayMs: number, failEveryOther = false): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    req.resume();
    if (failEveryOther && requests % 2 === 0) res.statusCode = 503;
    const timer = setTimeout(() => res.end("ok"), delayMs);
    res.on("close", () => clearTimeout(timer));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  open.push({
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

function client(upstream: Record<string, unknown>): LocalHttp {
  const store = new ConfigStore({ upstreams: { svc: upstream } }, logger);
  const http = new LocalHttp(store, undefined, logger, new DeadlineWheel());
  open.push({ close: () => http.close() });
  return http;
}

/** Sends `count` requests one after another, each of which must succeed. */
async function sendOk(http: LocalHttp, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const res = await http.request("svc", { path: "/" });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
  }
}

describe("an endpoint that stalls", () => {
  it("is ejected after attempt timeouts in a row, as after 5xx answers", async () => {
    const stalled = await instance(2000);
    const fast = [await instance(0), await instance(0)];
    const http = client({
      endpoints: [stalled.url, ...fast.map((f) => f.url)],
      loadBalancer: "round-robin",
      timeout: { attempt: 100, total: 3000 },
      retry: { attempts: 3, backoff: { base: 1, max: 2 }, on: ["timeout"], budget: { ratio: 1, minPerSecond: 100 } },
      outlierDetection: { consecutive5xx: 2, baseEjection: 30_000, maxEjectionPercent: 50 },
    });
    await sendOk(http, 15);
    // Round robin would have sent it one first attempt in three (five); two timeouts eject it.
    expect(stalled.requests()).toBe(2);
  });

  it("is avoided by peak-EWMA once a hedge overtook it, though it never answered", async () => {
    const stalled = await instance(2000);
    const fast = await instance(0);
    const http = client({
      endpoints: [stalled.url, fast.url],
      loadBalancer: "peak-ewma",
      timeout: { attempt: 2500, total: 3000 },
      hedging: { after: 50, maxHedges: 1 },
    });
    await sendOk(http, 10);
    // Its first request was overtaken after 50 ms: it looks at least that slow from then on,
    // against a fast endpoint answering in a few ms.
    expect(stalled.requests()).toBeLessThanOrEqual(1);
    expect(fast.requests()).toBeGreaterThanOrEqual(10);
  });
});

describe("a hedge that overtakes an attempt", () => {
  it("counts as a gateway failure of the overtaken attempt's endpoint, toward its ejection", async () => {
    const stalled = await instance(2000);
    const fast = await instance(0);
    const http = client({
      endpoints: [stalled.url, fast.url],
      loadBalancer: "round-robin",
      timeout: { attempt: 2500, total: 3000 },
      hedging: { after: 50, maxHedges: 1 },
      outlierDetection: { consecutive5xx: 2, baseEjection: 30_000, maxEjectionPercent: 50 },
    });
    await sendOk(http, 10);
    // Round robin sends it every other first attempt; a hedge overtakes each, and two eject it.
    expect(stalled.requests()).toBe(2);
  });

  it("does not count against the endpoint of a hedge that joined late and lost the race", async () => {
    const slow = await instance(150);
    const slower = await instance(1000);
    const http = client({
      endpoints: [slow.url, slower.url],
      loadBalancer: "round-robin",
      timeout: { attempt: 2500, total: 3000 },
      hedging: { after: 50, maxHedges: 1 },
      outlierDetection: { consecutive5xx: 1, baseEjection: 30_000, maxEjectionPercent: 50 },
    });
    // The first request goes to `slow`, its hedge to `slower`, and `slow` answers first.
    await (await http.request("svc", { path: "/" })).body.dump();
    expect(slower.requests()).toBe(1);
    // Not ejected for losing that race: round robin sends it the next request's first attempt.
    await (await http.request("svc", { path: "/" })).body.dump();
    expect(slower.requests()).toBe(2);
  });
});

describe("an endpoint that fails every other request", () => {
  it("is ejected with failurePercentage, though it never fails twice in a row", async () => {
    const flaky = await instance(0, true);
    const good = [await instance(0), await instance(0)];
    const http = client({
      endpoints: [flaky.url, ...good.map((g) => g.url)],
      loadBalancer: "round-robin",
      timeout: { attempt: 1000, total: 3000 },
      retry: { attempts: 3, backoff: { base: 1, max: 2 }, on: [503], budget: { ratio: 1, minPerSecond: 100 } },
      outlierDetection: { consecutive5xx: 3, baseEjection: 30_000, failurePercentage: 50, minRequests: 6 },
    });
    for (let i = 0; i < 60; i++) {
      const res = await http.request("svc", { path: "/" });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
    // Three 503s in its first six requests eject it; round robin alone would send it about 20.
    expect(flaky.requests()).toBe(6);
  });
});

describe("a hedged request", () => {
  it("replaces an attempt that failed while another is still out, instead of waiting for the slow one", async () => {
    const stalled = await instance(2000);
    const good = await instance(0);
    const failing = await instance(0, true);
    // Round robin: the stalled one first, the hedge to the failing one (whose second answer is
    // a 503), and the replacement to the good one.
    await (await fetch(failing.url)).text();
    const http = client({
      endpoints: [stalled.url, good.url, failing.url],
      loadBalancer: "round-robin",
      timeout: { attempt: 1500, total: 3000 },
      // One attempt: no retry after the hedged round, so only the replacement can bring a 200.
      retry: { attempts: 1, on: [503] },
      hedging: { after: 50, maxHedges: 1 },
    });
    const res = await http.request("svc", { path: "/" });
    // Without the replacement the 503 would be held until the stalled attempt timed out, then returned.
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect([stalled.requests(), failing.requests(), good.requests()]).toEqual([1, 2, 1]);
  });
});
