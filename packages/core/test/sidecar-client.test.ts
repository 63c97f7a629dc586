import { mkdtempSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AbortedError,
  EventLog,
  type ServerSentEvent,
  SidecarClient,
  SidecarUnavailableError,
  type TandemError,
  TimeoutError,
  toProblem,
} from "@tandem/core";
import { afterEach, describe, expect, it } from "vitest";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const servers: Server[] = [];
const clients: SidecarClient[] = [];

async function serve(handler: Handler, path?: string): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) =>
    path === undefined ? server.listen(0, "127.0.0.1", resolve) : server.listen(path, resolve),
  );
  return { server, port: path === undefined ? (server.address() as AddressInfo).port : 0 };
}

function client(port: number, token?: string, timeoutMs?: number): SidecarClient {
  const c = new SidecarClient({
    address: { kind: "tcp", origin: `http://127.0.0.1:${port}`, host: "127.0.0.1", port },
    token,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
  clients.push(c);
  return c;
}

async function freePort(): Promise<number> {
  const { server, port } = await serve(() => {});
  await new Promise((r) => server.close(r));
  return port;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const s of servers.splice(0)) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

describe("SidecarClient calls", () => {
  it("sends the bearer token and JSON, and decodes JSON", async () => {
    const { port } = await serve((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        res.setHeader("content-type", "application/json");
        res.end(
          JSON.stringify({
            auth: req.headers.authorization,
            type: req.headers["content-type"],
            body: JSON.parse(body),
            url: req.url,
          }),
        );
      });
    });
    const answer = await client(port, "s3cret").post("/v1/echo", { n: 1 }, { query: { a: "b" } });
    expect(answer).toEqual({ auth: "Bearer s3cret", type: "application/json", body: { n: 1 }, url: "/v1/echo?a=b" });
  });

  it("decodes problem documents into the matching TandemError", async () => {
    const { port } = await serve((_req, res) => {
      res.writeHead(504, { "content-type": "application/problem+json" });
      res.end(
        JSON.stringify(
          toProblem(new TimeoutError("upstream payments took longer than 2000 ms", { details: { timeoutMs: 2000 } })),
        ),
      );
    });
    const error = await client(port)
      .get("/v1/x")
      .catch((e) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toBe("upstream payments took longer than 2000 ms");
    expect(error.details).toEqual({ timeoutMs: 2000 });
  });

  it("times out a call that gets no answer, as TimeoutError", async () => {
    const { port } = await serve(() => {});
    const error = await client(port, undefined, 100)
      .get("/v1/slow")
      .catch((e) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toContain("100 ms");
  });

  it("aborts one call without touching another", async () => {
    const { port } = await serve((req, res) => {
      if (req.url === "/fast") setTimeout(() => res.end("ok"), 50);
    });
    const c = client(port);
    const controller = new AbortController();
    const slow = c.get("/slow", { signal: controller.signal }).catch((e) => e);
    const fast = c.get("/fast");
    controller.abort();
    expect(await slow).toBeInstanceOf(AbortedError);
    expect(await fast).toBe("ok");
  });

  it("reports a sidecar that is not there as SidecarUnavailableError", async () => {
    const error = await client(await freePort())
      .get("/readyz")
      .catch((e) => e);
    expect(error).toBeInstanceOf(SidecarUnavailableError);
    expect(error.message).toContain("ECONNREFUSED");
  });

  it("talks over a unix socket", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "tandem-client-")), "s.sock");
    await serve((req, res) => res.end(`host=${req.headers.host}`), path);
    const c = new SidecarClient({ address: { kind: "unix", path } });
    clients.push(c);
    expect(await c.get("/")).toBe("host=localhost");
  });
});

describe("SidecarClient connections", () => {
  it("carries many calls at once, as the proxied requests of a busy app are", async () => {
    // The server answers nobody until 64 calls are in; a client with fewer connections
    // would leave the rest queued behind them and time out.
    const waiting: ServerResponse[] = [];
    const { port } = await serve((_req, res) => {
      waiting.push(res);
      if (waiting.length === 64) for (const r of waiting) r.end("{}");
    });
    const c = client(port, undefined, 10_000);
    const calls = Array.from({ length: 64 }, () => c.get("/v1/anything"));
    expect(await Promise.all(calls)).toHaveLength(64);
  });
});

describe("SidecarClient.waitUntilReady", () => {
  it("waits with backoff until /readyz answers 200", async () => {
    let calls = 0;
    const { port } = await serve((_req, res) => {
      calls++;
      res.writeHead(calls < 3 ? 503 : 200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: calls < 3 ? "starting" : "ready", version: "1.2.3" }));
    });
    const ready = await client(port).waitUntilReady({ initialDelayMs: 5, maxDelayMs: 20 });
    expect(ready).toEqual({ status: "ready", version: "1.2.3", attempts: 3 });
  });

  it("finds a sidecar that starts late", async () => {
    const port = await freePort();
    const waiting = client(port).waitUntilReady({ initialDelayMs: 10, maxDelayMs: 50, timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 200));
    const server = createServer((_req, res) => res.end('{"status":"ready"}'));
    servers.push(server);
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    expect((await waiting).attempts).toBeGreaterThan(1);
  });

  it("gives up after the timeout with SidecarUnavailableError naming the address", async () => {
    const port = await freePort();
    const error = await client(port)
      .waitUntilReady({ timeoutMs: 300, initialDelayMs: 10, maxDelayMs: 50 })
      .catch((e) => e);
    expect(error).toBeInstanceOf(SidecarUnavailableError);
    expect(error.message).toContain(`http://127.0.0.1:${port} was not ready within 300 ms`);
    expect(error.details).toEqual({ sidecar: `http://127.0.0.1:${port}`, timeoutMs: 300 });
  });
});

describe("SidecarClient.events", () => {
  it("reconnects after a lost connection and resumes with Last-Event-ID", async () => {
    const log = new EventLog(16);
    const lastIds: (string | undefined)[] = [];
    const { server, port } = await serve((req, res) => {
      lastIds.push(req.headers["last-event-id"] as string | undefined);
      log.serve(res, req.headers["last-event-id"] as string | undefined);
    });
    const received: ServerSentEvent[] = [];
    let opened = 0;
    const stream = client(port).events("/v1/events", {
      onEvent: (e) => received.push(e),
      onOpen: () => opened++,
      retryMs: 10,
    });
    await until(() => opened === 1);
    log.publish("change", { n: 1 });
    await until(() => received.length === 1);
    // Drop the connection; publish while the client is away; it must get the event on resume.
    server.closeAllConnections();
    log.publish("change", { n: 2 });
    await until(() => received.length === 2);
    expect(received.map((e) => [e.event, JSON.parse(e.data).n])).toEqual([
      ["change", 1],
      ["change", 2],
    ]);
    expect(received[0]?.id).toMatch(/^[0-9a-f]{8}-1$/);
    expect(lastIds).toEqual([undefined, received[0]?.id]);
    stream.close();
    await stream.done;
  });

  it("backs off more and more while the server keeps failing, whatever retry it asks for", async () => {
    let connections = 0;
    const { port } = await serve((_req, res) => {
      connections++;
      res.writeHead(503, { "content-type": "text/event-stream" });
      res.end("retry: 0\n\n");
    });
    const stream = client(port).events("/v1/events", { onEvent: () => {}, retryMs: 20, maxRetryMs: 2000 });
    await new Promise((r) => setTimeout(r, 1000));
    stream.close();
    await stream.done;
    // A fixed 20 ms would be ~50 connections a second; doubling ceilings with jitter stay few.
    expect(connections).toBeGreaterThan(1);
    expect(connections).toBeLessThan(15);
  });

  it("stops for good on a client error and says why", async () => {
    const { port } = await serve((_req, res) => {
      res.writeHead(401, { "content-type": "application/problem+json" });
      res.end(JSON.stringify({ code: "unauthorized", detail: "the bearer token is wrong", status: 401 }));
    });
    const errors: [TandemError, boolean][] = [];
    const stream = client(port).events("/v1/events", {
      onEvent: () => {},
      onError: (e, fatal) => errors.push([e, fatal]),
    });
    await stream.done;
    expect(errors).toHaveLength(1);
    expect(errors[0]?.[0].code).toBe("unauthorized");
    expect(errors[0]?.[1]).toBe(true);
  });
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}
