// The demo: runs examples/hello in library mode and under `tandem run` (sidecar mode), and shows
// that the same code reports the same facts in both. Exits 0 only when both modes behaved.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const app = fileURLToPath(new URL("../examples/hello/app.mjs", import.meta.url));
const tandem = fileURLToPath(new URL("../packages/tandem/bin/tandem.js", import.meta.url));

function run(label, command, args, env) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(command, args, {
      env: { ...process.env, TANDEM_LOG_LEVEL: "warn", ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.on("close", (code) => {
      const line = out.split("\n").find((l) => l.includes('"demo":"hello"'));
      resolve({ label, code, ms: Math.round(performance.now() - started), report: line ? JSON.parse(line) : null });
    });
  });
}

console.log("tandem demo: the same app in both modes\n");
const results = [
  await run("library", process.execPath, [app], { TANDEM_MODE: "library" }),
  await run(
    "sidecar (tandem run)",
    process.execPath,
    [tandem, "run", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--", process.execPath, app],
    {},
  ),
];
const rows = results.map((r) => ({
  mode: r.label,
  "exit code": r.code,
  "mode in force": r.report?.mode ?? "-",
  degraded: r.report?.degraded ?? "-",
  "sidecar API routes": r.report?.sidecarRoutes ?? "-",
  "wall time (ms)": r.ms,
}));
console.table(rows);
const ok =
  results[0].code === 0 &&
  results[0].report?.mode === "library" &&
  results[1].code === 0 &&
  results[1].report?.mode === "sidecar" &&
  results[1].report?.degraded === false;
console.log(
  ok ? "\nBoth modes ran the same code and reported the expected mode." : "\nA mode did not behave as expected.",
);
process.exit(ok ? 0 : 1);
