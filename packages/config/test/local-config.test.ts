import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlagdCore } from "@openfeature/flagd-core";
import { ProviderEvents } from "@openfeature/server-sdk";
import { LocalConfigSources } from "@tandem/config";
import { ConfigError } from "@tandem/core";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";

const opened: LocalConfigSources[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
});

function setup(config: string, flags?: object) {
  const dir = mkdtempSync(join(tmpdir(), "tandem-local-"));
  const file = join(dir, "tandem.yaml");
  writeFileSync(file, config);
  if (flags !== undefined) writeFileSync(join(dir, "flags.json"), JSON.stringify(flags));
  const lines: Record<string, unknown>[] = [];
  const logger = pino({}, { write: (l: string) => lines.push(JSON.parse(l)) });
  const open = async () => {
    const sources = await LocalConfigSources.open({ file, env: {}, logger, debounceMs: 20 });
    opened.push(sources);
    return sources;
  };
  /** Replaces the file in one rename, as editors and deploy tools do. */
  const replace = (text: string, name = "tandem.yaml") => {
    writeFileSync(join(dir, `.${name}.tmp`), text);
    renameSync(join(dir, `.${name}.tmp`), join(dir, name));
  };
  return { dir, file, lines, open, replace };
}

async function eventually(check: () => void, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

const FLAGS = { flags: { f: { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "on" } } };

describe("LocalConfigSources", () => {
  it("refuses to start on an invalid file, listing the problems", async () => {
    const { open } = setup("app: 5\n");
    const error = await open().catch((e) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.details.issues).toEqual([{ path: "app", message: expect.any(String), received: "5" }]);
  });

  it("keeps the last good config through a truncated file, and applies the completed one", async () => {
    const { open, file, lines } = setup("app:\n  maxItems: 50\n  name: orders\n");
    const sources = await open();
    // A writer caught halfway: an unterminated flow sequence.
    writeFileSync(file, "app:\n  maxItems: [5");
    await eventually(() => expect(sources.stats.rejected).toBeGreaterThanOrEqual(1));
    expect(sources.store.get("app.maxItems")).toBe(50);
    expect(lines.find((l) => l.event === "config_rejected")).toMatchObject({
      source: "config",
      reason: expect.stringContaining("not valid YAML"),
    });
    writeFileSync(file, "app:\n  maxItems: 60\n  name: orders\n");
    await eventually(() => expect(sources.store.get("app.maxItems")).toBe(60));
    expect(sources.store.snapshot().generation).toBe(2);
    expect(sources.stats.applied).toBe(1);
  });

  it("takes secret values out of a rejected change's problems, in the log and in lastError", async () => {
    const { open, replace, dir, lines } = setup("secrets: { dir: secrets }\napp:\n  n: 1\n");
    mkdirSync(join(dir, "secrets"));
    writeFileSync(join(dir, "secrets", "db-password"), "hunter2-canary");
    const sources = await open();
    // The password pasted into the wrong setting, and as a key.
    replace('secrets: { dir: secrets }\ntelemetry: { logs: { level: "hunter2-canary" } }\nhunter2-canary: 1\n');
    await eventually(() => expect(sources.stats.rejected).toBeGreaterThanOrEqual(1));
    const rejected = lines.find((l) => l.event === "config_rejected");
    expect(JSON.stringify(rejected)).toContain("telemetry.logs.level");
    expect(JSON.stringify(rejected)).toContain("[redacted]");
    expect(JSON.stringify(rejected)).not.toContain("hunter2-canary");
    expect(sources.stats.lastError?.message).not.toContain("hunter2-canary");
    expect(sources.stats.lastError?.message).toContain("[redacted]");
  });

  it("keeps the last good config when the file is replaced by a directory or a symlink loop", async () => {
    const { open, file, dir } = setup("app:\n  maxItems: 50\n");
    const sources = await open();
    rmSync(file);
    mkdirSync(file);
    await eventually(() => expect(sources.stats.lastError?.message).toContain("EISDIR"));
    expect(sources.store.get("app.maxItems")).toBe(50);
    rmSync(file, { recursive: true });
    symlinkSync(join(dir, "loop-b"), join(dir, "loop-a"));
    symlinkSync(join(dir, "loop-a"), join(dir, "loop-b"));
    symlinkSync(join(dir, "loop-a"), file);
    await eventually(() => expect(sources.stats.lastError?.message).toContain("ELOOP"));
    expect(sources.store.get("app.maxItems")).toBe(50);
  });

  it("debounces a burst of writes into one reload", async () => {
    const { open, replace } = setup("app:\n  n: 0\n");
    const sources = await open();
    for (let n = 1; n <= 20; n++) replace(`app:\n  n: ${n}\n`);
    await eventually(() => expect(sources.store.get("app.n")).toBe(20));
    await new Promise((r) => setTimeout(r, 100));
    expect(sources.stats.applied).toBe(1);
    expect(sources.store.snapshot().generation).toBe(2);
  });

  it("does not bump the generation for a rewrite that changes nothing", async () => {
    const { open, replace } = setup("app:\n  n: 1\n");
    const sources = await open();
    replace("# a comment now\napp:\n  n: 1\n");
    await eventually(() => expect(sources.stats.unchanged).toBeGreaterThanOrEqual(1));
    expect(sources.store.snapshot().generation).toBe(1);
  });

  it("on bad flag definitions keeps evaluating the last good ones, says ERROR, then READY once fixed", async () => {
    const { open, replace } = setup("flags: { source: flags.json }\n", FLAGS);
    const sources = await open();
    const events: string[] = [];
    for (const e of [ProviderEvents.Error, ProviderEvents.Ready, ProviderEvents.ConfigurationChanged]) {
      sources.provider.events.addHandler(e, () => events.push(e));
    }
    replace('{"flags": {"f": {"state": "MAYBE"}}}', "flags.json");
    await eventually(() => expect(events).toContain(ProviderEvents.Error));
    expect((await sources.provider.resolveBooleanEvaluation("f", false, {}, console)).value).toBe(true);
    expect(sources.stats.lastError).toMatchObject({ source: "flags" });
    const next = structuredClone(FLAGS);
    next.flags.f.defaultVariant = "off";
    replace(JSON.stringify(next), "flags.json");
    await eventually(() => expect(events).toContain(ProviderEvents.ConfigurationChanged));
    expect(events.indexOf(ProviderEvents.Ready)).toBeLessThan(events.indexOf(ProviderEvents.ConfigurationChanged));
    expect((await sources.provider.resolveBooleanEvaluation("f", true, {}, console)).value).toBe(false);
  });

  it("reads YAML flag definitions too", async () => {
    const { open, dir } = setup("flags: { source: flags.yaml }\n");
    writeFileSync(
      join(dir, "flags.yaml"),
      "flags:\n  f:\n    state: ENABLED\n    variants: { on: true, off: false }\n    defaultVariant: on\n",
    );
    const sources = await open();
    expect((await sources.provider.resolveBooleanEvaluation("f", false, {}, console)).value).toBe(true);
  });

  it("without a flags source, resolves every key as flagd resolves one it does not know", async () => {
    const { open } = setup("service: s\n");
    const sources = await open();
    const flagd = new FlagdCore();
    flagd.setConfigurations('{"flags":{}}');
    const { provider } = sources;
    expect(await provider.resolveBooleanEvaluation("b", true, {}, console)).toEqual(
      flagd.resolveBooleanEvaluation("b", true, {}),
    );
    expect(await provider.resolveStringEvaluation("s", "x", {}, console)).toEqual(
      flagd.resolveStringEvaluation("s", "x", {}),
    );
    expect(await provider.resolveNumberEvaluation("n", 3, {}, console)).toEqual(
      flagd.resolveNumberEvaluation("n", 3, {}),
    );
    expect(await provider.resolveObjectEvaluation("o", { a: 1 }, {}, console)).toEqual(
      flagd.resolveObjectEvaluation("o", { a: 1 }, {}),
    );
    expect(sources.flagDefinitions).toBe('{"flags":{}}');
  });

  it("refuses to start on invalid flag definitions", async () => {
    const { open } = setup("flags: { source: flags.json }\n", { flags: { f: { state: "MAYBE" } } });
    await expect(open()).rejects.toThrow(ConfigError);
    await expect(open()).rejects.toThrow(/flag definitions .*flags\.json are invalid/);
  });

  it("evaluates a flags source that a reload adds to a config without one", async () => {
    const { open, replace, dir } = setup("service: s\n");
    const sources = await open();
    writeFileSync(join(dir, "flags.json"), JSON.stringify(FLAGS));
    const changed: unknown[] = [];
    sources.provider.events.addHandler(ProviderEvents.ConfigurationChanged, (e) => changed.push(e?.flagsChanged));
    replace("service: s\nflags: { source: flags.json }\n");
    await eventually(() => expect(changed).toEqual([["f"]]));
    expect(await sources.provider.resolveBooleanEvaluation("f", false, {}, console)).toMatchObject({
      value: true,
      reason: "STATIC",
    });
  });
});
