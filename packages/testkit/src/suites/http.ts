import { AbortedError, CircuitOpenError, ConfigError, staticResponse, TandemError, TimeoutError } from "tandem";
import { expect, it } from "vitest";
import type { ConformanceContext } from "../conformance.js";
import type { FaultyUpstream } from "../fault-upstream.js";

/**
 * The config `httpSuite` expects: `payments` (with outlier detection) and `orders` (without)
 * over the three instances, `search` (hedged) over the first two, `ledger` (with a breaker)
 * over the third.
 */
export function httpConfig(upstream: FaultyUpstream): string {
  const [a, b, c] = upstream.instances.map((i) => i.url);
  return `upstreams:
  payments:
    endpoints: [${a}, ${b}, ${c}]
    loadBalancer: round-robin
    timeout: { attempt: 300ms, total: 5s }
    retry: { attempts: 3, backoff: { base: 1ms, max: 5ms }, on: [connect-error, reset, timeout, 502, 503, 504] }
    outlierDetection: { consecutive5xx: 2, baseEjection: 400ms, maxEjectionPercent: 50 }
  orders:
    endpoints: [${a}, ${b}, ${c}]
    loadBalancer: round-robin
    timeout: { attempt: 300ms, total: 5s }
    retry: { attempts: 3, backoff: { base: 1ms, max: 5ms }, on: [connect-error, reset, timeout, 502, 503, 504] }
  search:
    endpoints: [${a}, ${b}]
    loadBalancer: round-robin
    timeout: { attempt: 3s, total: 5s }
    hedging: { after: 50ms, maxHedges: 1 }
  capped:
    endpoints: [${a}, ${b}, ${c}]
    timeout: { attempt: 300ms, total: 5s }
    retry: { attempts: 3, backoff: { base: 1ms, max: 5ms }, on: [503], budget: { ratio: 0, minPerSecond: 0.1 } }
  patient:
    endpoints: [${a}]
    timeout: { attempt: 2s, total: 5s }
    retry: { attempts: 2, backoff: { base: 1ms, max: 5ms }, on: [503] }
  named:
    dns: localhost:${new URL(a as string).port}
    timeout: { attempt: 1s, total: 5s }
  nowhere:
    dns: no-such-host.invalid:80
  flaky:
    endpoints: [${b}]
    timeout: { attempt: 1s, total: 5s }
    circuitBreaker: { consecutiveFailures: 2, breakFor: 300ms, halfOpenProbes: 1 }
  ledger:
    endpoints: [${c}]
    timeout: { attempt: 1s, total: 5s }
    circuitBreaker: { consecutiveFailures: 3, breakFor: 30s }
`;
}

async function json(res: { statusCode: number; body: { json(): Promise<unknown>; text(): Promise<string> } }) {
  return res.statusCode === 200
    ? ((await res.body.json()) as { instance: number })
    : { status: res.statusCode, text: await res.body.text() };
}

/**
 * `rt.http` against the fault-injecting upstream: the same answers, retries, ejections,
 * breaker and errors in both modes.
 */
export function httpSuite(context: ConformanceContext, upstream: () => FaultyUpstream): void {
  const reset = () => {
    for (const i of upstream().instances) i.set({});
  };

  it("spreads requests over the endpoints and returns the answer as it came", async () => {
    reset();
    const seen = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const res = await context.runtime.http.request("payments", { path: "/charge", query: { n: i } });
      const body = (await json(res)) as { instance: number; path: string };
      expect(body.path).toBe(`/charge?n=${i}`);
      seen.add(body.instance);
    }
    expect([...seen].sort()).toEqual([0, 1, 2]);
  });

  it("retries a failing endpoint's 503 on a healthy one, and ejects it after two in a row", async () => {
    reset();
    const [bad] = upstream().instances;
    bad?.set({ rate: 1, status: 503 });
    for (let i = 0; i < 12; i++) {
      const res = await context.runtime.http.request("payments", { path: "/charge" });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
    // Ejected after its second 503: it saw at most two of the twelve.
    expect(bad?.requests).toBeLessThanOrEqual(2);
    // Its ejection ends; healed, it gets traffic again.
    bad?.set({});
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < 6; i++) await (await context.runtime.http.request("payments", { path: "/" })).body.dump();
    expect(bad?.requests).toBeGreaterThan(0);
  });

  it("does not retry a POST without an idempotency key, and does with one", async () => {
    reset();
    for (const i of upstream().instances) i.set({ rate: 1, status: 503 });
    const once = await context.runtime.http.request("orders", { method: "POST", path: "/charge", body: { amount: 5 } });
    expect(once.statusCode).toBe(503);
    await once.body.dump();
    expect(upstream().total()).toBe(1);
    const keyed = await context.runtime.http.request("orders", {
      method: "POST",
      path: "/charge",
      body: { amount: 5 },
      idempotencyKey: "order-42",
    });
    // Every endpoint failed: the last answer comes back, after three attempts.
    expect(keyed.statusCode).toBe(503);
    await keyed.body.dump();
    expect(upstream().total()).toBe(4);
    const lastHeaders = upstream().instances.map((i) => i.lastHeaders?.["idempotency-key"]);
    expect(lastHeaders).toContain("order-42");
  });

  it("retries a reset connection and a timeout on another endpoint", async () => {
    reset();
    const [first, second] = upstream().instances;
    first?.set({ rate: 1, reset: true });
    second?.set({ latencyMs: 2000 });
    for (let i = 0; i < 3; i++) {
      const res = await context.runtime.http.request("orders", { path: "/" });
      expect(res.statusCode).toBe(200);
      expect(((await res.body.json()) as { instance: number }).instance).toBe(2);
    }
  });

  it("fails with TimeoutError naming the upstream when no endpoint answers in time", async () => {
    reset();
    for (const i of upstream().instances) i.set({ latencyMs: 2000 });
    const error = (await context.runtime.http
      .request("ledger", { path: "/" })
      .catch((e: unknown) => e)) as TimeoutError;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.details).toMatchObject({ upstream: "ledger", bound: "attempt", timeoutMs: 1000 });
  });

  it("opens the breaker after consecutive failures and fails fast", async () => {
    reset();
    const ledger = upstream().instances[2];
    // A success first, so that earlier failures do not count towards the three in a row.
    await (await context.runtime.http.request("ledger", { path: "/" })).body.dump();
    ledger?.set({ rate: 1, status: 500 });
    for (let i = 0; i < 3; i++) await (await context.runtime.http.request("ledger", { path: "/" })).body.dump();
    const before = ledger?.requests;
    const error = await context.runtime.http.request("ledger", { path: "/" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(ledger?.requests).toBe(before);
  });

  it("aborting one call leaves the others running", async () => {
    reset();
    for (const i of upstream().instances) i.set({ latencyMs: 150 });
    const controller = new AbortController();
    const aborted = context.runtime.http
      .request("orders", { path: "/a", signal: controller.signal })
      .catch((e: unknown) => e);
    const others = [1, 2, 3].map((n) => context.runtime.http.request("orders", { path: `/b${n}` }));
    setTimeout(() => controller.abort(), 20);
    expect(await aborted).toBeInstanceOf(AbortedError);
    for (const res of await Promise.all(others)) {
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
  });

  it("hedges a slow idempotent request to another endpoint, and the first answer wins", async () => {
    reset();
    const [slow, fast] = upstream().instances;
    slow?.set({ latencyMs: 2000 });
    for (let i = 0; i < 2; i++) {
      const res = await context.runtime.http.request("search", { path: "/q" });
      expect(((await res.body.json()) as { instance: number }).instance).toBe(1);
    }
    expect(slow?.requests).toBe(1);
    expect(fast?.requests).toBe(2);
    const { body } = await context.runtime.metrics.expose();
    expect(body).toMatch(/tandem_hedges_total\{upstream="search"\} 1/);
  });

  it("serves undici's dispatcher API through the same pipeline", async () => {
    reset();
    const [bad] = upstream().instances;
    bad?.set({ rate: 1, status: 503 });
    const dispatcher = context.runtime.http.dispatcher("orders");
    for (let i = 0; i < 3; i++) {
      // The origin is ignored: the upstream decides where the request goes.
      const res = await dispatcher.request({ origin: "http://orders", path: `/d${i}`, method: "GET" });
      expect(res.statusCode).toBe(200);
      expect(((await res.body.json()) as { path: string }).path).toBe(`/d${i}`);
    }
  });

  it("caps retries with the retry budget, so an outage is not multiplied", async () => {
    reset();
    for (const i of upstream().instances) i.set({ rate: 1, status: 503 });
    for (let n = 0; n < 5; n++) {
      const res = await context.runtime.http.request("capped", { path: "/" });
      expect(res.statusCode).toBe(503);
      await res.body.dump();
    }
    // Five requests, and one retry in the budget (0.1 a second over ten seconds): six in all.
    expect(upstream().total()).toBe(6);
  });

  it("waits what Retry-After asks before retrying", async () => {
    reset();
    const [first] = upstream().instances;
    first?.set({ failFirst: 1, status: 503, retryAfter: "1" });
    const started = performance.now();
    const res = await context.runtime.http.request("patient", { path: "/" });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(first?.requests).toBe(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
  });

  it("fails a body that stalls past the attempt timeout instead of hanging", async () => {
    reset();
    for (const i of upstream().instances) i.set({ slowBodyMs: 3000 });
    const res = await context.runtime.http.request("orders", { path: "/slow" });
    expect(res.statusCode).toBe(200);
    const error = await res.body.text().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
  });

  it("fails a body with AbortedError naming the upstream when the caller aborts while it arrives", async () => {
    reset();
    for (const i of upstream().instances) i.set({ slowBodyMs: 3000 });
    const controller = new AbortController();
    const res = await context.runtime.http.request("patient", { path: "/half", signal: controller.signal });
    expect(res.statusCode).toBe(200);
    setTimeout(() => controller.abort(), 20);
    const error = await res.body.text().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as Error).message).toBe("patient: the request was aborted by the caller");
  });

  it("finds endpoints through DNS, and says plainly when a name does not resolve", async () => {
    reset();
    const res = await context.runtime.http.request("named", { path: "/dns" });
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as { instance: number }).instance).toBe(0);
    const error = (await context.runtime.http
      .request("nowhere", { path: "/" })
      .catch((e: unknown) => e)) as TandemError;
    expect(TandemError.is(error)).toBe(true);
    expect(error.code).toBe("upstream_error");
    expect(error.message).toContain("no-such-host.invalid could not be resolved");
  });

  it("half-opens the breaker after its break, and a good probe closes it", async () => {
    reset();
    const [, b] = upstream().instances;
    b?.set({ rate: 1, status: 500 });
    for (let i = 0; i < 2; i++) await (await context.runtime.http.request("flaky", { path: "/" })).body.dump();
    expect(await context.runtime.http.request("flaky", { path: "/" }).catch((e: unknown) => e)).toBeInstanceOf(
      CircuitOpenError,
    );
    b?.set({});
    await new Promise((r) => setTimeout(r, 350));
    const probe = await context.runtime.http.request("flaky", { path: "/probe" });
    expect(probe.statusCode).toBe(200);
    await probe.body.dump();
    // Closed again: requests flow.
    for (let i = 0; i < 3; i++)
      expect((await context.runtime.http.request("flaky", { path: "/" })).statusCode).toBe(200);
  });

  it("answers with the fallback when a request fails without an answer", async () => {
    reset();
    for (const i of upstream().instances) i.set({ latencyMs: 2000 });
    const res = await context.runtime.http.request("orders", {
      path: "/balance",
      fallback: (error) => staticResponse(200, { balance: "unknown", because: (error as TandemError).code }),
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual({ balance: "unknown", because: "timeout" });
  });

  it("names the upstreams there are when asked for one that is not", async () => {
    const error = (await context.runtime.http.request("nope", { path: "/" }).catch((e: unknown) => e)) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe(
      'no upstream named "nope" in the config; upstreams: payments, orders, search, capped, patient, named, nowhere, flaky, ledger',
    );
  });

  it("records every attempt in http_client_request_duration_seconds", async () => {
    const { body } = await context.runtime.metrics.expose();
    const address = new URL(upstream().instances[0]?.url as string).host;
    expect(body).toContain(
      `http_client_request_duration_seconds_count{http_request_method="GET",server_address="${address}",http_response_status_code="200"}`,
    );
    expect(body).toMatch(/tandem_retries_total\{upstream="payments"\} \d+/);
  });
}
