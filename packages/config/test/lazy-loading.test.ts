import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));

// Opens the local config sources in a fresh process (a test worker has loaded everything
// already) and prints every module specifier resolved on the way.
const CHILD = `
import { registerHooks } from "node:module";
const resolved = new Set();
registerHooks({ resolve(specifier, context, next) { resolved.add(specifier); return next(specifier, context); } });
const { LocalConfigSources } = await import("@tandem/config");
const quiet = () => {};
const logger = { level: "silent", fatal: quiet, error: quiet, warn: quiet, info: quiet, debug: quiet, trace: quiet };
logger.child = () => logger;
const [file, overrides] = process.argv.slice(1);
const sources = await LocalConfigSources.open({
  file: file === "" ? undefined : file,
  env: overrides === "" ? {} : { TANDEM__APP__LIMIT: overrides },
  logger,
  watch: false,
});
sources.close();
process.stdout.write(JSON.stringify([...resolved]));
`;

async function modulesLoaded(file: string | undefined, override?: string): Promise<string[]> {
  const { stdout } = await run(process.execPath, ["--input-type=module", "--eval", CHILD, file ?? "", override ?? ""], {
    cwd: PACKAGE_DIR,
    timeout: 20_000,
  });
  return JSON.parse(stdout) as string[];
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function configDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "tandem-lazy-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe("what the config concern loads", () => {
  it("loads neither flagd's evaluator nor the YAML parser without flags, a YAML file or overrides", async () => {
    const loaded = await modulesLoaded(undefined);
    expect(loaded).toContain("@openfeature/server-sdk");
    expect(loaded).not.toContain("@openfeature/flagd-core");
    expect(loaded).not.toContain("yaml");
  });

  it("loads flagd's evaluator for a flags source, and the YAML parser for a YAML file or an override", async () => {
    const dir = configDir({
      "tandem.yaml": "flags: { source: flags.json }\n",
      "flags.json": JSON.stringify({
        flags: { f: { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "on" } },
      }),
    });
    const withFlags = await modulesLoaded(join(dir, "tandem.yaml"));
    expect(withFlags).toContain("@openfeature/flagd-core");
    expect(withFlags).toContain("yaml");
    const withOverride = await modulesLoaded(undefined, "5");
    expect(withOverride).toContain("yaml");
    expect(withOverride).not.toContain("@openfeature/flagd-core");
  });
});
