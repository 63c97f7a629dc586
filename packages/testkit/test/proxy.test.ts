import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, request as rawHttp } from "node:http";
import { type AddressInfo, connect, createServer as createNetServer } from "node:net";
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

/** Sends `text` on a new connection to `origin` and returns what came back until the answer ended (Content-Length, chunked, or a pause). */
function rawExchange(origin: string, text: string): Promise<string> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let got = "";
    let quiet: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(quiet);
      socket.destroy();
      resolve(got);
    };
    socket.on("data", (bytes) => {
      got += bytes.toString("latin1");
      const end = got.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length: *(\d+)/i.exec(got.slice(0, end))?.[1];
      if (end >= 0 && length !== undefined && got.length >= end + 4 + Number(length)) done();
      else if (end >= 0 && got.endsWith("\r\n0\r\n\r\n")) done();
      else {
        clearTimeout(quiet);
        quiet = setTimeout(done, 2000);
      }
    });
    socket.on("error", reject);
    socket.write(text);
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

  it("passes an upstream's header lines on as they came, less the hop-by-hop ones and those its Connection names", async () => {
    // An upstream that writes its answers byte for byte: names in their own case, odd spacing.
    const answers: Record<string, string> = {
      "/lines": [
        "HTTP/1.1 201 Created",
        "X-Kept-Case:  spaced value ",
        "Connection: keep-alive, X-Hop",
        "X-Hop: for this hop",
        "Keep-Alive: timeout=5",
        "Proxy-Authenticate: Basic",
        "X-Tandem-Error: config_invalid",
        "Set-Cookie: a=1",
        "Set-Cookie: b=2",
        "Date: Tue, 01 Dec 2026 00:00:00 GMT",
        "Content-Length: 2",
        "",
        "ok",
      ].join("\r\n"),
      "/chunked": ["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "3", "abc", "0", "", ""].join("\r\n"),
      // Both framings: the chunks frame the body, and the Content-Length must not go on with it.
      "/both": [
        "HTTP/1.1 200 OK",
        "Content-Length: 100",
        "Transfer-Encoding: chunked",
        "",
        "3",
        "abc",
        "0",
        "",
        "",
      ].join("\r\n"),
      // A control character Node's server refuses to write: the sidecar refuses it too.
      "/control": ["HTTP/1.1 200 OK", "X-Bad: a\u0001b", "Content-Length: 0", "", ""].join("\r\n"),
    };
    const received: string[] = [];
    const raw = createNetServer((socket) => {
      let text = "";
      socket.on("data", (bytes) => {
        text += bytes.toString("latin1");
        for (let end = text.indexOf("\r\n\r\n"); end >= 0; end = text.indexOf("\r\n\r\n")) {
          const path = text.slice(0, end).split(" ")[1] ?? "";
          received.push(text.slice(0, end));
          text = text.slice(end + 4);
          socket.write(answers[path] ?? "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "latin1");
        }
      });
    });
    await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
    const dir = mkdtempSync(join(tmpdir(), "tandem-proxy-lines-"));
    writeFileSync(
      join(dir, "tandem.yaml"),
      `upstreams:\n  raw:\n    endpoints: [http://127.0.0.1:${(raw.address() as AddressInfo).port}]\n`,
    );
    const own = await startSidecar({ config: join(dir, "tandem.yaml") });
    try {
      const ask = (path: string, extra = "") =>
        rawExchange(
          own.api,
          `GET http://raw${path} HTTP/1.1\r\nHost: raw\r\nProxy-Authorization: Bearer ${own.token}\r\n${extra}\r\n`,
        );
      const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      const [head, body] = (
        await ask(
          "/lines",
          `X-Client-Case:  as sent \r\nConnection: keep-alive\r\nVia: 1.1 elsewhere\r\ntraceparent: ${parent}\r\n`,
        )
      ).split("\r\n\r\n");
      // The request went on less its hop-by-hop fields, with the sidecar's Host and trace context
      // in their place and its entry after the client's in Via (RFC 9110 §7.6.3).
      const sent = received[0]?.split("\r\n") ?? [];
      expect(sent[0]).toBe("GET /lines HTTP/1.1");
      expect(sent).toContain("x-client-case: as sent");
      expect(sent).toContain("via: 1.1 elsewhere, 1.1 tandem");
      expect(sent).toContain(`host: 127.0.0.1:${(raw.address() as AddressInfo).port}`);
      const sentNames = sent.slice(1).map((l) => l.slice(0, l.indexOf(":")).toLowerCase());
      expect(sentNames).not.toContain("proxy-authorization");
      for (const once of ["via", "host", "connection", "traceparent"]) {
        expect(
          sentNames.filter((n) => n === once),
          once,
        ).toHaveLength(1);
      }
      // The client's trace goes on: the same trace, the sidecar's attempt as the parent.
      const traceparent = sent.find((l) => l.startsWith("traceparent:")) ?? "";
      expect(traceparent).toContain("0af7651916cd43dd8448eb211c80319c");
      const lines = head?.split("\r\n") ?? [];
      expect(lines[0]).toBe("HTTP/1.1 201 Created");
      expect(lines).toContain("X-Kept-Case:  spaced value ");
      expect(lines.filter((l) => l.startsWith("Set-Cookie:"))).toEqual(["Set-Cookie: a=1", "Set-Cookie: b=2"]);
      expect(lines.filter((l) => /^date:/i.test(l))).toEqual(["Date: Tue, 01 Dec 2026 00:00:00 GMT"]);
      expect(lines).toContain("Content-Length: 2");
      const names = lines.slice(1).map((l) => l.slice(0, l.indexOf(":")).toLowerCase());
      for (const dropped of ["x-hop", "proxy-authenticate", "x-tandem-error", "transfer-encoding"]) {
        expect(names).not.toContain(dropped);
      }
      // The connection to the client is the sidecar's: its own Connection and Keep-Alive.
      expect(lines.filter((l) => /^(connection|keep-alive):/i.test(l))).toEqual([
        "Connection: keep-alive",
        "Keep-Alive: timeout=60",
      ]);
      expect(body).toBe("ok");
      // A body the upstream framed by chunks goes on chunked by the sidecar, once.
      const chunked = await ask("/chunked");
      expect(chunked.match(/transfer-encoding: chunked/gi)).toHaveLength(1);
      expect(chunked.endsWith("\r\n\r\n3\r\nabc\r\n0\r\n\r\n")).toBe(true);
      // Read by the proxy front, and (a Connection naming a field) by Node's server: the same answer.
      for (const extra of ["", "Connection: keep-alive, X-Other\r\n"]) {
        const both = await ask("/both", extra);
        expect(both).not.toMatch(/content-length/i);
        expect(both.match(/transfer-encoding: chunked/gi)).toHaveLength(1);
        expect(both.endsWith("\r\n\r\n3\r\nabc\r\n0\r\n\r\n")).toBe(true);
      }
      const control = await ask("/control");
      expect(control.startsWith("HTTP/1.1 500 ")).toBe(true);
      expect(control).not.toContain("X-Bad");
      // Without trace context to continue, the request's lines go on byte for byte as they came
      // (the name's case, the blanks around the value), less the hop's; Via, Content-Length and
      // Idempotency-Key are the proxy's and the pipeline's to write, once.
      received.length = 0;
      await rawExchange(
        own.api,
        `POST http://raw/lines HTTP/1.1\r\nHost: raw\r\nX-Client-Case:  as sent \r\nProxy-Authorization: Bearer ${own.token}\r\n` +
          "X-Empty:\r\nVia: 1.1 elsewhere\r\nTE: trailers\r\nIdempotency-Key: k-1\r\nContent-Length: 0\r\nX-Last: z\r\n\r\n",
      );
      const passed = received[0]?.split("\r\n") ?? [];
      expect(passed[0]).toBe("POST /lines HTTP/1.1");
      for (const line of [
        "X-Client-Case:  as sent ",
        "X-Empty:",
        "X-Last: z",
        "via: 1.1 elsewhere, 1.1 tandem",
        "idempotency-key: k-1",
        "content-length: 0",
      ]) {
        expect(passed).toContain(line);
      }
      const passedNames = passed.slice(1).map((l) => l.slice(0, l.indexOf(":")).toLowerCase());
      expect(passedNames).not.toContain("proxy-authorization");
      expect(passedNames).not.toContain("te");
      for (const once of ["via", "host", "connection", "traceparent", "idempotency-key", "content-length"]) {
        expect(
          passedNames.filter((n) => n === once),
          once,
        ).toHaveLength(1);
      }
    } finally {
      await own.stop();
      await new Promise((r) => raw.close(r));
    }
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
