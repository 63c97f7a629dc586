// Attacks on a real sidecar process: the token on every /v1 route, the Host check, SSRF through
// the forward proxy, and a canary secret searched for in everything the suite sees.
import { readFileSync } from "node:fs";
import {
  CANARY,
  CONFORMANCE_FLAGS,
  ConfigMapFixture,
  eventually,
  type StartedSidecar,
  startSidecar,
} from "@tandem/testkit";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  attackConfig,
  expectProblem,
  leaks,
  type RecordingUpstream,
  rawRequest,
  startRecordingUpstream,
  startTripwire,
  type Tripwire,
} from "./support/attacks.js";

let sidecar: StartedSidecar;
let echo: RecordingUpstream;
let bouncer: RecordingUpstream;
let tripwire: Tripwire;
let tripwire6: Tripwire | undefined;
let fixture: ConfigMapFixture;
let routes: { method: string; path: string; listener: "api" | "admin" }[] = [];
/** Every answer body and scrape the file sees, searched for the canary at the end. */
const seen: { where: string; text: string }[] = [];

const portOf = (url: string) => Number(new URL(url).port);

beforeAll(async () => {
  echo = await startRecordingUpstream();
  bouncer = await startRecordingUpstream();
  tripwire = await startTripwire();
  tripwire6 = await startTripwire("::1").catch(() => undefined);
  bouncer.answer = () => ({ status: 302, headers: { location: `http://127.0.0.1:${tripwire.port}/stolen` } });
  fixture = new ConfigMapFixture();
  fixture.writeSecret("db-password", CANARY);
  fixture.swap({
    "tandem.yaml": attackConfig(fixture.secretsDir, echo.url, bouncer.url),
    "flags.json": JSON.stringify(CONFORMANCE_FLAGS),
  });
  sidecar = await startSidecar({ config: fixture.path("tandem.yaml") });
  const doc = (await (
    await request(`${sidecar.api}/v1/openapi.json`, { headers: { authorization: `Bearer ${sidecar.token}` } })
  ).body.json()) as { paths: Record<string, Record<string, Record<string, unknown>>> };
  routes = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).flatMap(([method, op]) =>
      ((op["x-tandem-listeners"] as ("api" | "admin")[] | undefined) ?? ["api"]).map((listener) => ({
        method: method.toUpperCase(),
        path: path.replace(/\{[^}]+\}/g, "db-password"),
        listener,
      })),
    ),
  );
});

afterAll(async () => {
  await sidecar?.stop();
  await echo?.close();
  await bouncer?.close();
  await tripwire?.close();
  await tripwire6?.close();
  fixture?.remove();
});

/** One request on a fresh connection; the answer is kept for the canary search. */
async function call(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string | undefined; text: string; headers: Record<string, unknown> }> {
  const res = await request(`${base}${path}`, { method: method as "GET", headers, reset: true });
  const type = res.headers["content-type"] as string | undefined;
  let text = "";
  if (type?.startsWith("text/event-stream") === true) res.body.destroy();
  else text = await res.body.text();
  seen.push({ where: `${method} ${path} -> ${res.statusCode}`, text });
  return { status: res.statusCode, type, text, headers: res.headers };
}

describe("the token", () => {
  it("refuses every /v1 route, unknown ones too, without a token or with a wrong one, before routing", async () => {
    const v1 = routes.filter((r) => r.path.startsWith("/v1/"));
    expect(v1.length).toBeGreaterThanOrEqual(12);
    const token = sidecar.token as string;
    const same = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    const wrong: Record<string, Record<string, string>> = {
      none: {},
      "wrong, same length": { authorization: `Bearer ${same}` },
      "wrong, shorter": { authorization: `Bearer ${token.slice(0, 8)}` },
      "wrong, longer": { authorization: `Bearer ${token}${token}` },
      "empty bearer": { authorization: "Bearer " },
      "lower-case scheme": { authorization: `bearer ${token}` },
      "basic scheme": { authorization: `Basic ${Buffer.from(`x:${token}`).toString("base64")}` },
      "two spaces after the scheme": { authorization: `Bearer  ${token}` },
      "token as Proxy-Authorization only": { "proxy-authorization": `Bearer ${token}` },
      "huge header": { authorization: `Bearer ${"x".repeat(12_000)}` },
    };
    // Unknown paths and wrong methods must not tell an unauthenticated client what exists.
    const probes = [
      ...v1,
      { method: "GET", path: "/v1/no-such-route", listener: "api" as const },
      { method: "DELETE", path: "/v1/secrets/db-password", listener: "api" as const },
      { method: "GET", path: "/v1", listener: "api" as const },
      { method: "GET", path: "/v1/shutdown", listener: "admin" as const },
    ];
    for (const route of probes) {
      for (const [name, headers] of Object.entries(wrong)) {
        const base = route.listener === "admin" ? sidecar.admin : sidecar.api;
        const answer = await call(base, route.method, route.path, headers);
        const context = `${route.method} ${route.path} (${route.listener}), ${name}`;
        expect(answer.status, context).toBe(401);
        expectProblem(401, answer.type, answer.text, context);
        expect(answer.headers["www-authenticate"]).toBe('Bearer realm="tandem"');
      }
    }
    // The sidecar is still up: POST /v1/shutdown without the token did nothing.
    expect((await call(sidecar.admin, "GET", "/readyz")).status).toBe(200);
  });

  it("is compared in constant time, every character whatever the header, nowhere with ===", () => {
    // A timing measurement would be flaky on a shared machine: the code is checked instead.
    const source = readFileSync(new URL("../../../packages/sidecar/src/internal/auth.ts", import.meta.url), "utf8");
    const body =
      /\n {2}matches\(header: string \| undefined\): boolean \{\n([\s\S]*?)\n {2}\}\n/.exec(source)?.[1] ?? "";
    // One loop over the expected value that only accumulates differences (the header's index
    // wrapping at its end by a mask), and one return, after it.
    expect(body).toMatch(
      /for \(let i = 0, j = 0; i < expected\.length; i\+\+\) \{\s*difference \|= expected\.charCodeAt\(i\) \^ given\.charCodeAt\(j\);\s*j = \(j \+ 1\) & -Number\(j \+ 1 < length\);\s*\}\s*return difference === 0;$/,
    );
    // No other way out of it, and no branch on what the header holds.
    expect(body.match(/\breturn\b/g)).toHaveLength(1);
    expect(body.replace('header ?? ""', "")).not.toMatch(/\bbreak\b|\bif\b|\?/);
    expect(body).not.toMatch(
      /(expected|given|header)\s*[!=]==|[!=]==\s*(expected|given|header)|startsWith|indexOf|Compare/,
    );
    const sidecarSource = readFileSync(new URL("../../../packages/sidecar/src/sidecar.ts", import.meta.url), "utf8");
    // The configured token is used only to build the TokenCheck, and the TokenCheck only to match.
    const uses = [...sidecarSource.matchAll(/options\.token\b.{0,20}/g)].map((m) => m[0]);
    expect(uses.length).toBeGreaterThan(0);
    for (const use of uses) expect(use).toMatch(/^options\.token( === (undefined|"")|\))/);
    const checks = [...sidecarSource.matchAll(/this\.#token\b.{0,14}/g)].map((m) => m[0]);
    expect(checks.some((c) => c.startsWith("this.#token.matches("))).toBe(true);
    for (const check of checks) expect(check).toMatch(/^this\.#token( = |\.matches\(| !== undefined)/);
  });
});

describe("the Host check", () => {
  it("refuses a Host that is not a loopback name, on both listeners, token or not", async () => {
    const api = portOf(sidecar.api);
    const admin = portOf(sidecar.admin);
    const hosts = [
      "evil.example",
      `evil.example:${api}`,
      `10.0.0.1:${api}`,
      "10.0.0.1",
      "192.168.1.10",
      "localhost.evil.example",
      "127.0.0.1.nip.io",
      "[::ffff:10.0.0.1]",
      "0x0a000001",
      "evil.example@localhost",
    ];
    for (const port of [api, admin]) {
      for (const host of hosts) {
        for (const path of ["/readyz", "/v1/config"]) {
          const answer = await rawRequest(
            port,
            `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${sidecar.token}\r\nConnection: close\r\n\r\n`,
          );
          seen.push({ where: `Host ${host} ${path}`, text: answer.raw });
          expect(answer.status, `${host} ${path} on ${port}`).toBe(403);
          expectProblem(403, answer.headers["content-type"], answer.body, host);
          expect(answer.body).not.toContain('"generation"');
        }
      }
    }
    for (const host of ["localhost", `127.0.0.1:${api}`, `[::1]:${api}`, "LOCALHOST"]) {
      const ok = await rawRequest(api, `GET /readyz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(ok.status, host).toBe(200);
    }
  });
});

describe("the forward proxy and SSRF", () => {
  const proxied = (target: string, extra = "") =>
    rawRequest(
      portOf(sidecar.api),
      `GET ${target} HTTP/1.1\r\nHost: ${new URL(target).host}\r\nProxy-Authorization: Bearer ${sidecar.token}\r\n${extra}Connection: close\r\n\r\n`,
    );

  it("reaches a configured upstream, and nothing else: other hosts, IP literals, localhost, its own ports", async () => {
    const ok = await proxied("http://echo/ping");
    expect(ok.status).toBe(200);
    expect(echo.received.at(-1)?.url).toBe("/ping");
    const wire = tripwire.port;
    const targets = [
      "http://evil.example/",
      "http://payments/",
      `http://127.0.0.1:${wire}/`,
      "http://127.0.0.1/",
      `http://[::1]:${tripwire6?.port ?? wire}/`,
      "http://169.254.169.254/latest/meta-data/",
      `http://0.0.0.0:${wire}/`,
      `http://2130706433:${wire}/`,
      `http://0x7f.1:${wire}/`,
      `http://0177.0.0.1:${wire}/`,
      `http://127.1:${wire}/`,
      `http://[::ffff:127.0.0.1]:${wire}/`,
      `http://localhost:${wire}/`,
      "http://localhost./",
      `http://LOCALHOST:${wire}/`,
      `http://localhost:${portOf(sidecar.api)}/v1/config`,
      `http://localhost:${portOf(sidecar.admin)}/metrics`,
      `http://127.0.0.1:${portOf(sidecar.admin)}/v1/shutdown`,
      `http://echo:${wire}/`,
      `http://echo.:${wire}/`,
      `http://user@echo/`,
      `http://echo@127.0.0.1:${wire}/`,
      `https://echo/`,
    ];
    for (const target of targets) {
      const before = echo.received.length;
      const answer = await proxied(target);
      seen.push({ where: `proxy ${target}`, text: answer.raw });
      expect(answer.status, `${target}: ${answer.raw.slice(0, 200)}`).toBe(403);
      expectProblem(403, answer.headers["content-type"], answer.body, target);
      expect(JSON.parse(answer.body).detail).toMatch(/does not reach .*(not a configured upstream|only http)/);
      expect(echo.received.length, target).toBe(before);
    }
    // CONNECT tunnels are refused too.
    const tunnel = await rawRequest(
      portOf(sidecar.api),
      `CONNECT 127.0.0.1:${wire} HTTP/1.1\r\nHost: 127.0.0.1:${wire}\r\nProxy-Authorization: Bearer ${sidecar.token}\r\n\r\n`,
    );
    expect(tunnel.status).toBe(403);
    expectProblem(403, tunnel.headers["content-type"], tunnel.body, "CONNECT");
    expect(tripwire.hits).toBe(0);
    expect(tripwire6?.hits ?? 0).toBe(0);
    expect((await call(sidecar.admin, "GET", "/readyz")).status).toBe(200);
  });

  it("passes an upstream's redirect to another host back to the client without following it", async () => {
    const answer = await proxied("http://bouncer/login");
    expect(answer.status).toBe(302);
    expect(answer.headers.location).toBe(`http://127.0.0.1:${tripwire.port}/stolen`);
    // A client that follows it through the proxy is refused.
    const follow = await proxied(answer.headers.location as string);
    expect(follow.status).toBe(403);
    expect(bouncer.received.filter((r) => r.url === "/login")).toHaveLength(1);
    expect(tripwire.hits).toBe(0);
  });

  it("asks for the token in Proxy-Authorization before saying anything about a target", async () => {
    for (const target of ["http://echo/", "http://evil.example/", `http://127.0.0.1:${tripwire.port}/`]) {
      const answer = await rawRequest(
        portOf(sidecar.api),
        `GET ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${sidecar.token}\r\nConnection: close\r\n\r\n`,
      );
      expect(answer.status, target).toBe(407);
      expectProblem(407, answer.headers["content-type"], answer.body, target);
    }
    expect(tripwire.hits).toBe(0);
  });
});

describe("the canary secret", () => {
  it("is redacted where a hostile client or a bad config puts it", async () => {
    // In request headers and a wrong token.
    await call(sidecar.api, "GET", "/v1/config", { authorization: `Bearer ${sidecar.token}`, "x-canary": CANARY });
    await call(sidecar.api, "GET", "/v1/config", { authorization: `Bearer ${CANARY}` });
    // In a proxied request's headers (they belong to the upstream, which gets them).
    await rawRequest(
      portOf(sidecar.api),
      `GET http://echo/c HTTP/1.1\r\nHost: echo\r\nProxy-Authorization: Bearer ${sidecar.token}\r\nX-Canary: ${CANARY}\r\nConnection: close\r\n\r\n`,
    );
    // In a log line an application ships: the sidecar redacts its secret values.
    const shipped = await request(`${sidecar.api}/v1/logs`, {
      method: "POST",
      headers: { authorization: `Bearer ${sidecar.token}`, "content-type": "application/x-ndjson" },
      body: `${JSON.stringify({ level: 30, msg: `connecting with ${CANARY}`, nested: { dsn: `pg://u:${CANARY}@db` } })}\n`,
    });
    expect(shipped.statusCode).toBe(204);
    await shipped.body.dump();
    // In a config change the sidecar rejects: the problems it logs name paths, not values.
    fixture.swap({
      "tandem.yaml": `${attackConfig(fixture.secretsDir, echo.url, bouncer.url)}  maxItems: "${CANARY}"\nbogus${CANARY}: ${CANARY}\ntelemetry: { logs: { level: "${CANARY}" } }\n`,
      "flags.json": JSON.stringify(CONFORMANCE_FLAGS),
    });
    await eventually(async () => {
      const config = await call(sidecar.api, "GET", "/v1/config", { authorization: `Bearer ${sidecar.token}` });
      expect(JSON.parse(config.text).reloads.rejected).toBeGreaterThanOrEqual(1);
    }, 10_000);
    expect(sidecar.logs.some((l) => l.includes("connecting with"))).toBe(true);
    // The app's lines arrived, and the rejection was logged, both without the value.
    expect(sidecar.logs.join("\n")).toContain("[redacted]");
  });

  it("appears in no log line, answer, scrape or config dump, in any encoding", async () => {
    const auth = { authorization: `Bearer ${sidecar.token}` };
    await call(sidecar.api, "GET", "/v1/config", auth);
    await call(sidecar.api, "GET", "/v1/secrets", auth);
    await call(sidecar.api, "GET", "/v1/flags", auth);
    await call(sidecar.api, "GET", "/v1/resilience/state", auth);
    await call(sidecar.api, "GET", "/v1/openapi.json", auth);
    await call(sidecar.api, "GET", "/v1/metrics", auth);
    await call(sidecar.admin, "GET", "/metrics");
    await call(sidecar.admin, "GET", "/metrics", { accept: "application/openmetrics-text; version=1.0.0" });
    // The one place the value may leave: the secret route, to a client with the token.
    const read = await request(`${sidecar.api}/v1/secrets/db-password`, { headers: auth });
    expect(await read.body.text()).toContain(CANARY);
    const config = JSON.parse(seen.find((s) => s.where.startsWith("GET /v1/config -> 200"))?.text ?? "{}");
    expect(config.secretNames).toContain("db-password");
    await sidecar.stop();
    const logs = sidecar.logs.map((line, i) => ({ where: `log line ${i}`, text: line }));
    expect(logs.length).toBeGreaterThan(5);
    expect(seen.length).toBeGreaterThan(50);
    expect(leaks(CANARY, [...logs, ...seen])).toEqual([]);
    // Nor the token (hashed compare, never logged).
    expect(leaks(sidecar.token as string, logs)).toEqual([]);
  });
});
