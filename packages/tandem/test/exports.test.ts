import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../../", import.meta.url));

/** Each package, and a package directory that depends on it, so resolution goes through its exports map. */
const packages = [
  {
    name: "@tandem/core",
    from: "packages/sidecar",
    dir: "packages/core",
    expects: ["SidecarClient", "resolveEnv", "TandemError"],
  },
  { name: "@tandem/sidecar", from: "packages/tandem", dir: "packages/sidecar", expects: ["Sidecar", "buildOpenApi"] },
  { name: "tandem", from: ".", dir: "packages/tandem", expects: ["createRuntime", "launchSidecar", "ConfigError"] },
  {
    name: "@tandem/testkit",
    from: "packages/tandem",
    dir: "packages/testkit",
    expects: ["describeConformance", "startSidecar"],
  },
];

function importIn(cwd: string, source: string) {
  return spawnSync(process.execPath, ["--input-type=module", "-e", source], { cwd: `${root}${cwd}`, encoding: "utf8" });
}

describe("built packages", () => {
  it.each(packages)("$name imports through its exports map the way a user's code does", ({ name, from, expects }) => {
    const r = importIn(
      from,
      `const m = await import(${JSON.stringify(name)}); console.log(JSON.stringify(Object.keys(m)));`,
    );
    expect(r.stderr).toBe("");
    const keys = JSON.parse(r.stdout) as string[];
    for (const key of expects) expect(keys).toContain(key);
  });

  it.each(packages)("$name declares types first, ESM, its side effects and its Node range", ({ dir }) => {
    const pkg = JSON.parse(readFileSync(`${root}${dir}/package.json`, "utf8"));
    expect(pkg.type).toBe("module");
    // Only @tandem/core/undici has one: it puts undici's request API on Dispatcher.prototype.
    if (pkg.name === "@tandem/core") {
      expect(pkg.sideEffects).toEqual([pkg.exports["./undici"].default]);
      expect(existsSync(`${root}${dir}/${pkg.sideEffects[0]}`)).toBe(true);
    } else {
      expect(pkg.sideEffects).toBe(false);
    }
    expect(Object.keys(pkg.exports["."])[0]).toBe("types");
    expect(pkg.engines.node).toBe(">=22.19");
    expect(pkg.files).toContain("dist");
  });

  it("importing @tandem/core does no I/O: no socket, file, timer or immediate is opened", () => {
    const r = importIn(
      "packages/sidecar",
      // stdout is opened first so that its own handle is not counted.
      `process.stdout.write(""); const before = process.getActiveResourcesInfo(); await import("@tandem/core"); const after = process.getActiveResourcesInfo(); console.log(JSON.stringify(after.slice(before.length)));`,
    );
    expect(r.stderr).toBe("");
    // undici touches a stdio stream when it loads (a PipeWrap when stdio is piped); that opens
    // nothing new. Anything else would be work done on import.
    expect((JSON.parse(r.stdout) as string[]).filter((kind) => kind !== "PipeWrap" && kind !== "TTYWrap")).toEqual([]);
  });
});
