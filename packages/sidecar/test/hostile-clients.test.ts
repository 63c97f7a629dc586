import { connect, type Socket } from "node:net";
import type { Concern } from "@tandem/core";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { rawRequest, startInProcess } from "./helpers.js";

/** One route that reads a JSON body, to have a body to trickle. */
const sink: Concern = {
  name: "sink",
  local: async () => ({ facets: {} }),
  remote: async () => ({ facets: {} }),
  routes: () => [
    {
      method: "POST",
      path: "/v1/sink",
      tag: "sink",
      summary: "Takes a JSON body.",
      body: z.unknown(),
      responses: { 200: { description: "Taken." } },
      handler: () => ({ body: { ok: true } }),
    },
  ],
};

let stops: (() => Promise<void>)[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(stops.map((s) => s()));
  stops = [];
});

async function start(options = {}) {
  const s = await startInProcess(options, [sink]);
  stops.push(() => s.sidecar.stop("test over"));
  return s;
}

function open(port: number): Promise<{ socket: Socket; closed: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    sockets.push(socket);
    let data = "";
    socket.on("data", (c: Buffer) => (data += c.toString("latin1")));
    socket.on("error", () => {});
    const closed = new Promise<string>((r) => socket.once("close", () => r(data)));
    socket.once("connect", () => resolve({ socket, closed }));
    socket.once("error", reject);
  });
}

function problemOf(answer: string): Record<string, unknown> {
  expect(answer.toLowerCase()).toContain("content-type: application/problem+json");
  return JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)) as Record<string, unknown>;
}

/** Resolves with what `p` settles to, or "timed out" after `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | "timed out"> {
  return Promise.race([p, new Promise<"timed out">((r) => setTimeout(() => r("timed out"), ms))]);
}

describe("the sidecar against broken and hostile clients", () => {
  it("answers requests Node cannot parse with a 400 problem, not a bare status line", async () => {
    const { apiPort } = await start();
    for (const text of [
      "GET /readyz HTTP/1.1\r\nHost: localhost\r\nX-A: a\rb\r\n\r\n",
      "POST /readyz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "\x16\x03\x01\x00\xa5\x01\x00",
    ]) {
      const answer = await rawRequest(apiPort, text);
      expect(answer).toMatch(/^HTTP\/1.1 400/);
      expect(problemOf(answer)).toMatchObject({ status: 400, code: "bad_request" });
    }
  });

  it("answers headers past 16 KiB with a 431 problem", async () => {
    const { apiPort } = await start();
    const answer = await rawRequest(
      apiPort,
      `GET /readyz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1.1 431/);
    expect(problemOf(answer)).toMatchObject({ status: 431, code: "headers_too_large" });
  });

  it("refuses an HTTP/1.1 request with two Host headers, or none, with a 400 problem", async () => {
    const { apiPort } = await start();
    for (const hosts of ["Host: localhost\r\nHost: evil.example\r\n", ""]) {
      const answer = await rawRequest(apiPort, `GET /readyz HTTP/1.1\r\n${hosts}Connection: close\r\n\r\n`);
      expect(answer).toMatch(/^HTTP\/1.1 400/);
      expect(problemOf(answer)).toMatchObject({ code: "bad_request" });
    }
  });

  it("closes a client that trickles its headers after the headers timeout, with a 408 problem", async () => {
    const { apiPort } = await start({ headersTimeoutMs: 300, requestTimeoutMs: 5_000 });
    const { socket, closed } = await open(apiPort);
    socket.write("GET /readyz HTTP/1.1\r\nHost: localhost\r\n");
    const timer = setInterval(() => socket.writable && socket.write("X-Slow: 1\r\n"), 50);
    const answer = await within(closed, 10_000);
    clearInterval(timer);
    // Node's default check runs every 30 s: within 10 s means the sidecar checks itself.
    expect(answer).not.toBe("timed out");
    expect(answer).toMatch(/^HTTP\/1.1 408/);
    expect(problemOf(answer as string)).toMatchObject({ status: 408, code: "request_timeout" });
  });

  it("closes a client that trickles its body after the request timeout", async () => {
    const { apiPort } = await start({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const { socket, closed } = await open(apiPort);
    socket.write(
      "POST /v1/sink HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
    );
    const timer = setInterval(() => socket.writable && socket.write("x"), 50);
    const answer = await within(closed, 10_000);
    clearInterval(timer);
    expect(answer).not.toBe("timed out");
    expect(answer).toMatch(/^HTTP\/1.1 408/);
  });

  it("closes connections beyond maxConnections at once and serves again once one is free", async () => {
    const { apiPort, api } = await start({ maxConnections: 2 });
    const held = [await open(apiPort), await open(apiPort)];
    const extra = await open(apiPort);
    expect(await within(extra.closed, 5_000)).toBe("");
    held[0]?.socket.destroy();
    await held[0]?.closed;
    const res = await fetch(`${api}/readyz`, { headers: { connection: "close" } });
    expect(res.status).toBe(200);
  });
});
