import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, request as rawHttp } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { httpConfig, sidecarRuntime, spawnSidecarApp, startFaultyUpstream, startSidecar } from "@tandem/testkit";
import { CircuitOpenError } from "tandem";
import { ProxyAgent, request } from "undici";
import { afterAll, describe, expect, it } from "vitest";

const upstream = await startFaultyUpstream(3);
const file = join(mkdtempSync(join(tmpdir(), "tandem-proxy-")), "tandem.yaml");
writeFileSync(file, httpConfig(upstream));
const sidecar = await startSidecar({ config: file });
afterAll(async () => {
  await sidecar.stop();
  await upstream.close();
});

/** Sends a raw forward-proxy request line to the sidecar and returns the status. */
function proxied(target: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(sidecar.api);
  return new Promise((resolve, reject) => {
    const req = rawHttp({
      host: hostname,
      port,
      method: "GET",
      path: target,
      headers: { host: new URL(target).host, ...headers },
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the forward proxy", () => {
  const auth = () => ({ "proxy-authorization": `Bearer ${sidecar.token}` });

  it("serves an app that knows nothing of tandem, through a standard HTTP proxy client", async () => {
    const agent = new ProxyAgent({ uri: sidecar.api, token: `Bearer ${sidecar.token}`, proxyTunnel: false });
    const res = await request("http://payments/orders?x=1", { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toMatchObject({ method: "GET", path: "/orders?x=1" });
    expect(upstream.instances.some((i) => i.lastHeaders?.via === "1.1 tandem")).toBe(true);
    expect(upstream.instances.every((i) => i.lastHeaders?.["proxy-authorization"] === undefined)).toBe(true);
    await agent.close();
  });

  it("takes its token from Proxy-Authorization only, and passes the app's Authorization on", async () => {
    const res = await proxied("http://payments/", { ...auth(), authorization: "Bearer app-to-upstream" });
    expect(res.status).toBe(200);
    const seen = upstream.instances.map((i) => i.lastHeaders).find((h) => h?.authorization !== undefined);
    expect(seen?.authorization).toBe("Bearer app-to-upstream");
    expect(seen?.["proxy-authorization"]).toBeUndefined();
    // The sidecar's token in Authorization is not a proxy credential: it would reach the upstream.
    expect((await proxied("http://payments/", { authorization: `Bearer ${sidecar.token}` })).status).toBe(407);
  });

  it("keeps the headers a client's Connection header names from the upstream, and passes the others on", async () => {
    const res = await proxied("http://payments/", {
      ...auth(),
      connection: "keep-alive, X-Hop-Only , x-other-hop",
      "x-hop-only": "drop me",
      "x-other-hop": "drop me too",
      "x-end-to-end": "keep me",
    });
    expect(res.status).toBe(200);
    const seen = upstream.instances.map((i) => i.lastHeaders).find((h) => h?.["x-end-to-end"] !== undefined);
    expect(seen?.["x-end-to-end"]).toBe("keep me");
    expect(seen?.["x-hop-only"]).toBeUndefined();
    expect(seen?.["x-other-hop"]).toBeUndefined();
  });

  it("drops an upstream's x-tandem-error, so an upstream cannot pass for the sidecar", async () => {
    for (const i of upstream.instances) i.set({ headers: { "x-tandem-error": "config_invalid" } });
    const rt = await sidecarRuntime(sidecar);
    const res = await rt.http.request("payments", { path: "/" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["x-tandem-error"]).toBeUndefined();
    await res.body.dump();
    await rt.close();
    for (const i of upstream.instances) i.set({});
  });

  it("holds proxied bodies to the body limit, declared or streamed", async () => {
    const small = await startSidecar({ config: file, args: ["--max-body", "1kb"] });
    const agent = new ProxyAgent({ uri: small.api, token: `Bearer ${small.token}`, proxyTunnel: false });
    const declared = await request("http://payments/upload", {
      method: "PUT",
      body: "x".repeat(5000),
      dispatcher: agent,
    });
    expect(declared.statusCode).toBe(413);
    await declared.body.dump();
    async function* chunks() {
      for (let i = 0; i < 10; i++) yield Buffer.alloc(500, 120);
    }
    const streamed = await request("http://payments/upload", { method: "PUT", body: chunks(), dispatcher: agent }).then(
      async (r) => {
        await r.body.dump();
        return r.statusCode;
      },
      () => "connection closed",
    );
    expect([413, "connection closed"]).toContain(streamed);
    await agent.close();
    await small.stop();
  });

  it("gives up the upstream's request when its client goes away before the answer", async () => {
    // An upstream that never answers, telling when the sidecar's request to it is closed.
    let arrived!: () => void;
    let closed!: () => void;
    const upstreamSaw = {
      arrived: new Promise<void>((r) => (arrived = r)),
      closed: new Promise<void>((r) => (closed = r)),
    };
    const silent = createServer((req) => {
      arrived();
      req.socket.once("close", () => closed());
    });
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const dir = mkdtempSync(join(tmpdir(), "tandem-proxy-gone-"));
    writeFileSync(
      join(dir, "tandem.yaml"),
      `upstreams:\n  silent:\n    endpoints: [http://127.0.0.1:${(silent.address() as AddressInfo).port}]\n    timeout: { attempt: 30s, total: 30s }\n`,
    );
    const own = await startSidecar({ config: join(dir, "tandem.yaml") });
    try {
      const { hostname, port } = new URL(own.api);
      const client = rawHttp({
        host: hostname,
        port,
        path: "http://silent/",
        headers: { host: "silent", "proxy-authorization": `Bearer ${own.token}` },
      });
      client.on("error", () => {});
      client.end();
      await upstreamSaw.arrived;
      client.destroy();
      // Without the abort the sidecar would wait for this upstream for its 30 s timeout.
      const outcome = await Promise.race([
        upstreamSaw.closed.then(() => "closed"),
        new Promise((r) => setTimeout(() => r("still open after 5 s"), 5000)),
      ]);
      expect(outcome).toBe("closed");
    } finally {
      await own.stop();
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });

  it("asks for the token with 407", async () => {
    const res = await proxied("http://payments/");
    expect(res.status).toBe(407);
    expect(JSON.parse(res.body)).toMatchObject({ code: "proxy_auth_required" });
    expect((await proxied("http://payments/", { "proxy-authorization": "Bearer wrong" })).status).toBe(407);
  });

  it("reaches configured upstream names only: no other host, IP literal, port or loopback alias", async () => {
    const api = new URL(sidecar.api);
    for (const target of [
      "http://example.com/",
      "http://169.254.169.254/latest/meta-data/",
      `http://127.0.0.1:${api.port}/v1/secrets`,
      `http://localhost:${api.port}/v1/config`,
      "http://[::1]/",
      "http://payments:8080/",
      "http://user@payments/",
      "http://:secret@payments/",
      "http://payments.evil.com/",
    ]) {
      const res = await proxied(target, auth());
      expect(res.status, target).toBe(403);
      expect(JSON.parse(res.body).code).toBe("forbidden");
    }
  });

  it("gives two processes sharing one sidecar one breaker", async () => {
    const ledger = upstream.instances[2];
    ledger?.set({ rate: 1, status: 500 });
    // Another process trips the ledger's breaker through the sidecar...
    const child = spawnSidecarApp(
      sidecar,
      `for (let i = 0; i < 3; i++) await (await rt.http.request("ledger", { path: "/" })).body.dump();
      await rt.close();`,
    );
    expect(await new Promise((r) => child.on("exit", r))).toBe(0);
    // ...and this one finds it open without having seen a failure.
    const rt = await sidecarRuntime(sidecar);
    const before = ledger?.requests;
    const error = await rt.http.request("ledger", { path: "/" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(ledger?.requests).toBe(before);
    await rt.close();
    ledger?.set({});
  });

  it("shows the pod's breakers and endpoints at /v1/resilience/state", async () => {
    const res = await fetch(`${sidecar.api}/v1/resilience/state`, {
      headers: { authorization: `Bearer ${sidecar.token}` },
    });
    expect(res.status).toBe(200);
    const state = (await res.json()) as {
      upstreams: Record<string, { breaker?: string; endpoints: { address: string; ejected: boolean }[] }>;
    };
    expect(state.upstreams.ledger?.breaker).toBe("open");
    expect(state.upstreams.payments?.endpoints.map((e) => e.address)).toEqual(
      upstream.instances.map((i) => new URL(i.url).host),
    );
    expect(state.upstreams.payments?.breaker).toBeUndefined();
  });
});
