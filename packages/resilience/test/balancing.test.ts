import { Endpoint, LoadBalancer, OutlierDetector } from "@tandem/resilience";
import { afterAll, describe, expect, it } from "vitest";

const endpoints = [1, 2, 3, 4].map((n) => new Endpoint(`http://127.0.0.1:${9000 + n}`));
afterAll(() => Promise.all(endpoints.map((e) => e.close())));

describe("LoadBalancer", () => {
  it("round robin takes each endpoint in turn", () => {
    const lb = new LoadBalancer("round-robin");
    expect([0, 1, 2, 3, 4].map(() => lb.pick(endpoints, 0).address)).toEqual([
      "127.0.0.1:9001",
      "127.0.0.1:9002",
      "127.0.0.1:9003",
      "127.0.0.1:9004",
      "127.0.0.1:9001",
    ]);
  });

  it("least request picks the less busy of two random choices, never the busiest of all", () => {
    const lb = new LoadBalancer("least-request");
    for (const [i, e] of endpoints.entries()) e.active = i * 10;
    const picks = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const address = lb.pick(endpoints, 0).address;
      picks.set(address, (picks.get(address) ?? 0) + 1);
    }
    // With two choices the busiest endpoint can only win against itself, which P2C never draws.
    expect(picks.get("127.0.0.1:9004")).toBeUndefined();
    expect(picks.get("127.0.0.1:9001")).toBeGreaterThan(picks.get("127.0.0.1:9003") ?? 0);
    for (const e of endpoints) e.active = 0;
  });

  it("peak-EWMA avoids an endpoint whose latency spiked, and forgets the spike over time", () => {
    const lb = new LoadBalancer("peak-ewma");
    const [slow, ...fast] = endpoints as [Endpoint, ...Endpoint[]];
    slow.observe(500, 0);
    for (const e of fast) e.observe(5, 0);
    let slowPicks = 0;
    for (let i = 0; i < 1000; i++) if (lb.pick(endpoints, 0) === slow) slowPicks++;
    expect(slowPicks).toBe(0);
    // 60 s of fast answers later the peak has decayed.
    slow.observe(5, 60_000);
    expect(slow.cost(60_000)).toBeLessThan(10);
  });

  it("peak-EWMA tries an endpoint it avoided again once its spike has decayed, without an answer from it", () => {
    const lb = new LoadBalancer("peak-ewma");
    const [slow, ...fast] = endpoints as [Endpoint, ...Endpoint[]];
    slow.observe(2000, 1000);
    for (const e of fast) e.observe(5, 1000);
    const picksAt = (now: number) => {
      let n = 0;
      for (let i = 0; i < 1000; i++) if (lb.pick(endpoints, now) === slow) n++;
      return n;
    };
    expect(picksAt(1000)).toBe(0);
    // The others keep answering in 5 ms; nothing is heard from the slow one, which gets no
    // traffic. A minute later its spike has decayed below their 5 ms and it is tried again.
    for (const e of fast) e.observe(5, 70_000);
    expect(picksAt(70_000)).toBeGreaterThan(100);
  });
});

describe("OutlierDetector", () => {
  it("ejects after consecutive failures for longer each time, within the max percent, keeping one", () => {
    const ejected: number[] = [];
    const detector = new OutlierDetector(
      { consecutive5xx: 2, baseEjection: 1000, maxEjectionPercent: 50 },
      endpoints,
      (n) => ejected.push(n),
    );
    const [a, b, c] = endpoints as [Endpoint, Endpoint, Endpoint];
    detector.failure(a, 0);
    expect(detector.failure(a, 0)).toBe(true);
    expect(a.ejectedUntil).toBe(1000);
    expect(detector.failure(b, 0)).toBe(false);
    expect(detector.failure(b, 0)).toBe(true);
    // Two of four ejected is 50 %: a third would pass the bound.
    detector.failure(c, 0);
    expect(detector.failure(c, 0)).toBe(false);
    expect(detector.ejectedCount(500)).toBe(2);
    // a returns after its time, and a second ejection lasts twice as long.
    expect(detector.ejectedCount(1000)).toBe(0);
    detector.failure(a, 2000);
    detector.failure(a, 2000);
    expect(a.ejectedUntil).toBe(4000);
    expect(ejected).toEqual([1, 2, 1]);
  });

  it("a success resets the count of failures in a row", () => {
    const e = new Endpoint("http://127.0.0.1:9100");
    const detector = new OutlierDetector(
      { consecutive5xx: 2, baseEjection: 1000, maxEjectionPercent: 100 },
      [e, ...endpoints],
      () => {},
    );
    detector.failure(e, 0);
    detector.success(e, 0);
    expect(detector.failure(e, 0)).toBe(false);
    void e.close();
  });

  it("with failurePercentage, ejects an endpoint that fails every other request, never twice in a row", () => {
    const e = new Endpoint("http://127.0.0.1:9101");
    const detector = new OutlierDetector(
      { consecutive5xx: 5, baseEjection: 1000, maxEjectionPercent: 100, failurePercentage: 50, minRequests: 10 },
      [e, ...endpoints],
      () => {},
    );
    const ejectedAt: number[] = [];
    for (let i = 0; i < 10; i++) {
      if (i % 2 === 0) detector.success(e, i);
      else if (detector.failure(e, i)) ejectedAt.push(i);
    }
    // Five failures of ten requests: 50 %, once the window holds ten.
    expect(ejectedAt).toEqual([9]);
    expect(e.ejectedUntil).toBe(1009);
    void e.close();
  });

  it("with failurePercentage, judges only the rolling window, and only from minRequests on", () => {
    const e = new Endpoint("http://127.0.0.1:9102");
    const detector = new OutlierDetector(
      {
        consecutive5xx: 5,
        baseEjection: 1000,
        maxEjectionPercent: 50,
        failurePercentage: 50,
        minRequests: 10,
        window: 10_000,
      },
      [e, ...endpoints],
      () => {},
    );
    // Ten successes at 0 s; 20 s later they have left the window.
    for (let i = 0; i < 10; i++) detector.success(e, 0);
    const ejectedAt: number[] = [];
    for (let i = 0; i < 5; i++) {
      detector.success(e, 20_000);
      if (detector.failure(e, 20_000)) ejectedAt.push(i);
    }
    // Half fail from the first pair on, but it is judged only once ten requests are in the window
    // (with the old successes, 5 of 20 would be 25 %).
    expect(ejectedAt).toEqual([4]);
    void e.close();
  });

  it("without failurePercentage, a share of failures alone ejects nothing", () => {
    const e = new Endpoint("http://127.0.0.1:9103");
    const detector = new OutlierDetector(
      { consecutive5xx: 3, baseEjection: 1000, maxEjectionPercent: 50 },
      [e, ...endpoints],
      () => {},
    );
    for (let i = 0; i < 100; i++) {
      if (i % 2 === 0) detector.success(e, i);
      else expect(detector.failure(e, i)).toBe(false);
    }
    void e.close();
  });
});
