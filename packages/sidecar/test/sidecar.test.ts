import { request as httpRequest } from "node:http";
import { type Concern, loadConfigFile } from "@tandem/core";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { rawRequest, startInProcess } from "./helpers.js";

const TOKEN = "test-token-123";
let stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(stops.map((s) => s()));
  stops = [];
});

/** A concern with one route of each kind, to exercise the registry. */
function echoConcern(closed: string[] = []): Concern {
  return {
    name: "echo",
    local: async () => ({ facets: {}, close: async () => void closed.push("echo") }),
    remote: async () => ({ facets: {} }),
    routes: () => [
      {
        method: "POST",
        path: "/v1/echo",
        tag: "echo",
        summary: "Echoes a message.",
        body: z.object({ message: z.string().max(100), count: z.number().int().positive().optional() }),
        responses: { 200: { description: "The message." } },
        handler: ({ body }) => ({ body }),
      },
      {
        method: "GET",
        path: "/v1/echo/{name}",
        tag: "echo",
        summary: "Echoes a path parameter.",
        responses: { 200: { description: "The name." } },
        handler: ({ params, query }) => ({ body: { name: params.name, q: query.get("q") } }),
      },
      {
        method: "GET",
        path: "/v1/slow",
        tag: "echo",
        summary: "Answers after ?ms milliseconds.",
        responses: { 200: { description: "Done." } },
        handler: async ({ query }) => {
          await new Promise((r) => setTimeout(r, Number(query.get("ms") ?? 100)));
          return { body: { done: true } };
        },
      },
      {
        method: "GET",
        path: "/v1/boom",
        tag: "echo",
        summary: "Fails with an unexpected error.",
        responses: { 200: { description: "Never." } },
        handler: () => {
          throw new Error("secret detail /srv/app/db.ts:42");
        },
      },
    ],
  };
}

async function start(options = {}, closed: string[] = []) {
  const s = await startInProcess({ token: TOKEN, ...options }, [echoConcern(closed)]);
  stops.push(() => s.sidecar.stop("test over"));
  return s;
}

const auth = { authorization: `Bearer ${TOKEN}` };

describe("sidecar routes and checks", () => {
  it("serves a concern's routes with path params, query and a validated JSON body", async () => {
    const { api } = await start();
    const echoed = await fetch(`${api}/v1/echo`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ message: "hi", count: 2 }),
    });
    expect(echoed.status).toBe(200);
    expect(await echoed.json()).toEqual({ message: "hi", count: 2 });
    const param = await fetch(`${api}/v1/echo/a%20b?q=1`, { headers: auth });
    expect(await param.json()).toEqual({ name: "a b", q: "1" });
  });

  it("refuses /v1 calls with a missing or wrong token with 401 problem+json", async () => {
    const { api } = await start();
    for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: TOKEN }]) {
      const res = await fetch(`${api}/v1/echo/x`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="tandem"');
      expect(await res.json()).toMatchObject({ code: "unauthorized", status: 401 });
    }
  });

  it("asks for the token before saying whether a /v1 path or method exists", async () => {
    const { api } = await start();
    for (const [method, path] of [
      ["GET", "/v1/no-such-route"],
      ["DELETE", "/v1/echo"],
      ["GET", "/v1"],
    ]) {
      const res = await fetch(`${api}${path}`, { method });
      expect(res.status).toBe(401);
    }
  });

  it("accepts any Host when bound beyond loopback on purpose, where the token guards", async () => {
    const s = await startInProcess(
      { api: { kind: "tcp", host: "0.0.0.0", port: 0 }, allowNonLoopback: true, token: TOKEN },
      [echoConcern()],
    );
    stops.push(() => s.sidecar.stop("test over"));
    const answer = await rawRequest(
      s.apiPort,
      `GET /v1/echo/x HTTP/1.1\r\nHost: 10.1.2.3:4600\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1.1 200/);
    const noToken = await rawRequest(
      s.apiPort,
      `GET /v1/echo/x HTTP/1.1\r\nHost: 10.1.2.3\r\nConnection: close\r\n\r\n`,
    );
    expect(noToken).toMatch(/^HTTP\/1.1 401/);
  });

  it("keeps the Host check when the flag is set but no token guards", async () => {
    const s = await startInProcess({ allowNonLoopback: true }, [echoConcern()]);
    stops.push(() => s.sidecar.stop("test over"));
    const answer = await rawRequest(
      s.apiPort,
      "GET /v1/echo/x HTTP/1.1\r\nHost: evil.example.com\r\nConnection: close\r\n\r\n",
    );
    expect(answer).toMatch(/^HTTP\/1.1 403/);
  });

  it("needs no token for the probes, and none at all when no token is configured", async () => {
    const { api } = await start();
    expect((await fetch(`${api}/readyz`)).status).toBe(200);
    const open = await startInProcess({}, [echoConcern()]);
    stops.push(() => open.sidecar.stop("test over"));
    expect((await fetch(`${open.api}/v1/echo/x`)).status).toBe(200);
  });

  it("refuses a Host that is not loopback (DNS rebinding) with 403", async () => {
    const { apiPort } = await start();
    const answer = await rawRequest(
      apiPort,
      `GET /readyz HTTP/1.1\r\nHost: attacker.example:4600\r\nConnection: close\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1.1 403/);
    expect(answer).toContain('"code":"forbidden"');
    for (const host of ["localhost:1", "127.0.0.1", "[::1]:4600"]) {
      const ok = await rawRequest(apiPort, `GET /readyz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(ok).toMatch(/^HTTP\/1.1 200/);
    }
  });

  it("refuses forward-proxy targets when no concern proxies (403), after asking for the token (407)", async () => {
    const { apiPort } = await start();
    const proxyAuth = `Proxy-Authorization: Bearer ${TOKEN}\r\n`;
    for (const target of ["http://169.254.169.254/latest/meta-data", "http://payments/charge", "127.0.0.1:22"]) {
      const method = target.startsWith("http") ? "GET" : "CONNECT";
      const answer = await rawRequest(
        apiPort,
        `${method} ${target} HTTP/1.1\r\nHost: x\r\n${proxyAuth}Connection: close\r\n\r\n`,
      );
      expect(answer).toMatch(/^HTTP\/1.1 403/);
      expect(answer).toContain("not a configured upstream");
    }
    const noToken = await rawRequest(
      apiPort,
      "GET http://payments/ HTTP/1.1\r\nHost: payments\r\nConnection: close\r\n\r\n",
    );
    expect(noToken).toMatch(/^HTTP\/1.1 407/);
    expect(noToken.toLowerCase()).toContain('proxy-authenticate: bearer realm="tandem"');
  });

  it("refuses requests from web pages (Origin, Sec-Fetch-Site), token or not", async () => {
    const open = await startInProcess({}, [echoConcern()]);
    stops.push(() => open.sidecar.stop("test over"));
    const shutdown = await fetch(`${open.admin}/v1/shutdown`, {
      method: "POST",
      headers: { origin: "https://evil.example", "content-type": "text/plain" },
    });
    expect(shutdown.status).toBe(403);
    expect(open.sidecar.state).toBe("ready");
    const sniff = await fetch(`${open.api}/v1/echo/x`, { headers: { "sec-fetch-site": "cross-site" } });
    expect(sniff.status).toBe(403);
    expect((await fetch(`${open.api}/v1/echo/x`, { headers: { "sec-fetch-site": "none" } })).status).toBe(200);
  });

  it("answers 404 and 405 (with Allow) as problem+json", async () => {
    const { api } = await start();
    const missing = await fetch(`${api}/v1/nothing`, { headers: auth });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: "not_found", instance: "/v1/nothing" });
    const wrong = await fetch(`${api}/v1/echo`, { method: "DELETE", headers: auth });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST");
    // The admin routes are not on the API listener.
    expect((await fetch(`${api}/metrics`)).status).toBe(404);
  });

  it("answers 413 from the declared length before reading the body", async () => {
    const { apiPort } = await start({ maxBodyBytes: 1024 });
    // Only the headers are sent: the answer must come without the body ever arriving.
    const answer = await rawRequest(
      apiPort,
      `POST /v1/echo HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n`,
      500,
    );
    expect(answer).toMatch(/^HTTP\/1.1 413/);
    expect(answer).toContain("larger than the limit of 1024 bytes");
    expect(answer.toLowerCase()).toContain("connection: close");
  });

  it("answers 413 to a chunked body as soon as it passes the limit", async () => {
    const { api } = await start({ maxBodyBytes: 1024 });
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${api}/v1/echo`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json", "transfer-encoding": "chunked" },
      });
      req.on("response", (res) => resolve(res.statusCode ?? 0));
      req.on("error", reject);
      req.write(`{"message":"${"x".repeat(2000)}`);
      // The body never ends: only the limit can produce the answer.
    });
    expect(status).toBe(413);
  });

  it("answers 400 naming the position of malformed JSON", async () => {
    const { api } = await start();
    const res = await fetch(`${api}/v1/echo`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: '{"message": "hi",,}',
    });
    expect(res.status).toBe(400);
    const problem = await res.json();
    expect(problem.code).toBe("bad_request");
    expect(problem.detail).toMatch(/not valid JSON.*position 17/);
    expect(problem.details).toEqual({ position: 17 });
  });

  it("answers 400 listing every schema problem with its path", async () => {
    const { api } = await start();
    const res = await fetch(`${api}/v1/echo`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ message: 5, count: -1 }),
    });
    expect(res.status).toBe(400);
    const problem = await res.json();
    expect(problem.details.issues.map((i: { path: string }) => i.path)).toEqual(["message", "count"]);
    expect(problem.detail).toContain("message:");
  });

  it("answers 415 to a body that is not JSON", async () => {
    const { api } = await start();
    const res = await fetch(`${api}/v1/echo`, {
      method: "POST",
      headers: { ...auth, "content-type": "text/plain" },
      body: "hi",
    });
    expect(res.status).toBe(415);
  });

  it("never sends a stack trace or an internal message to the client", async () => {
    const { api, lines } = await start();
    const res = await fetch(`${api}/v1/boom`, { headers: auth });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain("secret detail");
    expect(text).not.toContain("db.ts");
    expect(JSON.parse(text)).toMatchObject({ code: "internal", detail: "internal error" });
    // The operator still sees what happened.
    expect(lines.some((l) => l.event === "handler_error")).toBe(true);
  });

  it("refuses to listen beyond loopback without the explicit flag and a token", async () => {
    const attempt = startInProcess({ api: { kind: "tcp", host: "0.0.0.0", port: 0 } });
    await expect(attempt).rejects.toThrow(/not loopback.*--allow-non-loopback and a token/);
    const noToken = startInProcess({ api: { kind: "tcp", host: "0.0.0.0", port: 0 }, allowNonLoopback: true });
    await expect(noToken).rejects.toThrow(/needs --allow-non-loopback and a token/);
  });

  it("does not become ready when a concern cannot load its config, and says why", async () => {
    const strict: Concern = {
      name: "strict",
      local: async ({ env }) => {
        await loadConfigFile(env.configPath as string);
        return { facets: {} };
      },
      remote: async () => ({ facets: {} }),
    };
    await expect(startInProcess({ configPath: "/nonexistent/tandem.yaml" }, [strict])).rejects.toThrow(
      /cannot be read \(ENOENT\)/,
    );
  });
});
