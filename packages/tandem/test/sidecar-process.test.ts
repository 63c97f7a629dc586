import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, get } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, startSidecar } from "@tandem/testkit";
import { describe, expect, it } from "vitest";

function portOf(address: string): number {
  return Number(new URL(address).port);
}

describe("tandem sidecar process", () => {
  it("on SIGTERM turns unready, lets a slow in-flight request finish, and exits 0", async () => {
    const sidecar = await startSidecar();
    // A request whose body is still arriving is in flight until the last chunk.
    const socket = connect(portOf(sidecar.api), "127.0.0.1");
    let answer = "";
    socket.on("data", (c) => (answer += c.toString()));
    const closed = new Promise((r) => socket.on("close", r));
    socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    await new Promise((r) => setTimeout(r, 100));
    sidecar.kill("SIGTERM");
    // Readiness flips at once, while the request is still in flight.
    let ready = 200;
    for (let i = 0; i < 100 && ready === 200; i++) {
      ready = (await fetch(`${sidecar.admin}/readyz`)).status;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(ready).toBe(503);
    socket.write("0\r\n\r\n");
    await closed;
    expect(answer).toMatch(/^HTTP\/1.1 200/);
    expect(answer.toLowerCase()).toContain("connection: close");
    expect(await sidecar.exited).toEqual({ code: 0, signal: null });
    const events = sidecar.logs.map((l) => JSON.parse(l).event);
    expect(events).toEqual(["starting", "tracing_started", "ready", "draining", "stopped"]);
  });

  it("stops on POST /v1/shutdown with the token, and not without it", async () => {
    const sidecar = await startSidecar();
    const refused = await fetch(`${sidecar.admin}/v1/shutdown`, { method: "POST" });
    expect(refused.status).toBe(401);
    const accepted = await fetch(`${sidecar.admin}/v1/shutdown`, {
      method: "POST",
      headers: { authorization: `Bearer ${sidecar.token}` },
    });
    expect(accepted.status).toBe(202);
    expect(await sidecar.exited).toEqual({ code: 0, signal: null });
  });

  it("exits at once on a second signal", async () => {
    const sidecar = await startSidecar({ args: ["--drain-timeout", "30s"] });
    const socket = connect(portOf(sidecar.api), "127.0.0.1");
    socket.on("error", () => {});
    socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
    await new Promise((r) => setTimeout(r, 100));
    sidecar.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 100));
    sidecar.kill("SIGINT");
    expect(await sidecar.exited).toEqual({ code: 130, signal: null });
    socket.destroy();
  });

  it("never writes the token to its logs", async () => {
    const sidecar = await startSidecar();
    await fetch(`${sidecar.api}/v1/openapi.json`, { headers: { authorization: "Bearer wrong-token" } });
    // The paths that log: refusals, proxy refusals, handler errors.
    await fetch(`${sidecar.api}/v1/secrets/${encodeURIComponent("../x")}`, {
      headers: { authorization: `Bearer ${sidecar.token}` },
    });
    await fetch(`${sidecar.admin}/v1/shutdown`, { method: "POST", headers: { origin: "https://evil.example" } });
    await fetch(`${sidecar.api}/v1/openapi.json`, { headers: { authorization: `Bearer ${sidecar.token}` } });
    await sidecar.stop();
    expect(sidecar.logs.length).toBeGreaterThan(0);
    expect(sidecar.logs.join("\n")).not.toContain(sidecar.token as string);
  });

  it("runs with a small young generation, a single-threaded GC and no allocation-site pretenuring, unless NODE_OPTIONS says otherwise", async () => {
    const newSpaceBytes = async (admin: string) => {
      const text = await (await fetch(`${admin}/metrics`)).text();
      return Number(/^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)$/m.exec(text)?.[1]);
    };
    const small = await startSidecar();
    try {
      // And a GC without helper threads, which a sidecar's small CPU share would leave waiting.
      const args = readFileSync(`/proc/${small.pid}/cmdline`, "utf8").split("\0");
      expect(args).toContain("--single-threaded-gc");
      // And no allocation-site pretenuring, which would put request objects in the old generation.
      expect(args).toContain("--no-allocation-site-pretenuring");
      // Two semi-spaces of at most 4 MB (V8's default lets them grow to 16 MB each), and pages a
      // collection in progress may hold for a moment on a busy machine.
      expect(await newSpaceBytes(small.admin)).toBeGreaterThan(0);
      expect(await newSpaceBytes(small.admin)).toBeLessThanOrEqual(16 * 1024 * 1024);
    } finally {
      await small.stop();
    }
    const chosen = await startSidecar({ env: { NODE_OPTIONS: "--max_semi_space_size=16" } });
    try {
      const args = readFileSync(`/proc/${chosen.pid}/cmdline`, "utf8").split("\0");
      expect(args.filter((a) => a.includes("semi-space"))).toEqual([]);
    } finally {
      await chosen.stop();
    }
  });

  it("runs with one malloc arena and fixed trim and mmap thresholds, unless its environment says otherwise", async () => {
    const environ = (pid: number) => readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    const tuned = await startSidecar();
    try {
      expect(environ(tuned.pid)).toEqual(
        expect.arrayContaining(["MALLOC_ARENA_MAX=1", "MALLOC_TRIM_THRESHOLD_=131072", "MALLOC_MMAP_THRESHOLD_=32768"]),
      );
    } finally {
      await tuned.stop();
    }
    const chosen = await startSidecar({ env: { MALLOC_ARENA_MAX: "4" } });
    try {
      const malloc = environ(chosen.pid).filter((v) => v.startsWith("MALLOC_"));
      expect(malloc.sort()).toEqual([
        "MALLOC_ARENA_MAX=4",
        "MALLOC_MMAP_THRESHOLD_=32768",
        "MALLOC_TRIM_THRESHOLD_=131072",
      ]);
    } finally {
      await chosen.stop();
    }
  });

  it("loads undici's dispatchers, not the rest of undici nor HTTP/2, TLS or OpenSSL, and relays through them", async () => {
    const upstream = createServer((_req, res) => res.end("relayed"));
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    const dir = mkdtempSync(join(tmpdir(), "tandem-undici-"));
    const config = join(dir, "tandem.yaml");
    const { port } = upstream.address() as AddressInfo;
    writeFileSync(config, `upstreams:\n  upstream:\n    endpoints: [http://127.0.0.1:${port}]\n`);
    // On SIGUSR2 the sidecar's process writes which of undici's modules and of Node's it has loaded.
    const preload = `import { createRequire } from "node:module";
      process.on("SIGUSR2", () => process.stderr.write("undici modules " +
        JSON.stringify(Object.keys(createRequire("/").cache).filter((path) => path.includes("/undici/"))) + "\\n" +
        "node modules " + JSON.stringify(process.moduleLoadList) + "\\n"));`;
    const sidecar = await startSidecar({
      config,
      env: { NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(preload)}` },
    });
    try {
      const { port: apiPort, hostname } = new URL(sidecar.api);
      const answer = await new Promise<string>((resolve, reject) => {
        get(
          {
            host: hostname,
            port: apiPort,
            path: "http://upstream/",
            headers: { "proxy-authorization": `Bearer ${sidecar.token}` },
          },
          (res) => {
            let body = "";
            res.on("data", (chunk) => (body += chunk)).on("end", () => resolve(`${res.statusCode} ${body}`));
          },
        ).on("error", reject);
      });
      expect(answer).toBe("200 relayed");
      sidecar.kill("SIGUSR2");
      const reported = () => sidecar.logs.find((l) => l.startsWith("undici modules ")) ?? "";
      await eventually(() => expect(reported()).not.toBe(""));
      const line = reported();
      const loaded: string[] = JSON.parse(line.slice("undici modules ".length));
      expect(loaded.some((path) => path.endsWith("/undici/lib/dispatcher/pool.js"))).toBe(true);
      expect(loaded.filter((path) => path.endsWith("/undici/index.js") || path.includes("/lib/web/"))).toEqual([]);
      // Having authenticated and traced a request: no HTTP/2, TLS or crypto, which only h2 or
      // https upstreams need, and not Node's own bundle of undici, which an ES module import of
      // node:http would load.
      const builtins: string[] = JSON.parse(
        (sidecar.logs.find((l) => l.startsWith("node modules ")) ?? "").slice("node modules ".length),
      );
      expect(builtins).toContain("NativeModule http");
      expect(
        builtins.filter((name) => /^NativeModule (http2|tls|crypto|internal\/deps\/undici\/undici)$/.test(name)),
      ).toEqual([]);
    } finally {
      await sidecar.stop();
      upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gives back, once idle, the young generation its start grew (V8's memory reducer runs)", async () => {
    const sidecar = await startSidecar();
    try {
      // Nothing reaches the sidecar meanwhile: a request would make garbage, and a young
      // collection at a low allocation rate shrinks the young generation by itself. The reducer
      // looks every 8 s; without a C++ heap rate above 0 it never acts, and the two 4 MB
      // semi-spaces that starting grew stay (8 MB).
      await new Promise((r) => setTimeout(r, 20_000));
      const metrics = await (await fetch(`${sidecar.admin}/metrics`)).text();
      const young = Number(/^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)$/m.exec(metrics)?.[1]);
      expect(young).toBeGreaterThan(0);
      expect(young).toBeLessThanOrEqual(2 * 2 ** 20);
    } finally {
      await sidecar.stop();
    }
  }, 40_000);

  it.skipIf(process.platform !== "linux")(
    "sleeps when idle: its main thread wakes a few times a second at most",
    async () => {
      const sidecar = await startSidecar();
      const apiRequest = async () => {
        const res = await fetch(`${sidecar.api}/healthz`, { headers: { authorization: `Bearer ${sidecar.token}` } });
        expect(res.status).toBe(200);
      };
      try {
        // An API request starts the event-loop delay sampling (every 10 ms); it stops 2 s after the last one.
        await apiRequest();
        await new Promise((r) => setTimeout(r, 5000));
        const sleeps = () => {
          const status = readFileSync(`/proc/${sidecar.pid}/task/${sidecar.pid}/status`, "utf8");
          return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)?.[1]);
        };
        const before = sleeps();
        await new Promise((r) => setTimeout(r, 3000));
        // Sampling the event-loop delay all the time woke it 100 times a second.
        expect(sleeps() - before).toBeLessThan(30);
        // The next request is sampled again; a scrape on the admin listener does not start it.
        await apiRequest();
        await new Promise((r) => setTimeout(r, 100));
        const metrics = await (await fetch(`${sidecar.admin}/metrics`)).text();
        expect(Number(/^nodejs_eventloop_lag_p50_seconds (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
      } finally {
        await sidecar.stop();
      }
    },
    20_000,
  );

  it("gives back the memory its start took when NODE_OPTIONS exposes gc, and serves as before", async () => {
    const sidecar = await startSidecar({ env: { NODE_OPTIONS: "--expose-gc" } });
    try {
      await eventually(() => expect(sidecar.logs.some((l) => l.includes("startup_memory_released"))).toBe(true));
      const line = sidecar.logs.map((l) => JSON.parse(l)).find((l) => l.event === "startup_memory_released");
      expect(line.heapTotalAfter).toBeLessThan(line.heapTotalBefore);
      expect((await fetch(`${sidecar.admin}/readyz`)).status).toBe(200);
      const health = await fetch(`${sidecar.api}/healthz`, { headers: { authorization: `Bearer ${sidecar.token}` } });
      expect(health.status).toBe(200);
    } finally {
      await sidecar.stop();
    }
  });

  it("serves on a unix socket", async () => {
    const sidecar = await startSidecar({ unixSocket: true });
    expect(sidecar.api).toMatch(/^unix:\/.*api\.sock$/);
    await sidecar.stop();
  });

  it("serves the OpenAPI document committed in docs/openapi.json", async () => {
    const sidecar = await startSidecar();
    const served = await (
      await fetch(`${sidecar.api}/v1/openapi.json`, { headers: { authorization: `Bearer ${sidecar.token}` } })
    ).json();
    await sidecar.stop();
    const committed = JSON.parse(readFileSync(new URL("../../../docs/openapi.json", import.meta.url), "utf8"));
    // Regenerate with `pnpm openapi` after changing a route.
    expect(committed).toEqual(served);
  });
});
