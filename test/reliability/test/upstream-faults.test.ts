import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, sidecarRuntime, startDnsServer, startSidecar } from "@tandem/testkit";
import { createRuntime, type Runtime } from "tandem";
import { ProxyAgent, request } from "undici";
import { afterAll, describe, expect, it } from "vitest";
import { openFds, type RawFault, sampleSum, startRawUpstream } from "./support/upstream-faults.js";

// Upstream faults, byte-level, against a real sidecar (forward proxy and rt.http through it) and
// an in-process runtime: each fault must end in a clear error within the upstream's timeouts,
// be counted, leave nothing open behind it, and not stop the next request from succeeding.

const ATTEMPT_MS = 800;
const TOTAL_MS = 1500;
/** Far above the timeouts, far below a hang: a fault that is not bounded fails this. */
const BOUND_MS = TOTAL_MS + 5000;
/** Faulted requests per fault and mode; the slow faults take a timeout each, so fewer of them. */
const ROUND = 200;
const SLOW_ROUND = 32;
/** Requests at once: several connections' worth, few enough for a shared two-core machine. */
const CONCURRENCY = 16;

const up = await startRawUpstream();
const dns = await startDnsServer("servfail");
const dir = mkdtempSync(join(tmpdir(), "tandem-upstream-faults-"));
const file = join(dir, "tandem.yaml");
writeFileSync(
  file,
  `upstreams:
  raw:
    endpoints: [${up.url}]
    loadBalancer: round-robin
    timeout: { attempt: ${ATTEMPT_MS}ms, total: ${TOTAL_MS}ms }
  named:
    dns: svc.test:${new URL(up.url).port}
    dnsResolvers: [${dns.address}]
    timeout: { attempt: ${ATTEMPT_MS}ms, total: ${TOTAL_MS}ms }
  lost:
    dns: lost.test:80
    dnsResolvers: [${dns.address}]
`,
);
const sidecar = await startSidecar({ config: file });
const remote = await sidecarRuntime(sidecar);
const local = await createRuntime({ mode: "library", configPath: file, env: {}, logDestination: { write() {} } });
const proxy = new ProxyAgent({ uri: sidecar.api, token: `Bearer ${sidecar.token}`, proxyTunnel: false });
afterAll(async () => {
  await proxy.close();
  await remote.close();
  await local.close();
  await sidecar.stop();
  await up.close();
  await dns.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Expected {
  /** The error arrives with the headers (`request`) or while the body is read (`body`). */
  phase: "request" | "body";
  code: string;
  /** `details.reason` of an `upstream_error`. */
  reason?: string;
  /** The metric that counts it, as [name, labels]. */
  metric: [string, Record<string, string>];
}

const host = new URL(up.url).host;
/** Attempts that failed before an answer, by the endpoint they went to. */
const duration = (errorType: string): Expected["metric"] => [
  "http_client_request_duration_seconds_count",
  { server_address: host, error_type: errorType },
];
/** Bodies that failed after the headers, by upstream. */
const bodyErrors = (reason: string): Expected["metric"] => [
  "tandem_upstream_body_errors_total",
  { upstream: "raw", reason },
];
const FAULTS: Record<Exclude<RawFault, "ok" | "ok-after-100ms">, Expected> = {
  "reset-mid-body": { phase: "body", code: "upstream_error", reason: "reset", metric: bodyErrors("reset") },
  "slow-headers": { phase: "request", code: "timeout", metric: duration("timeout") },
  "slow-body": { phase: "body", code: "timeout", metric: bodyErrors("timeout") },
  garbage: { phase: "request", code: "upstream_error", reason: "protocol", metric: duration("protocol") },
  "bad-status": {
    phase: "request",
    code: "upstream_error",
    reason: "protocol",
    metric: duration("protocol"),
  },
  "close-early": { phase: "request", code: "upstream_error", reason: "reset", metric: duration("reset") },
};

interface Outcome {
  ms: number;
  phase: "request" | "body" | "none";
  error?: { code?: string; message: string; details?: Record<string, unknown> };
}

/** One request and its whole body; what failed, where, and how long it took. */
async function send(rt: Runtime, upstream = "raw"): Promise<Outcome> {
  const started = performance.now();
  let phase: Outcome["phase"] = "request";
  try {
    const res = await rt.http.request(upstream, { path: "/fault" });
    phase = "body";
    await res.body.text();
    return { ms: performance.now() - started, phase: "none" };
  } catch (error) {
    return { ms: performance.now() - started, phase, error: error as Outcome["error"] };
  }
}

/** `count` requests, `CONCURRENCY` at a time. */
async function round(rt: Runtime, count: number, upstream = "raw"): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (let sent = 0; sent < count; sent += CONCURRENCY) {
    const batch = Array.from({ length: Math.min(CONCURRENCY, count - sent) }, () => send(rt, upstream));
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

async function metricsText(mode: "library" | "sidecar"): Promise<string> {
  if (mode === "library") return (await local.metrics.expose()).body;
  const res = await request(`${sidecar.admin}/metrics`);
  return res.body.text();
}

const apiPort = Number(new URL(sidecar.api).port);
/** Per mode: the runtime, and the descriptors of the process that runs the pipeline. */
const modes = [
  ["library", () => local, () => openFds("self")],
  ["sidecar", () => remote, () => openFds(sidecar.pid, apiPort)],
] as const;

/** Per fault and mode: the figures the report quotes. */
const observed: string[] = [];
afterAll(() => {
  console.log(`upstream faults:\n${observed.join("\n")}`);
});

describe.each(modes)("upstream faults [%s]", (mode, runtime, fds) => {
  it.each(Object.entries(FAULTS))(
    "%s: a clear error in bounded time, counted, nothing left open",
    async (fault, want) => {
      const rt = runtime();
      // The baseline: the hop to the sidecar warm (its connections stay), one connection per pool
      // to the upstream, as a service sees it between two bursts.
      up.set("ok-after-100ms");
      expect((await round(rt, CONCURRENCY)).every((o) => o.phase === "none")).toBe(true);
      up.set("ok");
      up.drop();
      await eventually(async () => {
        expect((await send(rt)).phase).toBe("none");
        expect(up.open).toBeGreaterThan(0);
      });
      const fdsBefore = fds();
      const openBefore = up.open;
      const counted = sampleSum(await metricsText(mode), ...want.metric);

      const count = fault.startsWith("slow") ? SLOW_ROUND : ROUND;
      up.set(fault as RawFault);
      const outcomes = await round(rt, count);
      up.set("ok");

      const slowest = Math.max(...outcomes.map((o) => o.ms));
      for (const o of outcomes) {
        expect(o.phase, `${fault}: ${o.error?.message}`).toBe(want.phase);
        expect(o.error?.code).toBe(want.code);
        expect(o.error?.message).toMatch(/^raw\b/);
        expect(o.error?.details?.upstream).toBe("raw");
        if (want.reason !== undefined) expect(o.error?.details?.reason).toBe(want.reason);
      }
      expect(slowest).toBeLessThan(BOUND_MS);

      // Counted once per faulted request, where the pipeline ran (the sidecar in sidecar mode).
      await eventually(async () => {
        expect(sampleSum(await metricsText(mode), ...want.metric) - counted).toBe(count);
      });

      // The fault cleared: the next request succeeds.
      const next = await rt.http.request("raw", { path: "/after" });
      expect(next.statusCode).toBe(200);
      expect(await next.body.json()).toEqual({ ok: true });

      // No leak: the process's descriptors and the connections the upstream sees go back down.
      let fdsAfter = 0;
      let openAfter = 0;
      await eventually(() => {
        fdsAfter = fds();
        openAfter = up.open;
        // One more idle keep-alive connection than before is the pool's to keep, not a leak: a
        // leak grows with the faulted requests (hundreds here), and so do descriptors.
        expect(openAfter).toBeLessThanOrEqual(openBefore + 1);
        expect(fdsAfter).toBeLessThanOrEqual(fdsBefore + 5);
      }, 10_000);
      const codes = new Set(
        outcomes.map((o) => `${o.error?.code}${o.error?.details?.reason ? `/${o.error.details.reason}` : ""}`),
      );
      observed.push(
        `${mode} ${fault} x${count}: ${[...codes].join(",")} in ${phaseLabel(want.phase)}, slowest ${Math.round(slowest)} ms, fds ${fdsBefore}->${fdsAfter}, upstream connections ${openBefore}->${openAfter}`,
      );
    },
  );
});

describe.each(modes)("DNS failing, then recovering [%s]", (mode, runtime, fds) => {
  it("fails fast and clearly while the name never resolved, serves once it does, and rides out a later outage", async () => {
    const rt = runtime();
    up.set("ok");
    dns.set("servfail");
    const failures = async () => sampleSum(await metricsText(mode), "tandem_dns_failures_total", { upstream: "named" });
    const failedBefore = await failures();
    // The hop to the sidecar warm, as in the rounds above: its connections are not the fault's.
    up.set("ok-after-100ms");
    await round(rt, CONCURRENCY);
    up.set("ok");
    const fdsBefore = fds();

    const outcomes = await round(rt, ROUND, "named");
    const slowest = Math.max(...outcomes.map((o) => o.ms));
    for (const o of outcomes) {
      expect(o.phase).toBe("request");
      expect(o.error?.code).toBe("upstream_error");
      expect(o.error?.message).toMatch(/^named: svc\.test could not be resolved \(ESERVFAIL\)/);
      expect(o.error?.details).toMatchObject({ upstream: "named", reason: "connect-error" });
    }
    expect(slowest).toBeLessThan(BOUND_MS);
    // Each failed resolution is counted; a failure is kept for a second, not asked again per request.
    const failed = (await failures()) - failedBefore;
    expect(failed).toBeGreaterThan(0);
    expect(failed).toBeLessThan(ROUND);

    // The name resolves again: requests are served within a retry interval or two.
    dns.set({ addresses: ["127.0.0.1"], ttl: 1 });
    const recovering = performance.now();
    await eventually(async () => expect((await send(rt, "named")).phase).toBe("none"), 10_000);
    const recoveredAfter = performance.now() - recovering;

    // The resolver fails again: the last good endpoints stay, past the 1 s TTL, while failures count up.
    dns.set("servfail");
    const during = await failures();
    const queries = dns.queries;
    const deadline = performance.now() + 2500;
    while (performance.now() < deadline) {
      expect((await send(rt, "named")).phase).toBe("none");
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(dns.queries).toBeGreaterThan(queries);
    await eventually(async () => expect(await failures()).toBeGreaterThan(during));

    let fdsAfter = 0;
    await eventually(() => {
      fdsAfter = fds();
      // Room for what recovery opens once (the endpoint's connection, the resolver's sockets);
      // a leak per failed request would be hundreds.
      expect(fdsAfter).toBeLessThanOrEqual(fdsBefore + 10);
    }, 10_000);
    observed.push(
      `${mode} dns servfail x${ROUND}: upstream_error "${outcomes[0]?.error?.message}", slowest ${Math.round(slowest)} ms, ${failed} failed resolutions counted; served again ${Math.round(recoveredAfter)} ms after the resolver recovered; fds ${fdsBefore}->${fdsAfter}`,
    );
  });
});

function phaseLabel(phase: Expected["phase"]): string {
  return phase === "request" ? "rt.http.request" : "res.body";
}

describe("the forward proxy, to a client that knows nothing of tandem", () => {
  it.each(Object.entries(FAULTS).filter(([, want]) => want.phase === "request"))(
    "%s: a problem+json naming the upstream",
    async (fault, want) => {
      up.set(fault as RawFault);
      const res = await request("http://raw/fault", { dispatcher: proxy });
      up.set("ok");
      expect(res.statusCode).toBe(want.code === "timeout" ? 504 : 502);
      expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      const problem = (await res.body.json()) as { code: string; detail: string; details: Record<string, unknown> };
      expect(problem.code).toBe(want.code);
      expect(problem.detail).toMatch(/^raw \(127\.0\.0\.1:\d+\)/);
      expect(problem.details.upstream).toBe("raw");
      const next = await request("http://raw/after", { dispatcher: proxy });
      expect(next.statusCode).toBe(200);
      await next.body.dump();
    },
  );

  it("a name that does not resolve: a problem+json naming the upstream", async () => {
    dns.set("servfail");
    const res = await request("http://lost/", { dispatcher: proxy });
    expect(res.statusCode).toBe(502);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    const problem = (await res.body.json()) as { code: string; detail: string; details: Record<string, unknown> };
    expect(problem).toMatchObject({ code: "upstream_error", details: { upstream: "lost", reason: "connect-error" } });
    expect(problem.detail).toBe("lost: lost.test could not be resolved (ESERVFAIL)");
  });

  it.each(Object.entries(FAULTS).filter(([, want]) => want.phase === "body"))(
    "%s: the body is cut off within the bound, never hangs",
    async (fault) => {
      up.set(fault as RawFault);
      const started = performance.now();
      const res = await request("http://raw/fault", { dispatcher: proxy });
      expect(res.statusCode).toBe(200);
      await expect(res.body.text()).rejects.toThrow();
      up.set("ok");
      expect(performance.now() - started).toBeLessThan(BOUND_MS);
    },
  );
});
