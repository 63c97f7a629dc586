import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configReference, loadConfig, parseConfig, tandemJsonSchema } from "@tandem/config";
import { ConfigError } from "@tandem/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";

const dir = mkdtempSync(join(tmpdir(), "tandem-loader-"));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function problems(text: string, sources = {}): Promise<{ path: string; message: string; received?: string }[]> {
  const error = await parseConfig(text, sources).catch((e) => e);
  expect(error).toBeInstanceOf(ConfigError);
  return error.details.issues;
}

describe("loadConfig", () => {
  it("starts from safe defaults with no file at all", async () => {
    const { values: config } = await loadConfig({});
    expect(config).toMatchObject({
      service: "unknown_service",
      upstreams: {},
      policies: {},
      secrets: {},
      app: {},
      telemetry: { logs: { level: "info", sinks: ["stdout"] }, traces: { sampler: "parentbased_always_on", ratio: 1 } },
    });
  });

  it("reads the design's example file and applies defaults, durations in milliseconds", async () => {
    const { values: config } = await loadConfig({
      file: file(
        "tandem.yaml",
        `service: orders
upstreams:
  payments:
    endpoints: [http://127.0.0.1:7001, http://127.0.0.1:7002]
    loadBalancer: least-request
    timeout: { attempt: 2s, total: 10s }
    retry: { attempts: 3, backoff: { base: 25ms, max: 1s }, on: [connect-error, 502, 503, 504, 429], budget: { ratio: 0.2, minPerSecond: 10 } }
    circuitBreaker: { failureRatio: 0.5, minThroughput: 20, window: 10s, breakFor: 5s, halfOpenProbes: 3 }
    outlierDetection: { consecutive5xx: 5, baseEjection: 30s, maxEjectionPercent: 50 }
    bulkhead: { maxConcurrent: 100, maxQueued: 50 }
    rateLimit: { rps: 1000, burst: 100 }
    hedging: { after: p95, maxHedges: 1 }
policies:
  db: { timeout: 500ms, retry: { attempts: 2 }, circuitBreaker: { consecutiveFailures: 5, breakFor: 10s } }
telemetry:
  metrics: { prefix: "" }
  traces: { sampler: parentbased_traceidratio, ratio: 1.0, export: { otlp: "http://collector:4318" } }
  logs: { level: info, sinks: [stdout] }
flags: { source: ./flags.json }
secrets: { dir: /var/run/secrets/app }
app:
  maxItems: 50
`,
      ),
    });
    expect(config.upstreams.payments?.timeout).toEqual({ attempt: 2000, total: 10_000 });
    expect(config.upstreams.payments?.retry?.backoff).toEqual({ base: 25, max: 1000 });
    expect(config.policies.db?.retry).toMatchObject({ attempts: 2, backoff: { base: 25, max: 1000 } });
    expect(config.policies.db?.circuitBreaker).toMatchObject({
      consecutiveFailures: 5,
      breakFor: 10_000,
      window: 10_000,
    });
    expect(config.app).toEqual({ maxItems: 50 });
  });

  it("lists every problem with its path, what was expected and what it got", async () => {
    const issues = await problems(`upstreams:
  payments:
    endpoints: ["ftp://x"]
    timeout: { attempt: 2 seconds }
    retry: { attempts: 30 }
    bogus: 1
`);
    expect(issues).toEqual([
      {
        path: "upstreams.payments.endpoints[0]",
        message: "expected an http:// or https:// URL",
        received: '"ftp://x"',
      },
      {
        path: "upstreams.payments.timeout.attempt",
        message: "expected a duration such as 250ms, 2s, 1m or 1h",
        received: '"2 seconds"',
      },
      { path: "upstreams.payments.retry.attempts", message: expect.stringContaining("<=10"), received: "30" },
      { path: "upstreams.payments", message: 'Unrecognized key: "bogus"' },
    ]);
  });

  it("takes DNS servers for a dns: upstream only, as IP or IP:PORT", async () => {
    const { values } = await parseConfig(
      "upstreams:\n  a: { dns: svc.test:8080, dnsResolvers: [127.0.0.1:8600, '::1', '[::1]:53'] }\n",
      {},
    );
    expect(values.upstreams.a?.dnsResolvers).toEqual(["127.0.0.1:8600", "::1", "[::1]:53"]);
    expect(
      await problems("upstreams:\n  a: { endpoints: [http://127.0.0.1:1], dnsResolvers: [127.0.0.1] }\n"),
    ).toMatchObject([{ path: "upstreams.a.dnsResolvers", message: "dnsResolvers needs dns: they resolve its name" }]);
    expect(await problems("upstreams:\n  a: { dns: svc.test:80, dnsResolvers: [consul.local] }\n")).toMatchObject([
      { path: "upstreams.a.dnsResolvers[0]", message: "expected an IP address, IP:PORT or [IPv6]:PORT" },
    ]);
  });

  it("puts every problem in the message too, one line each", async () => {
    const error = await parseConfig("service: 5\npolicies: []\n", { file: "tandem.yaml" }).catch((e) => e);
    expect(error.message).toBe(
      "tandem.yaml is invalid, 2 problems:\n  - service: Invalid input: expected string, received number (got 5)\n  - policies: Invalid input: expected record, received array (got [])",
    );
  });

  it("applies TANDEM__SECTION__KEY overrides over the file, as YAML scalars", async () => {
    const { values: config } = await parseConfig("service: orders\napp:\n  maxItems: 50\n", {
      env: {
        TANDEM__APP__MAX_ITEMS: "75",
        TANDEM__APP__NEW_SETTING: "[a, b]",
        TANDEM__TELEMETRY__LOGS__LEVEL: "debug",
        TANDEM_MODE: "library",
      },
    });
    expect(config.app).toEqual({ maxItems: 75, newSetting: ["a", "b"] });
    expect(config.telemetry.logs.level).toBe("debug");
    expect(config.service).toBe("orders");
  });

  it("names an env override that breaks the schema by its path", async () => {
    const issues = await problems("", { env: { TANDEM__TELEMETRY__LOGS__LEVEL: "loud" } });
    expect(issues[0]).toMatchObject({ path: "telemetry.logs.level", received: '"loud"' });
  });

  it("resolves ${secret:name} references, and names a missing one without any value", async () => {
    const secrets = (name: string) => (name === "db-password" ? "hunter2" : undefined);
    const { values: config } = await parseConfig('app:\n  dsn: "postgres://app:${secret:db-password}@db/app"\n', {
      secrets,
    });
    expect(config.app.dsn).toBe("postgres://app:hunter2@db/app");
    const loaded = await parseConfig('app:\n  dsn: "postgres://app:${secret:db-password}@db/app"\n', { secrets });
    // What is safe to send and show keeps the reference, not the value.
    expect(loaded.template.app.dsn).toBe("postgres://app:${secret:db-password}@db/app");
    expect(loaded.secretPaths).toEqual(["app.dsn"]);
    expect(loaded.secretNames).toEqual(["db-password"]);
    const issues = await problems("app:\n  key: ${secret:missing}\n", { secrets });
    expect(issues).toEqual([{ path: "app.key", message: 'secret "missing" is referenced but not found' }]);
  });

  it("validates the app section against the application's own schema", async () => {
    const appSchema = z.object({ maxItems: z.number().int().max(100) });
    const issues = await problems("app:\n  maxItems: 500\n", { appSchema });
    expect(issues).toEqual([{ path: "app.maxItems", message: expect.stringContaining("<=100") }]);
    const { values: ok } = await parseConfig("app:\n  maxItems: 5\n", { appSchema });
    expect(ok.app).toEqual({ maxItems: 5 });
  });

  it("either loads or throws a ConfigError for any YAML or JSON, never anything else", async () => {
    const scalar = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: "small" }, scalar, fc.array(tie("node")), fc.dictionary(fc.string(), tie("node"))),
    })).node;
    const keys = fc.constantFrom("service", "upstreams", "policies", "telemetry", "flags", "secrets", "app", "x");
    const config = fc.dictionary(keys, value);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          config.map((c) => JSON.stringify(c)),
          fc.string(),
        ),
        async (text) => {
          try {
            const { values: loaded } = await parseConfig(text, { file: "fuzz.yaml" });
            // A loaded config is always a whole one.
            expect(typeof loaded.service).toBe("string");
            expect(loaded.telemetry.logs.sinks.length).toBeGreaterThan(0);
          } catch (error) {
            expect(error).toBeInstanceOf(ConfigError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("JSON Schema", () => {
  it("is current: packages/config/schema/tandem.schema.json matches the zod schema", () => {
    const committed = JSON.parse(readFileSync(new URL("../schema/tandem.schema.json", import.meta.url), "utf8"));
    // Regenerate with `pnpm schema`.
    expect(committed).toEqual(tandemJsonSchema());
  });
});

describe("docs/config.md", () => {
  it("has the current reference table", () => {
    const docs = readFileSync(new URL("../../../docs/config.md", import.meta.url), "utf8");
    const table = docs
      .slice(docs.indexOf("<!-- reference:start -->") + 24, docs.indexOf("<!-- reference:end -->"))
      .trim();
    // Regenerate with `pnpm schema`; the formatter may pad the cells, which changes nothing.
    const normal = (text: string) =>
      text
        .split("\n")
        .map((line) =>
          line
            .replace(/\s*\|\s*/g, "|")
            .replace(/-{3,}/g, "---")
            .trim(),
        )
        .join("\n");
    expect(normal(table)).toBe(normal(configReference()));
  });
});
