// Slow clients against a real sidecar process: trickled headers (slowloris), trickled bodies and
// more connections than the limit are closed or refused, while a normal client is still served.
import type { Socket } from "node:net";
import { type StartedSidecar, startSidecar } from "@tandem/testkit";
import { Pool, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closedWithin, expectProblem, openSocket, parseAnswer } from "./support/attacks.js";

const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_500;
const MAX_CONNECTIONS = 30;

let sidecar: StartedSidecar;
const sockets: Socket[] = [];
const timers: NodeJS.Timeout[] = [];
const figures: Record<string, number> = {};

const portOf = (url: string) => Number(new URL(url).port);

beforeAll(async () => {
  sidecar = await startSidecar({
    args: [
      "--headers-timeout",
      `${HEADERS_TIMEOUT_MS}ms`,
      "--request-timeout",
      `${REQUEST_TIMEOUT_MS}ms`,
      "--max-connections",
      String(MAX_CONNECTIONS),
    ],
  });
});

afterAll(async () => {
  for (const timer of timers) clearInterval(timer);
  for (const socket of sockets) socket.destroy();
  await sidecar?.stop();
  console.log(`attacks-slow-clients: ${JSON.stringify(figures)}`);
});

async function open(port: number): Promise<Socket> {
  const socket = await openSocket(port);
  sockets.push(socket);
  return socket;
}

/** Writes `text` then one more byte of `drip` every `everyMs`, until the socket closes. */
function trickle(socket: Socket, text: string, drip: string, everyMs: number): void {
  socket.write(text);
  const timer = setInterval(() => {
    if (socket.destroyed || !socket.writable) clearInterval(timer);
    else socket.write(drip);
  }, everyMs);
  timers.push(timer);
}

/** A normal request on a fresh connection; resolves with its status and how long it took. */
async function normal(base: string, path = "/readyz"): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const res = await request(`${base}${path}`, { reset: true, headersTimeout: 10_000, bodyTimeout: 10_000 });
  await res.body.dump();
  return { status: res.statusCode, ms: Math.round(performance.now() - started) };
}

describe("slow clients", () => {
  it("closes clients trickling their headers after the headers timeout, and serves others meanwhile", async () => {
    const api = portOf(sidecar.api);
    const slow = await Promise.all(Array.from({ length: 10 }, () => open(api)));
    const ends = slow.map((socket) => {
      const end = closedWithin(socket, 15_000);
      trickle(socket, "GET /v1/config HTTP/1.1\r\nHost: localhost\r\n", "X", 100);
      return end;
    });
    // A normal client during the attack.
    const during = await normal(sidecar.api);
    expect(during.status).toBe(200);
    figures.normalDuringSlowlorisMs = during.ms;
    const closed = await Promise.all(ends);
    for (const end of closed) {
      // Closed (generously) within 15 s instead of being held for as long as the client trickles.
      expect(end).not.toBeNull();
      const answer = parseAnswer(end?.data ?? "", true);
      expect(answer.status).toBe(408);
      expectProblem(408, answer.headers["content-type"], answer.body, "slowloris");
    }
    figures.slowlorisClosedAfterMs = Math.max(...closed.map((c) => c?.ms ?? 0));
  });

  it("closes clients trickling their body after the request timeout", async () => {
    const api = portOf(sidecar.api);
    const slow = await Promise.all(Array.from({ length: 5 }, () => open(api)));
    const ends = slow.map((socket) => {
      const end = closedWithin(socket, 15_000);
      trickle(
        socket,
        `POST /v1/logs HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${sidecar.token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n{`,
        " ",
        100,
      );
      return end;
    });
    const during = await normal(sidecar.api);
    expect(during.status).toBe(200);
    figures.normalDuringSlowBodyMs = during.ms;
    const closed = await Promise.all(ends);
    for (const end of closed) {
      expect(end).not.toBeNull();
      const answer = parseAnswer(end?.data ?? "", true);
      expect(answer.status).toBe(408);
      expectProblem(408, answer.headers["content-type"], answer.body, "slow body");
    }
    figures.slowBodyClosedAfterMs = Math.max(...closed.map((c) => c?.ms ?? 0));
  });

  it("refuses connections beyond its maximum while a connected client and the admin listener are served", async () => {
    const api = portOf(sidecar.api);
    // A client already connected (keep-alive) before the flood.
    const pool = new Pool(sidecar.api, { connections: 1, pipelining: 1 });
    try {
      const first = await pool.request({ path: "/readyz", method: "GET" });
      await first.body.dump();
      const flood = await Promise.all(Array.from({ length: MAX_CONNECTIONS + 10 }, () => open(api).catch(() => null)));
      const outcomes = await Promise.all(flood.map((s) => (s === null ? null : closedWithin(s, 400))));
      // The ones past the limit are closed at once (before any headers timeout could apply).
      const refused = outcomes.filter((o) => o !== null && o.ms < HEADERS_TIMEOUT_MS - 300).length;
      figures.floodConnections = flood.length;
      figures.floodRefusedAtOnce = refused;
      expect(refused).toBeGreaterThanOrEqual(10);
      // The connected client is still served, and so is the admin listener (its own limit).
      const again = await pool.request({ path: "/readyz", method: "GET" });
      expect(again.statusCode).toBe(200);
      await again.body.dump();
      expect((await normal(sidecar.admin, "/healthz")).status).toBe(200);
      // The idle flood is closed by the headers timeout, and then new clients get in again.
      const held = flood.filter((s): s is Socket => s !== null && !s.destroyed);
      expect(held.length).toBeGreaterThan(0);
      const idle = await Promise.all(held.map((s) => closedWithin(s, 15_000)));
      expect(idle.filter((o) => o === null)).toHaveLength(0);
      const after = await normal(sidecar.api);
      expect(after.status).toBe(200);
    } finally {
      await pool.close();
    }
    expect((await normal(sidecar.admin, "/healthz")).status).toBe(200);
  });
});
