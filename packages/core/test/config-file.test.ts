import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfigFile } from "@tandem/core";
import { describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "tandem-config-"));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe("loadConfigFile", () => {
  it("reads YAML and JSON into plain objects", async () => {
    expect(await loadConfigFile(file("a.yaml", "service: orders\napp:\n  maxItems: 50\n"))).toEqual({
      service: "orders",
      app: { maxItems: 50 },
    });
    expect(await loadConfigFile(file("a.json", '{"service":"orders"}'))).toEqual({ service: "orders" });
    expect(await loadConfigFile(file("empty.yaml", ""))).toEqual({});
  });

  it("says where YAML broke, by line and column", async () => {
    const error = await loadConfigFile(file("bad.yaml", "service: orders\napp:\n  maxItems: [1, 2\n")).catch((e) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/bad\.yaml is not valid YAML at line \d+, column \d+: \S/);
    // The position once, in front, not repeated at the end.
    expect(error.message.match(/at line/g)).toHaveLength(1);
    expect(error.details).toMatchObject({ file: expect.stringContaining("bad.yaml"), line: expect.any(Number) });
  });

  it("refuses duplicate keys, which would silently drop a setting", async () => {
    const error = await loadConfigFile(file("dup.yaml", "service: a\nservice: b\n")).catch((e) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain("line 2");
  });

  it("says what JSON error occurred and that a list is not a config", async () => {
    await expect(loadConfigFile(file("bad.json", '{"service": }'))).rejects.toThrow(/bad\.json is not valid JSON/);
    await expect(loadConfigFile(file("list.yaml", "- a\n- b\n"))).rejects.toThrow(/must hold a mapping.*got a list/);
  });

  it("names a file that cannot be read", async () => {
    const error = await loadConfigFile(join(dir, "missing.yaml")).catch((e) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.details).toMatchObject({ reason: "ENOENT" });
  });
});

describe("loadConfigFile on hostile YAML", () => {
  it("refuses an alias to no anchor and an alias bomb with a ConfigError", async () => {
    await expect(loadConfigFile(file("alias.yaml", "a: *nowhere\n"))).rejects.toBeInstanceOf(ConfigError);
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 8; i++)
      bomb.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(", ")}]`,
      );
    await expect(loadConfigFile(file("bomb.yaml", `${bomb.join("\n")}\n`))).rejects.toThrow(/not valid YAML/);
  });
});
