import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const BIN = fileURLToPath(new URL("../bin/tandem.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "tandem-run-"));

function script(name: string, source: string): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

/**
 * Runs `tandem run` on random ports with `app` as the command; collects the app's stdout lines.
 * `group` puts it in a process group of its own, as a terminal's foreground job is.
 */
function run(app: string, options: { group?: boolean; args?: string[] } = {}) {
  const flags = ["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--drain-timeout", "2s", ...(options.args ?? [])];
  const child = spawn(process.execPath, [BIN, "run", ...flags, "--", process.execPath, app], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, TANDEM_TOKEN: "" },
    detached: options.group === true,
  });
  const lines: string[] = [];
  let buffered = "";
  child.stdout.on("data", (c) => {
    buffered += c.toString();
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    lines.push(...parts);
  });
  // "close", not "exit": the output of tandem run and of the sidecar is complete only then.
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const appLines = () => lines.filter((l) => l.startsWith("app:")).map((l) => l.slice(4));
  const waitFor = async (text: string) => {
    for (let i = 0; i < 1000 && !appLines().some((l) => l.includes(text)); i++)
      await new Promise((r) => setTimeout(r, 10));
    if (!appLines().some((l) => l.includes(text)))
      throw new Error(`app never printed ${text}; output: ${lines.join("\n")}`);
  };
  return { child, lines, appLines, exited, waitFor };
}

describe("tandem run", () => {
  it("starts the app after the sidecar is ready, with the env set, and exits with the app's code", async () => {
    const app = script(
      "env.mjs",
      `const r = await fetch(process.env.TANDEM_SIDECAR + "/v1/openapi.json", { headers: { authorization: "Bearer " + process.env.TANDEM_TOKEN } });
console.log("app:" + JSON.stringify({ mode: process.env.TANDEM_MODE, sidecar: process.env.TANDEM_SIDECAR, tokenLength: process.env.TANDEM_TOKEN.length, status: r.status }));
process.exit(7);`,
    );
    const { exited, appLines, lines } = run(app);
    expect(await exited).toBe(7);
    const seen = JSON.parse(appLines()[0] as string);
    expect(seen).toMatchObject({ mode: "sidecar", status: 200 });
    expect(seen.sidecar).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // A random token is made when none is given.
    expect(seen.tokenLength).toBeGreaterThanOrEqual(32);
    // The sidecar is gone once tandem run has exited.
    await expect(fetch(`${seen.sidecar}/readyz`)).rejects.toThrow();
    // Two processes share the pipe, so lines may arrive out of order: compare their times.
    const logged = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { event: string; time: number });
    const at = (event: string) => logged.find((l) => l.event === event)?.time ?? Number.NaN;
    expect(at("app_exited")).toBeLessThanOrEqual(at("draining"));
    expect(at("draining")).toBeLessThanOrEqual(at("stopped"));
  });

  it("forwards SIGTERM to the app first and stops the sidecar only after the app exits", async () => {
    const app = script(
      "signal.mjs",
      `process.on("SIGTERM", async () => {
  console.log("app:got SIGTERM");
  const r = await fetch(process.env.TANDEM_SIDECAR + "/readyz");
  console.log("app:sidecar while app stops: " + r.status);
  process.exit(0);
});
console.log("app:ready");
setInterval(() => {}, 1000);`,
    );
    const { child, exited, waitFor, appLines } = run(app);
    await waitFor("ready");
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(appLines()).toEqual(["ready", "got SIGTERM", "sidecar while app stops: 200"]);
  });

  it("reports death by signal as 128 + N", async () => {
    const app = script("die.mjs", `console.log("app:ready"); process.kill(process.pid, "SIGKILL");`);
    expect(await run(app).exited).toBe(137);
    const usr2 = script("usr2.mjs", `process.kill(process.pid, "SIGUSR2"); setTimeout(() => {}, 5000);`);
    expect(await run(usr2).exited).toBe(140);
  });

  it("on Ctrl-C (SIGINT to the terminal's process group) the app stops first, the sidecar after", async () => {
    const app = script(
      "ctrlc.mjs",
      `process.on("SIGINT", async () => {
  await new Promise((r) => setTimeout(r, 300));
  const r = await fetch(process.env.TANDEM_SIDECAR + "/readyz").then((x) => x.status, () => "down");
  console.log("app:sidecar after Ctrl-C: " + r);
  process.exit(0);
});
console.log("app:ready");
setInterval(() => {}, 1000);`,
    );
    const { child, exited, waitFor, appLines } = run(app, { group: true });
    await waitFor("ready");
    process.kill(-(child.pid as number), "SIGINT");
    expect(await exited).toBe(0);
    expect(appLines()).toContain("sidecar after Ctrl-C: 200");
  });

  it("gives the app a loopback address when the sidecar binds every address", async () => {
    const app = script("wild.mjs", `console.log("app:" + process.env.TANDEM_SIDECAR);`);
    const { exited, appLines } = run(app, { args: ["--allow-non-loopback", "--listen", "0.0.0.0:0"] });
    expect(await exited).toBe(0);
    expect(appLines()[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("gives the app TANDEM_CONFIG, so a fallback runs on the same configuration", async () => {
    const config = join(dir, "tandem.yaml");
    writeFileSync(config, "app:\n  n: 1\n");
    const app = script("config.mjs", `console.log("app:" + process.env.TANDEM_CONFIG);`);
    const { exited, appLines } = run(app, { args: ["--config", config] });
    expect(await exited).toBe(0);
    expect(appLines()).toEqual([config]);
  });

  it("exits 127 when the command cannot be started", async () => {
    const child = spawn(
      process.execPath,
      [BIN, "run", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--", "/nonexistent/app"],
      {
        stdio: "ignore",
      },
    );
    expect(await new Promise((r) => child.on("exit", r))).toBe(127);
  });

  it("restarts a sidecar killed with SIGKILL on the same address", async () => {
    const app = script(
      "restart.mjs",
      `console.log("app:ready " + process.env.TANDEM_SIDECAR);
let wasDown = false;
for (let i = 0; i < 400; i++) {
  const ok = await fetch(process.env.TANDEM_SIDECAR + "/readyz").then((r) => r.status === 200, () => false);
  if (!ok) wasDown = true;
  if (ok && wasDown) { console.log("app:back"); process.exit(0); }
  await new Promise((r) => setTimeout(r, 25));
}
console.log("app:never came back"); process.exit(1);`,
    );
    const { child, exited, waitFor } = run(app);
    await waitFor("ready");
    const sidecarPid = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(child.pid)], { encoding: "utf8" })
      .split("\n")
      .find((l) => l.includes(" sidecar "))
      ?.trim()
      .split(/\s+/)[0];
    expect(sidecarPid).toBeDefined();
    process.kill(Number(sidecarPid), "SIGKILL");
    await waitFor("back");
    expect(await exited).toBe(0);
  });
});
