import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, type StartedSidecar, startSidecar } from "@tandem/testkit";
import { startStub } from "@tandem-examples/payments-stub";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { example } from "./run-example.js";

function hasPython(): boolean {
  try {
    execFileSync("python3", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const python = hasPython();
if (!python) console.warn("examples/polyglot-python: skipped, python3 is not on PATH");

describe.skipIf(!python)("examples/polyglot-python against a real sidecar (needs python3)", () => {
  let stub: Awaited<ReturnType<typeof startStub>>;
  let sidecar: StartedSidecar;

  beforeAll(async () => {
    stub = await startStub();
    const dir = mkdtempSync(join(tmpdir(), "tandem-python-"));
    const config = readFileSync(example("polyglot-python/tandem.yaml"), "utf8").replace(
      "http://127.0.0.1:7001",
      stub.url,
    );
    expect(config).toContain(stub.url);
    writeFileSync(join(dir, "tandem.yaml"), config);
    writeFileSync(join(dir, "flags.json"), readFileSync(example("polyglot-python/flags.json")));
    sidecar = await startSidecar({ config: join(dir, "tandem.yaml"), env: { APP_SECRET_API_KEY: "example-secret" } });
  });

  afterAll(async () => {
    await sidecar?.stop();
    await stub?.close();
  });

  it("calls an upstream through the forward proxy, reads config, flags and a secret, pushes a metric", async () => {
    const child = spawn("python3", [example("polyglot-python/client.py")], {
      env: { ...process.env, TANDEM_SIDECAR: sidecar.api, TANDEM_TOKEN: sidecar.token },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    const code = await new Promise((resolve) => child.once("exit", resolve));
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const report = JSON.parse(stdout.trim());
    expect(report).toEqual({
      event: "polyglot-python",
      upstream: { status: 200, via: null, body: expect.objectContaining({ status: "ok", path: "/charges" }) },
      configGeneration: 1,
      maxItems: 20,
      newCheckout: { state: "ENABLED", defaultVariant: "off" },
      secret: { name: "api-key", length: "example-secret".length },
      metricsRejected: [],
    });
    expect(stub.stats.ok).toBe(1);
    // The secret's value never reaches the output.
    expect(stdout).not.toContain("example-secret");
    await eventually(async () => {
      const text = await (await fetch(`${sidecar.admin}/metrics`)).text();
      expect(text).toMatch(/^python_client_runs_total\{result="ok"\} 1$/m);
    });
  });

  it("names the failing step when the token is wrong", () => {
    const run = spawnSync("python3", [example("polyglot-python/client.py")], {
      env: { ...process.env, TANDEM_SIDECAR: sidecar.api, TANDEM_TOKEN: "wrong" },
      encoding: "utf8",
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("failed at forward proxy: 407 proxy_auth_required");
  });
});
