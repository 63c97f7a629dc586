import { FlagdCore } from "@openfeature/flagd-core";
import { OpenFeature, ProviderEvents } from "@openfeature/server-sdk";
import type { ConfigChange } from "tandem";
import { expect, it } from "vitest";
import { ConfigMapFixture } from "../config-fixture.js";
import type { ConformanceContext } from "../conformance.js";
import { eventually } from "../eventually.js";

/** A canary secret: the suite checks it appears in no log line. */
export const CANARY = "canary-7f3a9c1e-never-log-me";

/** The flag definitions the suite evaluates, covering every reason and targeting operator. */
export const CONFORMANCE_FLAGS = {
  flags: {
    "static-on": { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "on" },
    disabled: { state: "DISABLED", variants: { on: true, off: false }, defaultVariant: "on" },
    beta: {
      state: "ENABLED",
      variants: { on: true, off: false },
      defaultVariant: "off",
      targeting: { if: [{ ends_with: [{ var: "email" }, "@example.com"] }, "on", null] },
    },
    "new-ui": {
      state: "ENABLED",
      variants: { on: true, off: false },
      defaultVariant: "off",
      targeting: { if: [{ starts_with: [{ var: "region" }, "eu-"] }, "on", "off"] },
    },
    "min-version": {
      state: "ENABLED",
      variants: { on: true, off: false },
      defaultVariant: "off",
      targeting: { if: [{ sem_ver: [{ var: "version" }, ">=", "2.1.0"] }, "on", "off"] },
    },
    checkout: {
      state: "ENABLED",
      variants: { old: "old", new: "new" },
      defaultVariant: "old",
      targeting: { $ref: "half" },
    },
    broken: {
      state: "ENABLED",
      variants: { on: true, off: false },
      defaultVariant: "off",
      targeting: { no_such_operator: [1] },
    },
  },
  $evaluators: {
    half: { fractional: [{ cat: [{ var: "$flagd.flagKey" }, { var: "userId" }] }, ["old", 50], ["new", 50]] },
  },
};

function configText(secretsDir: string, maxItems: number): string {
  return `service: conformance
flags: { source: flags.json }
secrets: { dir: ${JSON.stringify(secretsDir)} }
app:
  maxItems: ${maxItems}
  dsn: "postgres://app:\${secret:db-password}@db/app"
`;
}

/** A fresh ConfigMap-style directory per mode, with the suite's config, flags and secrets. */
export function configFixture(): { forMode(mode: string): ConfigMapFixture; configPath(mode: string): string } {
  const fixtures = new Map<string, ConfigMapFixture>();
  const forMode = (mode: string) => {
    let fixture = fixtures.get(mode);
    if (fixture === undefined) {
      fixture = new ConfigMapFixture();
      fixture.writeSecret("db-password", CANARY);
      fixture.writeSecret("api-key", "k1");
      fixture.swap({
        "tandem.yaml": configText(fixture.secretsDir, 50),
        "flags.json": JSON.stringify(CONFORMANCE_FLAGS),
      });
      fixtures.set(mode, fixture);
    }
    return fixture;
  };
  return { forMode, configPath: (mode) => forMode(mode).path("tandem.yaml") };
}

/**
 * Configuration, flags and secrets: the same reads, reloads, rejections, flag reasons and
 * variants, and secret rotation in both modes, with no secret value in any log line.
 */
export function configSuite(
  context: ConformanceContext,
  fixtures: ReturnType<typeof configFixture>,
  logs: () => string[],
): void {
  const fixture = () => fixtures.forMode(context.mode);
  const write = (maxItems: number, flags: object = CONFORMANCE_FLAGS) =>
    fixture().swap({ "tandem.yaml": configText(fixture().secretsDir, maxItems), "flags.json": JSON.stringify(flags) });

  it("reads the validated config, with secret references resolved", () => {
    const rt = context.runtime;
    expect(rt.config.get("service")).toBe("conformance");
    expect(rt.config.get("app.maxItems")).toBe(50);
    expect(rt.config.get("app.dsn")).toBe(`postgres://app:${CANARY}@db/app`);
    expect(rt.config.get("telemetry.logs.level")).toBe("info");
    expect(rt.config.get("no.such.path")).toBeUndefined();
    expect(rt.config.snapshot().generation).toBe(1);
  });

  it("sees a ConfigMap-style symlink swap and tells onChange what changed", async () => {
    const rt = context.runtime;
    const changes: ConfigChange[] = [];
    const off = rt.config.onChange((c) => changes.push(c));
    write(75);
    await eventually(() => expect(rt.config.get("app.maxItems")).toBe(75));
    off();
    expect(changes).toHaveLength(1);
    expect(changes[0]?.changed).toEqual(["app.maxItems"]);
    expect(changes[0]?.current.generation).toBe(changes[0]!.previous.generation + 1);
  });

  it("rejects an invalid change and keeps the last good config", async () => {
    const rt = context.runtime;
    const before = rt.config.snapshot();
    fixture().swap({
      "tandem.yaml": "service: conformance\napp: [not, a, mapping]\nbogus: true\n",
      "flags.json": JSON.stringify(CONFORMANCE_FLAGS),
    });
    await eventually(() => expect(logs().join("\n")).toContain("config_rejected"));
    expect(rt.config.snapshot()).toBe(before);
    expect(rt.config.get("app.maxItems")).toBe(75);
    write(80);
    await eventually(() => expect(rt.config.get("app.maxItems")).toBe(80));
  });

  it("evaluates flags in-process with the reasons and error codes of the OpenFeature spec", async () => {
    const flags = context.runtime.flags;
    const details = async (key: string, ctx = {}) => flags.getBooleanDetails(key, false, ctx);
    expect(await details("static-on")).toMatchObject({ value: true, reason: "STATIC", variant: "on" });
    expect(await details("disabled")).toMatchObject({ value: false, reason: "DISABLED" });
    expect(await details("beta", { email: "a@example.com" })).toMatchObject({ value: true, reason: "TARGETING_MATCH" });
    expect(await details("beta", { email: "a@other.org" })).toMatchObject({ value: false, reason: "DEFAULT" });
    expect(await details("new-ui", { region: "eu-west-1" })).toMatchObject({ value: true, reason: "TARGETING_MATCH" });
    expect(await details("min-version", { version: "2.3.0" })).toMatchObject({ value: true });
    expect(await details("min-version", { version: "2.0.9" })).toMatchObject({ value: false });
    expect(await details("missing")).toMatchObject({ value: false, reason: "ERROR", errorCode: "FLAG_NOT_FOUND" });
    expect(await details("broken")).toMatchObject({ value: false, reason: "ERROR", errorCode: "PARSE_ERROR" });
    expect(await flags.getStringValue("static-on", "x")).toBe("x");
    const mismatch = await (
      flags as unknown as { getStringDetails(k: string, d: string): Promise<{ errorCode?: string }> }
    ).getStringDetails("static-on", "x");
    expect(mismatch.errorCode).toBe("TYPE_MISMATCH");
  });

  it("splits fractional flags the same way in both modes, reported as SPLIT", async () => {
    const flags = context.runtime.flags as unknown as {
      getStringDetails(k: string, d: string, c: object): Promise<{ value: string; reason?: string }>;
    };
    // flagd-core itself is the reference: both modes must assign every user as it does.
    const reference = new FlagdCore();
    reference.setConfigurations(JSON.stringify(CONFORMANCE_FLAGS));
    const variants: string[] = [];
    for (let i = 0; i < 200; i++) {
      const user = { targetingKey: `user-${i}`, userId: `user-${i}` };
      const d = await flags.getStringDetails("checkout", "old", user);
      expect(d.reason).toBe("SPLIT");
      expect(d.value).toBe(reference.resolveStringEvaluation("checkout", "old", user).value);
      variants.push(d.value);
    }
    const share = variants.filter((v) => v === "new").length / variants.length;
    expect(share).toBeGreaterThan(0.35);
    expect(share).toBeLessThan(0.65);
  });

  it("announces changed flag keys (CONFIGURATION_CHANGED) and applies them", async () => {
    const client = context.runtime.flags as unknown as {
      addHandler(e: string, h: (d?: { flagsChanged?: string[] }) => void): void;
      removeHandler(e: string, h: (d?: { flagsChanged?: string[] }) => void): void;
    };
    const seen: string[][] = [];
    const handler = (d?: { flagsChanged?: string[] }) => seen.push(d?.flagsChanged ?? []);
    client.addHandler(ProviderEvents.ConfigurationChanged, handler);
    const flipped = structuredClone(CONFORMANCE_FLAGS);
    flipped.flags["static-on"].defaultVariant = "off";
    write(80, flipped);
    await eventually(async () => expect(await context.runtime.flags.getBooleanValue("static-on", true)).toBe(false));
    await eventually(() => expect(seen).toContainEqual(["static-on"]));
    client.removeHandler(ProviderEvents.ConfigurationChanged, handler);
    write(80);
    await eventually(async () => expect(await context.runtime.flags.getBooleanValue("static-on", false)).toBe(true));
  });

  it("sees a secret rotated on disk, in rt.secrets and in the config that references it", async () => {
    const rt = context.runtime;
    expect(await rt.secrets.get("api-key")).toBe("k1");
    fixture().writeSecret("api-key", "k2\n");
    await eventually(async () => expect(await rt.secrets.get("api-key")).toBe("k2"));
    fixture().writeSecret("db-password", `${CANARY}-2`);
    await eventually(() => expect(rt.config.get("app.dsn")).toBe(`postgres://app:${CANARY}-2@db/app`));
    await expect(rt.secrets.get("no-such-secret")).rejects.toMatchObject({ code: "not_found" });
  });

  it("never writes a secret value to a log line", () => {
    const lines = logs();
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).not.toContain(CANARY);
  });

  it("binds flags to a domain of its own, leaving the default OpenFeature provider alone", () => {
    expect(OpenFeature.getProviderMetadata().name).not.toBe("tandem");
  });
}
