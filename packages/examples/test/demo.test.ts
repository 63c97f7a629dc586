import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const demo = fileURLToPath(new URL("../../../scripts/demo.mjs", import.meta.url));

// A short, light run of `pnpm demo` (10 s at 20 req/s per mode), so the README's first command
// cannot rot: both modes, the injected fault, flag and config change, the table and the report.
it("runs the demo to a passing end and writes its report", async () => {
  const report = join(mkdtempSync(join(tmpdir(), "tandem-demo-test-")), "report.html");
  const child = spawn(process.execPath, [demo, "--duration", "10", "--rate", "20", "--report", report], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (out += c));
  const code = await new Promise((resolve) => child.once("exit", resolve));
  expect(out).toContain("fault: payments-0");
  expect(out).toContain("flag: new-checkout flipped");
  expect(out).toContain("config: app.maxItems 20 -> 50");
  expect(out).toMatch(/'library'\s+│\s+\d+/);
  expect(out).toMatch(/'sidecar \(tandem run\)'\s+│\s+\d+/);
  expect(code, out).toBe(0);
  const html = readFileSync(report, "utf8");
  expect(html.match(/<svg /g)).toHaveLength(3);
  expect(html).not.toMatch(/<(script|link|img)\b/); // self-contained
}, 60_000);
