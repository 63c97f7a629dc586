import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configConcern } from "@tandem/config";
import { type ServerSentEvent, SidecarClient } from "@tandem/core";
import { Sidecar } from "@tandem/sidecar";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";

const SECRET = "s3cr3t-value-do-not-log";
let sidecar: Sidecar | undefined;
afterEach(async () => {
  await sidecar?.stop("test");
});

async function start() {
  const dir = mkdtempSync(join(tmpdir(), "tandem-routes-"));
  mkdirSync(join(dir, "secrets"));
  writeFileSync(join(dir, "secrets", "db-password"), SECRET);
  const file = join(dir, "tandem.yaml");
  const config = (n: number) =>
    `secrets: { dir: ${JSON.stringify(join(dir, "secrets"))} }\napp:\n  n: ${n}\n  dsn: "x:\${secret:db-password}"\n`;
  writeFileSync(file, config(1));
  const lines: string[] = [];
  sidecar = await Sidecar.start({
    api: { kind: "tcp", host: "127.0.0.1", port: 0 },
    admin: { kind: "tcp", host: "127.0.0.1", port: 0 },
    token: "tok",
    configPath: file,
    concerns: [configConcern],
    logger: pino({}, { write: (l: string) => lines.push(l) }),
  });
  const port = sidecar.api.kind === "tcp" ? sidecar.api.port : 0;
  const client = new SidecarClient({
    address: { kind: "tcp", origin: `http://127.0.0.1:${port}`, host: "127.0.0.1", port },
    token: "tok",
  });
  return { client, lines, base: `http://127.0.0.1:${port}`, rewrite: (n: number) => writeFileSync(file, config(n)) };
}

describe("config routes", () => {
  it("serves the config with secret references, never secret values", async () => {
    const { client } = await start();
    const body = await client.get<Record<string, unknown>>("/v1/config");
    expect(body).toMatchObject({ generation: 1, secretNames: ["db-password"], secretPaths: ["app.dsn"] });
    expect(JSON.stringify(body)).not.toContain(SECRET);
    expect((body.values as { app: { dsn: string } }).app.dsn).toBe("x:${secret:db-password}");
    await client.close();
  });

  it("serves a secret by name, logs the read without the value, and refuses bad names", async () => {
    const { client, lines, base } = await start();
    expect(await client.get("/v1/secrets/db-password")).toEqual({ name: "db-password", value: SECRET });
    expect(await client.get("/v1/secrets")).toEqual({ names: ["db-password"] });
    const audit = lines.map((l) => JSON.parse(l)).find((l) => l.event === "secret_read");
    expect(audit).toMatchObject({ name: "db-password" });
    expect(lines.join("\n")).not.toContain(SECRET);
    await expect(client.get("/v1/secrets/nope")).rejects.toMatchObject({ code: "not_found", status: 404 });
    for (const hostile of ["..%2F..%2Fetc%2Fpasswd", "..", "%2E%2E", "a%00b"]) {
      const res = await fetch(`${base}/v1/secrets/${hostile}`, { headers: { authorization: "Bearer tok" } });
      expect([400, 404]).toContain(res.status);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
    const noToken = await fetch(`${base}/v1/secrets/db-password`);
    expect(noToken.status).toBe(401);
    await client.close();
  });

  it("streams a config event after each applied change, resumable with Last-Event-ID", async () => {
    const { client, rewrite } = await start();
    const events: ServerSentEvent[] = [];
    const stream = client.events("/v1/config/events", { onEvent: (e) => events.push(e) });
    await new Promise((r) => setTimeout(r, 100));
    rewrite(2);
    while (events.length < 1) await new Promise((r) => setTimeout(r, 10));
    expect(events[0]).toMatchObject({ event: "config", id: expect.stringMatching(/^[0-9a-f]{8}-1$/) });
    expect(JSON.parse(events[0]!.data)).toEqual({ generation: 2 });
    stream.close();
    // A change while the client is away reaches it on resume.
    await new Promise((r) => setTimeout(r, 50));
    rewrite(3);
    await new Promise((r) => setTimeout(r, 300));
    const replay: ServerSentEvent[] = [];
    const resumed = client.events("/v1/config/events", {
      onEvent: (e) => replay.push(e),
      lastEventId: events[0]!.id as string,
    });
    while (replay.length < 1) await new Promise((r) => setTimeout(r, 10));
    expect(JSON.parse(replay[0]!.data)).toEqual({ generation: 3 });
    resumed.close();
    await client.close();
  });
});
