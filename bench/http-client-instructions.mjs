// Scenario 2b, the HTTP client counted: instructions per request of a client process sending with
// raw undici and with tandem's rt.http (every policy on), each run under valgrind's callgrind,
// against the same upstream as scenario 2. A count is the same on every run, where scenario 2's
// throughput moves with whatever else the machine does. Writes bench/results/http-client-instructions.json.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { createRuntime } from "tandem";
import { Agent, request } from "undici";
import { allPoliciesConfig } from "./lib/client-config.mjs";
import {
  CALLGRIND_CONTROL_BIN,
  callgrindWrap,
  countedSince,
  noteRound,
  spawnWithReadyMessage,
  summarizeCounts,
  valgrindOrSkip,
} from "./lib/instructions.mjs";
import { startUpstream } from "./lib/proxies.mjs";
import { pick, QUICK, writeResult } from "./lib/stats.mjs";

const SELF = fileURLToPath(import.meta.url);
const ROUNDS = pick(2, 1);
// V8 compiles a client's hot path to its final form over the first ~20 000 requests.
const WARMUP = pick(20_000, 3000);
const REQUESTS = pick(5000, 500);
const LANES = 32;
const BASELINE = "undici.request";
const TANDEM = "tandem rt.http (all policies)";
// Scenario 2's upstream settings, with timeouts a process running ~50 times slower under callgrind
// does not reach: they never fire in either, so the work counted is the same.
const CONFIG = (url) => allPoliciesConfig(url, { concurrency: LANES, attempt: "60s", total: "120s" });

if (process.argv[2] === "--client") {
  await client(process.argv[3], process.argv[4], process.argv[5]);
} else {
  await main();
}

/** The client process: warms up, says so, then sends the counted requests when told to. */
async function client(subject, url, config) {
  let send;
  let close = async () => {};
  if (subject === BASELINE) {
    const agent = new Agent({ connections: LANES, keepAliveTimeout: 30_000 });
    send = async () => {
      const res = await request(`${url}/`, { dispatcher: agent });
      await res.body.dump();
      return res.statusCode;
    };
    close = () => agent.close();
  } else {
    const silent = pino({ level: "silent" });
    const rt = await createRuntime({ mode: "library", configPath: config, logger: silent, env: {} });
    send = async () => {
      const res = await rt.http.request("bench", { path: "/" });
      await res.body.dump();
      return res.statusCode;
    };
    close = () => rt.close();
  }
  const drive = async (n) => {
    let started = 0;
    await Promise.all(
      Array.from({ length: LANES }, async () => {
        while (started < n) {
          started++;
          const status = await send();
          if (status !== 200) throw new Error(`${subject}: the upstream answered ${status}`);
        }
      }),
    );
  };
  const next = () => new Promise((resolve) => process.once("message", resolve));
  await drive(WARMUP);
  process.send("warm");
  await next();
  await drive(REQUESTS);
  process.send("done");
  await next();
  await close();
  process.exit(0);
}

async function main() {
  const version = valgrindOrSkip("http-client-instructions");
  if (version === undefined) return;
  const upstream = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), "tandem-bench-client-instr-"));
  const config = join(dir, "tandem.yaml");
  writeFileSync(config, CONFIG(upstream.url));
  const rounds = {};
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const subject of [BASELINE, TANDEM]) {
        const counts = await count(subject, upstream.url, config, mkdtempSync(join(dir, "cg-")));
        noteRound(rounds, subject, counts, r + 1, ROUNDS);
      }
    }
  } finally {
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const summary = summarizeCounts(rounds);
  const file = writeResult("http-client-instructions", {
    method: {
      tool: `${version}, callgrind`,
      upstream: upstream.kind,
      rounds: ROUNDS,
      warmupRequests: WARMUP,
      requests: REQUESTS,
      lanes: LANES,
    },
    baseline: BASELINE,
    skipped: {},
    rounds,
    summary,
  });
  console.log(`wrote ${file}${QUICK ? " (quick mode)" : ""}`);
}

/** Counts one client process's instructions over `REQUESTS` requests, after its warm-up. */
async function count(subject, url, config, outDir) {
  const { child } = await spawnWithReadyMessage(
    callgrindWrap(outDir),
    [process.execPath, SELF, "--client", subject, url, config],
    process.env,
    900_000,
  );
  try {
    const next = () => new Promise((resolve) => child.once("message", resolve));
    const before = new Set(readdirSync(outDir));
    control(["-i", "on", String(child.pid)]);
    const done = next();
    child.send("go");
    await done;
    control(["-d", String(child.pid)]);
    control(["-i", "off", String(child.pid)]);
    const { total, mainThread } = countedSince(outDir, before);
    if (total === 0) throw new Error(`callgrind counted nothing for ${subject} in ${outDir}`);
    return {
      requests: REQUESTS,
      instructions: total,
      perRequest: total / REQUESTS,
      mainThreadPerRequest: mainThread / REQUESTS,
    };
  } finally {
    const gone = new Promise((resolve) => child.once("exit", resolve));
    if (child.connected) child.send("end");
    else child.kill("SIGKILL");
    await gone;
  }
}

function control(args) {
  execFileSync(CALLGRIND_CONTROL_BIN, args, { stdio: "ignore" });
}
