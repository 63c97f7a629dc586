// The demo (`pnpm demo`): the orders service of examples/orders-service runs twice, side by side,
// in library mode and under `tandem run` (sidecar mode), against the same three payments
// instances (examples/payments-stub). Both get the same steady load while faults are injected:
// one payments instance fails half its requests with 503 and then recovers, the new-checkout
// flag flips, and a config change (app.maxItems) is applied by rewriting the config file.
// Prints progress, then a table per mode, writes an HTML report, and exits 0 only when both
// modes kept the success rate at or above SUCCESS_THRESHOLD. Everything listens on 127.0.0.1.
//
//   node scripts/demo.mjs [--duration 30] [--rate 75] [--report path.html]
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startStub } from "../examples/payments-stub/stub.mjs";

const SUCCESS_THRESHOLD = 0.99; // share of POST /orders answered 201, per mode
const { values: argv } = parseArgs({
  options: {
    duration: { type: "string", default: "30" },
    rate: { type: "string", default: "75" },
    report: { type: "string" },
  },
});
const DURATION_S = Math.min(120, Math.max(10, Number(argv.duration)));
const RATE = Math.min(200, Math.max(1, Number(argv.rate))); // requests per second, per mode
const MAX_IN_FLIGHT = 100; // per mode: the load is bounded even when a service stalls
const example = (path) => fileURLToPath(new URL(`../examples/${path}`, import.meta.url));
const tandemBin = fileURLToPath(new URL("../packages/tandem/bin/tandem.js", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "tandem-demo-"));
const reportPath = argv.report ?? join(work, "report.html");
const tty = process.stdout.isTTY === true;
let started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;

// --- upstreams -------------------------------------------------------------------------------
const payments = [];
for (let i = 0; i < 3; i++) payments.push(await startStub({ name: `payments-${i}` }));
const inventory = await startStub({ name: "inventory" });

// --- one config directory per mode, from the example's own files -----------------------------
const configText = readFileSync(example("orders-service/tandem.yaml"), "utf8")
  .replace(
    /endpoints: \[http:\/\/127\.0\.0\.1:7001, http:\/\/127\.0\.0\.1:7002, http:\/\/127\.0\.0\.1:7003\]/,
    `endpoints: [${payments.map((p) => p.url).join(", ")}]`,
  )
  .replace("http://127.0.0.1:7101", inventory.url);
if (!configText.includes(payments[0].url)) throw new Error("the example's tandem.yaml no longer has the payments line");

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function startService(mode, dir) {
  return new Promise((resolve, reject) => {
    const config = join(dir, "tandem.yaml");
    const env = { ...process.env, PORT: "0", TANDEM_LOG_LEVEL: "warn" };
    const server = example("orders-service/server.mjs");
    let child;
    let admin;
    const go = async () => {
      if (mode === "library") {
        child = spawn(process.execPath, [server], {
          env: { ...env, TANDEM_MODE: "library", TANDEM_CONFIG: config },
          stdio: ["ignore", "pipe", "pipe"],
        });
      } else {
        admin = `http://127.0.0.1:${await freePort()}`;
        const args = [tandemBin, "run", "--config", config, "--listen", "127.0.0.1:0"];
        args.push("--admin", admin.slice("http://".length), "--", process.execPath, server);
        child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
      }
      const logs = [];
      let buffered = "";
      const timer = setTimeout(
        () => reject(new Error(`${mode}: no listening line in 30 s\n${logs.join("\n")}`)),
        30_000,
      );
      const onData = (chunk) => {
        buffered += chunk;
        const lines = buffered.split("\n");
        buffered = lines.pop();
        for (const line of lines) {
          if (logs.length < 200) logs.push(line);
          if (line.startsWith('{"event":"listening"')) {
            clearTimeout(timer);
            const { url } = JSON.parse(line);
            resolve({
              mode,
              dir,
              url,
              metricsUrl: mode === "library" ? `${url}/metrics` : `${admin}/metrics`,
              child,
              logs,
            });
          }
        }
      };
      child.stdout.setEncoding("utf8").on("data", onData);
      child.stderr.setEncoding("utf8").on("data", (c) => logs.length < 200 && logs.push(c.trimEnd()));
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${mode}: exited with ${code} before listening\n${logs.join("\n")}`));
      });
    };
    go().catch(reject);
  });
}

const dirs = {};
for (const mode of ["library", "sidecar"]) {
  dirs[mode] = join(work, mode);
  mkdirSync(dirs[mode]);
  writeFileSync(join(dirs[mode], "tandem.yaml"), configText);
  copyFileSync(example("orders-service/flags.json"), join(dirs[mode], "flags.json"));
}
console.log(`tandem demo: the orders service in both modes, ${RATE} req/s each for ${DURATION_S} s`);
console.log(`payments: ${payments.map((p) => p.url).join(" ")}   inventory: ${inventory.url}   files: ${work}`);
const services = await Promise.all([startService("library", dirs.library), startService("sidecar", dirs.sidecar)]);

// --- metrics scraping ------------------------------------------------------------------------
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (match === null) continue;
    const labels = {};
    for (const [, k, v] of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}
const sum = (samples, name, filter = () => true) =>
  samples.filter((s) => s.name === name && filter(s.labels)).reduce((n, s) => n + s.value, 0);
async function scrape(service) {
  try {
    const res = await fetch(service.metricsUrl, { signal: AbortSignal.timeout(2000) });
    return parseMetrics(await res.text());
  } catch {
    return undefined;
  }
}

// --- load ------------------------------------------------------------------------------------
const stats = Object.fromEntries(
  services.map((s) => [
    s.mode,
    { sent: 0, ok: 0, failed: 0, inFlight: 0, skipped: 0, latencies: [], seconds: [], ejectedPeak: 0, samples: [] },
  ]),
);
function second(mode) {
  const index = Math.floor(elapsed());
  const list = stats[mode].seconds;
  while (list.length <= index) list.push({ sent: 0, ok: 0, latencies: [], retries: undefined });
  return list[index];
}
let seq = 0;
async function fire(service) {
  const s = stats[service.mode];
  if (s.inFlight >= MAX_IN_FLIGHT) {
    s.skipped++;
    return;
  }
  s.inFlight++;
  s.sent++;
  const bucket = second(service.mode);
  bucket.sent++;
  const n = seq++;
  const t0 = performance.now();
  let ok = false;
  try {
    const res = await fetch(`${service.url}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        customerId: `c${n % 500}`,
        items: [{ sku: `sku-${n % 7}`, qty: 1 + (n % 3) }],
        amount: 10,
      }),
      signal: AbortSignal.timeout(5000),
    });
    ok = res.status === 201;
    const order = await res.json();
    // Every tenth order is read back, to exercise GET /orders/:id and the storage policy.
    if (ok && n % 10 === 0) {
      const back = await fetch(`${service.url}/orders/${order.id}`, { signal: AbortSignal.timeout(5000) });
      ok = back.status === 200 && (await back.json()).id === order.id;
    }
  } catch {
    ok = false;
  }
  const ms = performance.now() - t0;
  s.inFlight--;
  if (ok) {
    s.ok++;
    bucket.ok++;
  } else s.failed++;
  s.latencies.push(ms);
  bucket.latencies.push(ms);
}

const events = [];
function note(text) {
  events.push({ t: elapsed(), text });
  if (tty) process.stdout.write("\r\x1b[2K");
  console.log(`[${elapsed().toFixed(1).padStart(5)} s] ${text}`);
}
const rewrite = (file, edit) => {
  for (const mode of ["library", "sidecar"]) {
    const path = join(dirs[mode], file);
    writeFileSync(path, edit(readFileSync(path, "utf8")));
  }
};
const at = (fraction) => fraction * DURATION_S * 1000;
const schedule = [
  [
    at(0.2),
    () => {
      payments[0].setFault({ errorRate: 0.5, status: 503 });
      note(`fault: payments-0 (${payments[0].url}) now fails 50% of requests with 503`);
    },
  ],
  [
    at(0.4),
    () => {
      rewrite("flags.json", (text) => text.replace('"defaultVariant": "off"', '"defaultVariant": "on"'));
      note("flag: new-checkout flipped to on (flags.json rewritten)");
    },
  ],
  [
    at(0.55),
    () => {
      payments[0].setFault({});
      note("fault: payments-0 recovered");
    },
  ],
  [
    at(0.7),
    () => {
      rewrite("tandem.yaml", (text) => text.replace(/maxItems: 20\b/, "maxItems: 50"));
      note("config: app.maxItems 20 -> 50 (tandem.yaml rewritten)");
    },
  ],
];
let timers = [];

function percentile(values, p) {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
const pct = (s) => (s.ok + s.failed === 0 ? 100 : (100 * s.ok) / (s.ok + s.failed));
function progress() {
  const parts = services.map((svc) => {
    const s = stats[svc.mode];
    return `${svc.mode}: ${String(s.sent).padStart(5)} req ${pct(s).toFixed(1).padStart(5)}% ok p99 ${percentile(s.latencies.slice(-500), 99).toFixed(0).padStart(3)} ms`;
  });
  return `[${elapsed().toFixed(0).padStart(3)} s/${DURATION_S}] ${parts.join("  |  ")}`;
}

// Warm-up, not counted: the first requests open connections and warm the JIT in both modes.
for (const svc of services)
  for (let i = 0; i < 30; i++)
    await fetch(`${svc.url}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ customerId: "warm-up", items: [{ sku: "w", qty: 1 }] }),
    }).then((r) => r.arrayBuffer());

// Open-loop load: each tick sends what the schedule owes since the start, so a slow answer
// does not lower the rate (in-flight requests are capped instead).
started = performance.now();
const loadStart = started;
let owed = 0;
timers = schedule.map(([ms, action]) => setTimeout(action, ms));
const load = setInterval(() => {
  const due = Math.floor(((performance.now() - loadStart) / 1000) * RATE);
  for (; owed < due; owed++) for (const svc of services) void fire(svc);
}, 10);
let lastPrinted = 0;
const monitor = setInterval(async () => {
  for (const svc of services) {
    const samples = await scrape(svc);
    if (samples === undefined) continue;
    const s = stats[svc.mode];
    s.ejectedPeak = Math.max(s.ejectedPeak, sum(samples, "tandem_outlier_ejections_active"));
    second(svc.mode).retries = sum(samples, "tandem_retries_total", (l) => l.upstream === "payments");
  }
  if (tty) process.stdout.write(`\r\x1b[2K${progress()}`);
  else if (elapsed() - lastPrinted >= 5) {
    lastPrinted = elapsed();
    console.log(progress());
  }
}, 1000);

await new Promise((resolve) => setTimeout(resolve, DURATION_S * 1000));
clearInterval(load);
for (const t of timers) clearTimeout(t);
// Let the last requests finish (bounded by their own 5 s timeout).
for (let i = 0; i < 60 && services.some((svc) => stats[svc.mode].inFlight > 0); i++)
  await new Promise((r) => setTimeout(r, 100));
clearInterval(monitor);
if (tty) process.stdout.write(`\r\x1b[2K${progress()}\n`);

// --- results ---------------------------------------------------------------------------------
const results = [];
for (const svc of services) {
  const s = stats[svc.mode];
  const samples = (await scrape(svc)) ?? [];
  const serviceSamples = parseMetrics(await (await fetch(`${svc.url}/metrics`)).text());
  results.push({
    mode: svc.mode === "library" ? "library" : "sidecar (tandem run)",
    requests: s.sent,
    "success %": Number(pct(s).toFixed(2)),
    "p50 ms": Number(percentile(s.latencies, 50).toFixed(1)),
    "p99 ms": Number(percentile(s.latencies, 99).toFixed(1)),
    retries: sum(samples, "tandem_retries_total", (l) => l.upstream !== undefined),
    "breaker openings": sum(samples, "tandem_circuit_transitions_total", (l) => l.to === "open"),
    "ejections (peak)": s.ejectedPeak,
    "budget rejections": sum(samples, "tandem_rejected_total", (l) => l.reason === "budget"),
    "flag on (orders)": sum(serviceSamples, "orders_created_total", (l) => l.checkout === "new"),
    "config changes": sum(serviceSamples, "orders_config_changes_total"),
    "maxItems now": sum(serviceSamples, "orders_max_items"),
    skipped: s.skipped,
  });
}
console.log("\nresults (latency is the client's view of POST /orders; counters from each mode's /metrics):");
console.table(results);

// --- HTML report -----------------------------------------------------------------------------
const COLORS = { library: "#1f77b4", sidecar: "#d62728" };
function chart(title, unit, series, maxY) {
  const W = 720;
  const H = 220;
  const P = 40;
  const x = (t) => P + (t / DURATION_S) * (W - 2 * P);
  const y = (v) => H - P + -(v / maxY) * (H - 2 * P);
  const lines = series
    .map(({ mode, points }) => {
      const d = points.map(([t, v], i) => `${i === 0 ? "M" : "L"}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join("");
      return `<path d="${d}" fill="none" stroke="${COLORS[mode]}" stroke-width="2"/>`;
    })
    .join("");
  const marks = events
    .map(
      (e) =>
        `<line x1="${x(e.t)}" x2="${x(e.t)}" y1="${P - 10}" y2="${H - P}" stroke="#999" stroke-dasharray="3,3"><title>${html(e.text)}</title></line>`,
    )
    .join("");
  const ticks = [0, 0.5, 1]
    .map(
      (f) =>
        `<text x="${P - 4}" y="${y(maxY * f) + 4}" text-anchor="end" font-size="10">${(maxY * f).toFixed(0)}</text>`,
    )
    .join("");
  const legend = series
    .map((s, i) => `<text x="${W - P - 150 + i * 80}" y="14" fill="${COLORS[s.mode]}" font-size="12">${s.mode}</text>`)
    .join("");
  return `<h2>${title}</h2><svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="${title}">
<rect x="${P}" y="${P - 10}" width="${W - 2 * P}" height="${H - 2 * P + 10}" fill="#fafafa" stroke="#ddd"/>
${ticks}<text x="${W / 2}" y="${H - 8}" text-anchor="middle" font-size="11">seconds (dashed lines: injected events)</text>
<text x="8" y="14" font-size="11">${unit}</text>${legend}${marks}${lines}</svg>`;
}
const perSecond = (mode, f) =>
  stats[mode].seconds.map((b, i) => [i + 0.5, f(b)]).filter(([t, v]) => t <= DURATION_S && v !== undefined);
const successSeries = services.map((svc) => ({
  mode: svc.mode,
  points: perSecond(svc.mode, (b) => (b.sent === 0 ? undefined : (100 * b.ok) / b.sent)),
}));
const latencySeries = services.map((svc) => ({
  mode: svc.mode,
  points: perSecond(svc.mode, (b) => (b.latencies.length === 0 ? undefined : percentile(b.latencies, 99))),
}));
const retrySeries = services.map((svc) => ({ mode: svc.mode, points: perSecond(svc.mode, (b) => b.retries) }));
const maxLatency = Math.max(10, ...latencySeries.flatMap((s) => s.points.map(([, v]) => v)));
const html = (v) => String(v).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const table = `<table><tr>${Object.keys(results[0])
  .map((k) => `<th>${html(k)}</th>`)
  .join("")}</tr>${results
  .map(
    (r) =>
      `<tr>${Object.values(r)
        .map((v) => `<td>${html(v)}</td>`)
        .join("")}</tr>`,
  )
  .join("")}</table>`;
writeFileSync(
  reportPath,
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tandem demo report</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#eee}</style></head>
<body><h1>tandem demo: the orders service in library and sidecar mode</h1>
<p>${RATE} requests/s per mode for ${DURATION_S} s against three payments instances; success threshold ${(SUCCESS_THRESHOLD * 100).toFixed(0)}% of POST /orders answered 201.</p>
${table}
<h2>Events</h2><ul>${events.map((e) => `<li>${e.t.toFixed(1)} s: ${html(e.text)}</li>`).join("")}</ul>
${chart("Success rate per second", "% ok", successSeries, 100)}
${chart("p99 latency per second", "ms", latencySeries, Math.ceil(maxLatency / 10) * 10)}
${chart("Retries sent to payments (cumulative, from /metrics)", "retries", retrySeries, Math.max(10, ...retrySeries.flatMap((r) => r.points.map(([, v]) => v))))}
</body></html>
`,
);

// --- stop everything -------------------------------------------------------------------------
await Promise.all(
  services.map(
    (svc) =>
      new Promise((resolve) => {
        if (svc.child.exitCode !== null) return resolve();
        const kill = setTimeout(() => svc.child.kill("SIGKILL"), 10_000);
        svc.child.once("exit", () => {
          clearTimeout(kill);
          resolve();
        });
        svc.child.kill("SIGTERM");
      }),
  ),
);
await Promise.all([...payments, inventory].map((p) => p.close()));

const sawChanges = results.every((r) => r["flag on (orders)"] > 0 && r["config changes"] >= 1);
const ok = results.every((r) => r["success %"] >= SUCCESS_THRESHOLD * 100) && sawChanges;
console.log(`\nreport: ${reportPath}`);
console.log(
  ok
    ? `Both modes kept ≥ ${SUCCESS_THRESHOLD * 100}% of orders succeeding through the fault, and saw the flag flip and the config change.`
    : `A mode missed ≥ ${SUCCESS_THRESHOLD * 100}% success or did not see the flag/config change.`,
);
process.exit(ok ? 0 : 1);
