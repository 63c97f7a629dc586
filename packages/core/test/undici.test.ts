import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const CORE = fileURLToPath(new URL("..", import.meta.url));

/** Runs an ES module in a fresh Node process from this package, so no test has loaded undici before it. */
async function fresh(source: string): Promise<unknown> {
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", source], { cwd: CORE });
  return JSON.parse(stdout);
}

describe("@tandem/core/undici", () => {
  it("gives undici's dispatchers with their request API, without loading the rest of undici", async () => {
    const result = await fresh(`
      import { createServer } from "node:http";
      import { createRequire } from "node:module";
      import { Agent, Dispatcher, Pool } from "@tandem/core/undici";
      const server = createServer((req, res) => res.end(req.method + " " + req.url));
      await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
      const origin = "http://127.0.0.1:" + server.address().port;
      const pool = new Pool(origin);
      const agent = new Agent();
      const viaPool = await pool.request({ method: "GET", path: "/pool" });
      const viaAgent = await agent.request({ origin, method: "POST", path: "/agent" });
      const answers = [viaPool.statusCode, await viaPool.body.text(), viaAgent.statusCode, await viaAgent.body.text()];
      await pool.close();
      await agent.close();
      server.close();
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((path) => path.includes("/undici/"));
      console.log(JSON.stringify({
        answers,
        dispatchers: pool instanceof Dispatcher && agent instanceof Dispatcher,
        entryPoint: loaded.some((path) => path.endsWith("/undici/index.js")),
        fetch: loaded.some((path) => path.includes("/web/fetch/")),
      }));
    `);
    expect(result).toEqual({
      answers: [200, "GET /pool", 200, "POST /agent"],
      dispatchers: true,
      entryPoint: false,
      fetch: false,
    });
  });

  it("says how to fix it when undici cannot be found, as in an app bundled without node_modules", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tandem-undici-"));
    try {
      writeFileSync(join(dir, "package.json"), '{"type":"module"}');
      copyFileSync(join(CORE, "dist/internal/undici.js"), join(dir, "undici.js"));
      const url = pathToFileURL(join(dir, "undici.js")).href;
      const failed = await run(
        process.execPath,
        ["--input-type=module", "-e", `await import(${JSON.stringify(url)})`],
        // pnpm's scripts put its store on NODE_PATH, where undici would still be found.
        { cwd: dir, env: { ...process.env, NODE_PATH: "" } },
      ).then(
        () => "",
        (error: { stderr: string }) => error.stderr,
      );
      expect(failed).toContain(`tandem loads undici at run time and cannot find it from ${url}`);
      expect(failed).toContain("install undici next to the app, or keep it external when bundling");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
