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
    expect(run.latency.p50).toBeGreaterThan(0);
    // 100 requests at 200 req/s take half a second, however fast the answers are.
    expect(run.achievedRate).toBeLessThanOrEqual(200);
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

  it("rejects an origin that is not an IP address, and says why", async () => {
    await expect(runNativeOpenLoop({ origin: "http://localhost:1", rate: 1, durationS: 1 })).rejects.toThrow(
      /must name an IP address/,
    );
  });
});
