import { Endpoint, LoadBalancer, OutlierDetector } from "@tandem/resilience";
import { afterAll, describe, expect, it } from "vitest";

const endpoints = [1, 2, 3, 4].map((n) => new Endpoint(`http://127.0.0.1:${9000 + n}`));
const extra: Endpoint[] = [];
afterAll(() => Promise.all([...endpoints, ...extra].map((e) => e.close())));

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

  /** Fresh endpoints for a peak-EWMA test: their averages start from nothing. */
  function fresh(): Endpoint[] {
    const made = [1, 2, 3, 4].map((n) => new Endpoint(`http://127.0.0.1:${9100 + n}`));
    extra.push(...made);
    return made;
  }
  const picksOf = (lb: LoadBalancer, all: Endpoint[], which: Endpoint, now: number) => {
    let n = 0;
    for (let i = 0; i < 1000; i++) if (lb.pick(all, now) === which) n++;
    return n;
  };

  it("peak-EWMA avoids an endpoint after two slow answers in a row, and forgets the spike over time", () => {
    const lb = new LoadBalancer("peak-ewma");
    const all = fresh();
    const [slow, ...fast] = all as [Endpoint, ...Endpoint[]];
    for (const e of all) e.observe(5, 0);
    slow.observe(500, 10);
    slow.observe(500, 20);
    for (const e of fast) e.observe(5, 20);
    expect(picksOf(lb, all, slow, 20)).toBe(0);
    // 60 s of fast answers later the peak has decayed.
    slow.observe(5, 60_000);
    expect(slow.cost(60_000)).toBeLessThan(10);
  });

  it("peak-EWMA averages in a lone slow answer (a pause, a fresh connection) instead of taking it as the peak", () => {
    const lb = new LoadBalancer("peak-ewma");
    const all = fresh();
    const [paused, ...others] = all as [Endpoint, ...Endpoint[]];
    for (let t = 0; t <= 100; t += 10) for (const e of all) e.observe(t === 50 && e === paused ? 400 : 1, t);
    // One answer in 400 ms among 1 ms ones moves its average by well under a millisecond.
    expect(paused.cost(100)).toBeLessThan((others[0]?.cost(100) as number) * 2);
    expect(picksOf(lb, all, paused, 100)).toBeGreaterThan(100);
  });

  it("peak-EWMA leaves out an endpoint's first answer, which paid for the connection", () => {
    const lb = new LoadBalancer("peak-ewma");
    const all = fresh();
    const [first, ...others] = all as [Endpoint, ...Endpoint[]];
    // The process's first request: 20 ms of code running the first time, then 1 ms like the others.
    first.observe(20, 0);
    for (const e of others) e.observe(1, 0);
    for (const e of all) e.observe(1, 10);
    expect(picksOf(lb, all, first, 10)).toBeGreaterThan(100);
  });

  it("peak-EWMA avoids an endpoint whose attempts time out or are overtaken, without an answer from it", () => {
    const lb = new LoadBalancer("peak-ewma");
    const all = fresh();
    const [stalled, ...others] = all as [Endpoint, ...Endpoint[]];
    for (const e of all) {
      e.observe(1, 0);
      e.observe(1, 10);
    }
    // Overtaken by a hedge after 5 ms, twice in a row: it is at least that slow.
    stalled.observeAtLeast(5, 20);
    stalled.observeAtLeast(5, 30);
    for (const e of others) e.observe(1, 30);
    expect(picksOf(lb, all, stalled, 30)).toBe(0);
    // One that never answered at all is avoided from its first timeout.
    const [never, ...rest] = fresh() as [Endpoint, ...Endpoint[]];
    for (const e of rest) {
      e.observe(1, 0);
      e.observe(1, 10);
    }
    never.observeAtLeast(250, 10);
    expect(picksOf(lb, [never, ...rest], never, 10)).toBe(0);
  });

  it("peak-EWMA tries an endpoint it avoided again once its spike has decayed, without an answer from it", () => {
    const lb = new LoadBalancer("peak-ewma");
    const all = fresh();
    const [slow, ...fast] = all as [Endpoint, ...Endpoint[]];
    for (const e of all) e.observe(5, 0);
    slow.observe(2000, 500);
    slow.observe(2000, 1000);
    for (const e of fast) e.observe(5, 1000);
    expect(picksOf(lb, all, slow, 1000)).toBe(0);
    // The others keep answering in 5 ms; nothing is heard from the slow one, which gets no
    // traffic. A minute later its spike has decayed below their 5 ms and it is tried again.
    for (const e of fast) e.observe(5, 70_000);
    expect(picksOf(lb, all, slow, 70_000)).toBeGreaterThan(100);
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
