import { execFile, spawnSync } from "node:child_process";
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

  it("loads HTTP/2 and TLS only when a connection negotiates h2, and such a connection still works", async (ctx) => {
    const dir = mkdtempSync(join(tmpdir(), "tandem-h2-"));
    try {
      const key = join(dir, "key.pem");
      const cert = join(dir, "cert.pem");
      const made = spawnSync("openssl", [
        ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"],
        ...["-subj", "/CN=localhost", "-keyout", key, "-out", cert],
      ]);
      if (made.error !== undefined) ctx.skip("openssl is not installed (Debian package openssl)");
      expect(made.status).toBe(0);
      const result = await fresh(`
        import { readFileSync } from "node:fs";
        import { Pool } from "@tandem/core/undici";
        const loaded = () => ["http2", "tls"].filter((name) => process.moduleLoadList.includes("NativeModule " + name));
        const atLoad = loaded();
        // Not import(): node:http as an ES module loads Node's own undici, and with it node:http2.
        const http1 = process.getBuiltinModule("node:http");
        const plain = http1.createServer((req, res) => res.end("HTTP/" + req.httpVersion));
        await new Promise((resolve) => plain.listen(0, "127.0.0.1", resolve));
        const pool = new Pool("http://127.0.0.1:" + plain.address().port);
        const overHttp1 = await (await pool.request({ method: "GET", path: "/" })).body.text();
        const afterHttp1 = loaded();
        await pool.close();
        plain.close();
        const { createSecureServer } = await import("node:http2");
        const server = createSecureServer({ key: readFileSync(${JSON.stringify(key)}), cert: readFileSync(${JSON.stringify(cert)}) },
          (req, res) => res.end("HTTP/" + req.httpVersion + " " + req.url));
        await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
        const h2 = new Pool("https://127.0.0.1:" + server.address().port, { allowH2: true, connect: { rejectUnauthorized: false } });
        const answers = [];
        for (const path of ["/one", "/two"]) answers.push(await (await h2.request({ method: "GET", path })).body.text());
        await h2.close();
        server.close();
        console.log(JSON.stringify({ atLoad, overHttp1, afterHttp1, answers }));
      `);
      expect(result).toEqual({
        atLoad: [],
        overHttp1: "HTTP/1.1",
        afterHttp1: [],
        answers: ["HTTP/2.0 /one", "HTTP/2.0 /two"],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
