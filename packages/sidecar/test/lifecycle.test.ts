import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Concern, type ServerSentEvent, SidecarClient } from "@tandem/core";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { startInProcess } from "./helpers.js";

let stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(stops.map((s) => s()));
  stops = [];
});

function slowConcern(closed: string[]): Concern {
  return {
    name: "slow",
    local: async () => ({ facets: {}, close: async () => void closed.push("slow") }),
    remote: async () => ({ facets: {} }),
    routes: () => [
      {
        method: "GET",
        path: "/v1/slow",
        tag: "slow",
        summary: "Answers after ?ms milliseconds.",
        responses: { 200: { description: "Done." } },
        handler: async ({ query }) => {
          await new Promise((r) => setTimeout(r, Number(query.get("ms") ?? 100)));
          return { body: { done: true } };
        },
      },
    ],
  };
}

describe("sidecar lifecycle", () => {
  it("drains: readiness turns 503 at once, the slow in-flight request completes, concerns close, then it stops", async () => {
    const closed: string[] = [];
    const { sidecar, api, admin, lines } = await startInProcess({}, [slowConcern(closed)]);
    const slow = fetch(`${api}/v1/slow?ms=400`);
    await new Promise((r) => setTimeout(r, 50));
    const stopping = sidecar.stop("SIGTERM");
    expect(sidecar.state).toBe("draining");
    const ready = await fetch(`${admin}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: "draining" });
    expect(closed).toEqual([]);
    const answer = await slow;
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ done: true });
    await stopping;
    expect(sidecar.state).toBe("stopped");
    expect(closed).toEqual(["slow"]);
    await expect(fetch(`${api}/readyz`)).rejects.toThrow();
    const events = lines.map((l) => l.event);
    expect(events).toEqual(["starting", "ready", "draining", "stopped"]);
    expect(lines.at(-1)).toMatchObject({ drained: true, abandoned: 0 });
  });

  it("gives up on requests that outlast the drain deadline, and says so", async () => {
    const { sidecar, api, lines } = await startInProcess({ drainTimeoutMs: 100 }, [slowConcern([])]);
    const slow = fetch(`${api}/v1/slow?ms=5000`).catch((e) => e);
    await new Promise((r) => setTimeout(r, 50));
    await sidecar.stop("SIGTERM");
    expect(await slow).toBeInstanceOf(Error);
    expect(lines.at(-1)).toMatchObject({ event: "stopped", drained: false, abandoned: 1 });
  });

  it("streams lifecycle events over SSE, ends the stream on drain without waiting for it", async () => {
    const { sidecar, apiPort, lines } = await startInProcess({ token: "tok", drainTimeoutMs: 5000 });
    const client = new SidecarClient({
      address: { kind: "tcp", origin: `http://127.0.0.1:${apiPort}`, host: "127.0.0.1", port: apiPort },
      token: "tok",
    });
    const events: ServerSentEvent[] = [];
    let opened = false;
    const stream = client.events("/v1/lifecycle/events", {
      onEvent: (e) => events.push(e),
      onOpen: () => {
        opened = true;
      },
      retryMs: 10_000,
    });
    while (!opened) await new Promise((r) => setTimeout(r, 5));
    await sidecar.stop("test");
    while (events.length < 1) await new Promise((r) => setTimeout(r, 5));
    stream.close();
    await client.close();
    expect(events.map((e) => [e.event, JSON.parse(e.data)])).toEqual([["draining", { reason: "test" }]]);
    // The open stream was not waited for as in-flight work.
    expect(lines.at(-1)).toMatchObject({ event: "stopped", drained: true, abandoned: 0 });
    expect(lines.at(-1)?.ms as number).toBeLessThan(5000);
    expect(events[0]?.id).toMatch(/^[0-9a-f]{8}-2$/);
  });

  it("creates its unix socket 0600 and removes it on stop", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "tandem-uds-")), "api.sock");
    const { sidecar } = await startInProcess({ api: { kind: "unix", path } });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const client = new SidecarClient({ address: { kind: "unix", path } });
    expect(await client.get("/readyz")).toMatchObject({ status: "ready" });
    await client.close();
    await sidecar.stop("test");
    expect(existsSync(path)).toBe(false);
  });

  it("takes over a stale socket file left by a crash, but not a live one", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "tandem-uds-")), "api.sock");
    // A socket file nobody listens on, as a kill -9 leaves it.
    execFileSync(process.execPath, [
      "-e",
      `require("net").createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`,
    ]);
    expect(existsSync(path)).toBe(true);
    const first = await startInProcess({ api: { kind: "unix", path } });
    stops.push(() => first.sidecar.stop("test"));
    await expect(startInProcess({ api: { kind: "unix", path } })).rejects.toThrow(/cannot listen on .*EADDRINUSE/);
  });
});

describe("OpenAPI document", () => {
  it("documents every route served, with its body schema and security", async () => {
    const { sidecar } = await startInProcess({}, [slowConcern([])]);
    stops.push(() => sidecar.stop("test"));
    const doc = sidecar.openapi();
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        "/healthz",
        "/metrics",
        "/readyz",
        "/v1/lifecycle/events",
        "/v1/openapi.json",
        "/v1/shutdown",
        "/v1/slow",
      ].sort(),
    );
    const readyz = doc.paths["/readyz"]?.get as Record<string, unknown>;
    expect(readyz["x-tandem-listeners"]).toEqual(["api", "admin"]);
    expect(readyz.security).toEqual([]);
    const shutdown = doc.paths["/v1/shutdown"]?.post as Record<string, unknown>;
    expect(shutdown.security).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(shutdown.responses as object)).toContain("401");
  });

  it("turns a zod body schema into JSON Schema", async () => {
    const concern: Concern = {
      name: "typed",
      local: async () => ({ facets: {} }),
      remote: async () => ({ facets: {} }),
      routes: () => [
        {
          method: "POST",
          path: "/v1/typed",
          tag: "typed",
          summary: "Typed.",
          body: z.object({ name: z.string(), n: z.number().int().optional() }),
          responses: { 200: { description: "ok" } },
          handler: () => ({ body: {} }),
        },
      ],
    };
    const { sidecar } = await startInProcess({}, [concern]);
    stops.push(() => sidecar.stop("test"));
    const op = sidecar.openapi().paths["/v1/typed"]?.post as {
      requestBody: { content: Record<string, { schema: unknown }> };
    };
    expect(op.requestBody.content["application/json"]?.schema).toMatchObject({
      type: "object",
      properties: { name: { type: "string" }, n: { type: "integer" } },
      required: ["name"],
    });
  });
});

describe("admin /metrics", () => {
  it("serves Prometheus text and OpenMetrics that promtool accepts", async (ctx) => {
    const promtool = spawnSync("promtool", ["--version"]);
    if (promtool.error !== undefined) {
      ctx.skip("promtool is not installed (Debian package prometheus)");
    }
    const { sidecar, admin } = await startInProcess({});
    stops.push(() => sidecar.stop("test"));
    const text = await fetch(`${admin}/metrics`);
    expect(text.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    const body = await text.text();
    expect(body).toContain("tandem_sidecar_ready 1");
    expect(body).toContain("process_resident_memory_bytes");
    const check = spawnSync("promtool", ["check", "metrics"], { input: body });
    expect(check.stderr.toString() + check.stdout.toString()).toBe("");
    expect(check.status).toBe(0);
    const om = await fetch(`${admin}/metrics`, { headers: { accept: "application/openmetrics-text; version=1.0.0" } });
    expect(om.headers.get("content-type")).toContain("application/openmetrics-text");
    expect(await om.text()).toMatch(/# EOF\n$/);
    // A text scrape after an OpenMetrics one is still valid text (counters keep _total).
    const again = await (await fetch(`${admin}/metrics`)).text();
    expect(again).toContain("process_cpu_seconds_total");
    const recheck = spawnSync("promtool", ["check", "metrics"], { input: again });
    expect(recheck.stderr.toString() + recheck.stdout.toString()).toBe("");
  });
});
