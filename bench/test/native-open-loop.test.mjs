// The native open-loop generator against local servers: it sends the request it is given at the
// rate it is given, counts every answer and every failure, and records each answer's latency.
import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { runNativeOpenLoop } from "../lib/native-open-loop.mjs";
import { decodeHistogram } from "../lib/stats.mjs";

const compiler = process.env.CC ?? "cc";
const hasCompiler = spawnSync(compiler, ["--version"], { stdio: "ignore" }).status === 0;
if (!hasCompiler) console.warn(`native open-loop generator tests skipped: no C compiler (${compiler}) on this machine`);

const servers = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections?.();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** A server on a random port of 127.0.0.1, closed after the test; resolves with its origin. */
async function listen(server) {
  servers.push(server);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${server.address().port}`;
}

/** A server that answers "ok" at once, but the `nth` request after `ms`. */
function answerLate(nth, ms) {
  let n = 0;
  return createServer((_req, res) => {
    if (++n === nth) setTimeout(() => res.end("ok"), ms);
    else res.end("ok");
  });
}

describe.skipIf(!hasCompiler)(`native open-loop generator (needs a C compiler: ${compiler})`, () => {
  it("sends the request as given at the rate given, and records every answer", async () => {
    const seen = [];
    const origin = await listen(
      createServer((req, res) => {
        seen.push({ method: req.method, url: req.url, headers: req.headers });
        res.end("ok");
      }),
    );
    const run = await runNativeOpenLoop({
      origin,
      path: "http://upstream/x?y=1",
      headers: { "proxy-authorization": "Bearer t" },
      rate: 200,
      durationS: 0.5,
      warmupS: 0.1,
      connections: 4,
    });
    expect(run).toMatchObject({ sent: 100, completed: 100, ok: 100, errors: 0, statusCodes: { 200: 100 } });
    expect(run.warmupSent).toBe(20);
    expect(seen).toHaveLength(120);
    expect(seen[0]).toMatchObject({
      method: "GET",
      url: "http://upstream/x?y=1",
      headers: { host: origin.slice("http://".length), "proxy-authorization": "Bearer t" },
    });
    expect(decodeHistogram(run.histogram).totalCount).toBe(100);
    // The same fields as the undici generator's result.
    for (const key of ["rate", "durationS", "achievedRate", "maxSendLagMs", "latency", "service", "errorCodes"])
      expect(run).toHaveProperty(key);
  });

  it("measures from each request's send time, a wait for a busy connection included", async () => {
    // The fifth answer, 40 ms in, takes 300 ms; the one connection is busy meanwhile.
    const origin = await listen(answerLate(5, 300));
    const run = await runNativeOpenLoop({ origin, rate: 100, durationS: 0.5, connections: 1 });
    expect(run).toMatchObject({ completed: 50, ok: 50 });
    // ~29 requests fell due during the stall and waited for it: measured from when they were
    // sent, they would take well under a millisecond each.
    expect(run.latency.max).toBeGreaterThanOrEqual(290);
    expect(run.latency.p50).toBeGreaterThanOrEqual(10);
    expect(run.service.p50).toBeLessThan(run.latency.p50);
  });

  it("gives each measured request's due and answered times when asked, on the machine's monotonic clock", async () => {
    // The 11th answer after the 10 of the warm-up takes 50 ms.
    const origin = await listen(answerLate(21, 50));
    const before = Number(process.hrtime.bigint());
    const run = await runNativeOpenLoop({
      origin,
      rate: 100,
      durationS: 0.3,
      warmupS: 0.1,
      connections: 4,
      windows: true,
    });
    const after = Number(process.hrtime.bigint());
    expect(run.completed).toBe(30);
    expect(run.windows).toBeInstanceOf(Float64Array);
    expect(run.windows).toHaveLength(60);
    const spans = [];
    for (let i = 0; i < 60; i += 2) {
      const [due, end] = [run.windows[i], run.windows[i + 1]];
      // process.hrtime is CLOCK_MONOTONIC too: every time falls within the call.
      expect(due).toBeGreaterThan(before);
      expect(end).toBeLessThan(after);
      expect(end).toBeGreaterThan(due);
      spans.push({ due, took: end - due });
    }
    spans.sort((a, b) => a.due - b.due);
    // Due 10 ms apart, as the rate says; the slow one took its 50 ms.
    for (let i = 1; i < spans.length; i++) expect(spans[i].due - spans[i - 1].due).toBeCloseTo(10e6, -3);
    expect(Math.max(...spans.map((x) => x.took))).toBeGreaterThanOrEqual(50e6);
    // Without the option, none.
    expect(await runNativeOpenLoop({ origin, rate: 100, durationS: 0.1 })).not.toHaveProperty("windows");
  });

  it("reads chunked answers, and counts a status over 399 as an error", async () => {
    let n = 0;
    const origin = await listen(
      createServer((_req, res) => {
        res.statusCode = n++ % 2 === 0 ? 200 : 503;
        res.write("a".repeat(100));
        res.end("b");
      }),
    );
    const run = await runNativeOpenLoop({ origin, rate: 100, durationS: 0.2, connections: 1 });
    expect(run).toMatchObject({ completed: 20, ok: 10, errors: 10, statusCodes: { 200: 10, 503: 10 } });
  });

  it("reads answers without a body, and connects again after Connection: close", async () => {
    let connections = 0;
    const server = createServer((_req, res) => {
      res.statusCode = 204;
      res.setHeader("connection", "close");
      res.end();
    });
    server.on("connection", () => connections++);
    const origin = await listen(server);
    const run = await runNativeOpenLoop({ origin, rate: 100, durationS: 0.2, connections: 2 });
    expect(run).toMatchObject({ completed: 20, ok: 20, errors: 0, statusCodes: { 204: 20 } });
    // The two it starts with, and one in place of each one closed.
    expect(connections).toBe(22);
  });

  it("counts a connection closed before its answer, and a request that outlives its timeout", async () => {
    let n = 0;
    const origin = await listen(
      createNetServer((socket) => {
        socket.once("data", () => {
          // The first connection to ask is closed; the others never answer.
          if (n++ === 0) socket.destroy();
        });
      }),
    );
    const run = await runNativeOpenLoop({ origin, rate: 20, durationS: 0.2, connections: 4, timeoutMs: 200 });
    expect(run.completed).toBe(4);
    expect(run.errors).toBe(4);
    expect(run.errorCodes).toEqual({ closed: 1, timeout: 3 });
  });

  it("reads answers to HEAD, bodies larger than its buffer, and fails a chunk size that is not hex", async () => {
    const origin = await listen(
      createServer((req, res) => {
        if (req.url === "/big") return res.end("x".repeat(200_000));
        if (req.url === "/bad") {
          // A chunk size a signed parse would take as -6.
          res.socket.end("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n-6\r\nabc\r\n0\r\n\r\n");
          return;
        }
        res.setHeader("content-length", "100");
        res.end(req.method === "HEAD" ? undefined : "y".repeat(100));
      }),
    );
    const head = await runNativeOpenLoop({ origin, method: "HEAD", rate: 100, durationS: 0.1 });
    expect(head).toMatchObject({ completed: 10, ok: 10, errors: 0 });
    const big = await runNativeOpenLoop({ origin, path: "/big", rate: 100, durationS: 0.1 });
    expect(big).toMatchObject({ completed: 10, ok: 10, errors: 0 });
    const bad = await runNativeOpenLoop({ origin, path: "/bad", rate: 100, durationS: 0.1, connections: 1 });
    expect(bad).toMatchObject({ completed: 10, ok: 0, errors: 10, errorCodes: { protocol: 10 } });
  });

  it("rejects options out of range before it starts, naming the option", async () => {
    const origin = "http://127.0.0.1:1";
    await expect(runNativeOpenLoop({ origin, rate: 0, durationS: 1 })).rejects.toThrow(/rate must be > 0, got 0/);
    await expect(runNativeOpenLoop({ origin, rate: 1 })).rejects.toThrow(/durationS must be > 0/);
    await expect(runNativeOpenLoop({ origin, rate: 1, durationS: 1, connections: 5000 })).rejects.toThrow(
      /connections must be an integer from 1 to 1024, got 5000/,
    );
  });

  it("rejects an origin that is not an IP address, and says why", async () => {
    await expect(runNativeOpenLoop({ origin: "http://localhost:1", rate: 1, durationS: 1 })).rejects.toThrow(
      /must name an IP address/,
    );
  });
});
