import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const BIN = fileURLToPath(new URL("../bin/tandem.js", import.meta.url));

function tandem(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 15_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("tandem CLI", () => {
  it("prints help and the version", () => {
    const help = tandem("--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("tandem sidecar [flags]");
    expect(help.stdout).toContain("tandem run [flags] -- COMMAND...");
    const version = tandem("--version");
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    for (const command of ["sidecar", "run"]) {
      const sub = tandem(command, "--help");
      expect(sub.code).toBe(0);
      expect(sub.stdout).toContain(`Usage: tandem ${command}`);
      for (const flag of ["--drain-timeout", "--headers-timeout", "--request-timeout", "--max-connections"]) {
        expect(sub.stdout).toContain(flag);
      }
    }
  });

  it("exits 2 with a clear message on an unknown command or flag", () => {
    const unknown = tandem("sidekick");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe("tandem: unknown command 'sidekick'\nSee 'tandem --help'.\n");
    const flag = tandem("sidecar", "--lisen", "127.0.0.1:1");
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("Unknown option '--lisen'");
    expect(flag.stderr).toContain("See 'tandem sidecar --help'.");
    expect(tandem("run", "--bogus", "--", "true").code).toBe(2);
  });

  it("exits 2 naming the flag and the value for a bad address, duration or size", () => {
    const address = tandem("sidecar", "--listen", "0.0.0.0:4600");
    expect(address.code).toBe(2);
    expect(address.stderr).toContain('--listen is "0.0.0.0:4600"');
    expect(address.stderr).toContain("--allow-non-loopback");
    expect(tandem("sidecar", "--drain-timeout", "soon").stderr).toContain('--drain-timeout is "soon"');
    expect(tandem("sidecar", "--max-body", "lots").stderr).toContain('--max-body is "lots"');
    expect(tandem("sidecar", "--headers-timeout", "soon").stderr).toContain('--headers-timeout is "soon"');
    expect(tandem("sidecar", "--request-timeout", "0").stderr).toContain("--request-timeout must be above 0");
    const connections = tandem("sidecar", "--max-connections", "many");
    expect(connections.code).toBe(2);
    expect(connections.stderr).toContain('--max-connections is "many"');
    expect(tandem("sidecar", "--token-file", "/nonexistent").stderr).toContain(
      "--token-file /nonexistent cannot be read",
    );
  });

  it("exits 2 when run has no command", () => {
    const r = tandem("run");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("tandem run needs a command after --");
  });

  it("exits 1 with the reason when the sidecar cannot start", () => {
    const r = tandem(
      "sidecar",
      "--config",
      "/nonexistent/tandem.yaml",
      "--listen",
      "127.0.0.1:0",
      "--admin",
      "127.0.0.1:0",
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("config file /nonexistent/tandem.yaml cannot be read (ENOENT)");
  });
});

describe("tandem config", () => {
  it("prints the effective config with secrets redacted, and exits 1 listing every problem of a bad one", () => {
    const dir = mkdtempSync(join(tmpdir(), "tandem-config-cmd-"));
    mkdirSync(join(dir, "secrets"));
    writeFileSync(join(dir, "secrets", "db"), "hunter2-secret\n");
    writeFileSync(
      join(dir, "tandem.yaml"),
      'secrets: { dir: secrets }\napp:\n  dsn: "pg://u:${secret:db}@h"\n  n: 1\n',
    );
    const ok = tandem("config", "--config", join(dir, "tandem.yaml"), "--json");
    expect(ok.code).toBe(0);
    const dump = JSON.parse(ok.stdout);
    expect(dump.app).toEqual({ dsn: "[redacted]", n: 1 });
    expect(dump.telemetry.logs.level).toBe("info");
    expect(ok.stdout + ok.stderr).not.toContain("hunter2-secret");
    writeFileSync(join(dir, "bad.yaml"), "app: 5\nbogus: 1\n");
    const bad = tandem("config", "--config", join(dir, "bad.yaml"));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("bad.yaml is invalid, 2 problems:");
    expect(bad.stderr).toContain('(root): Unrecognized key: "bogus"');
  });
});
