// Scenario 3b, the sidecar hop counted: instructions per proxied request of the tandem sidecar, the
// bare Node proxy, nginx and HAProxy, each run under valgrind's callgrind, against the same upstream
// and with the same configuration as scenario 3. An instruction count is the same on every run,
// whatever else the machine does, where scenario 3's CPU seconds vary from round to round on a
// shared machine; it does not see what instructions cost (cache misses, waiting for a core) nor
// the kernel's share of the work (each proxy makes about the same system calls per request).
// Writes bench/results/hop-instructions.json.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSidecar } from "@tandem/testkit";
import {
  callgrindWrap,
  commandOf,
  countInstructions,
  noteRound,
  spawnWithReadyMessage,
  summarizeCounts,
  valgrindOrSkip,
} from "./lib/instructions.mjs";
import { startNodeProxy } from "./lib/node-proxy.mjs";
import { startHaproxy, startNginx, startUpstream, ToolMissingError } from "./lib/proxies.mjs";
import { pick, QUICK, writeResult } from "./lib/stats.mjs";

// Three rounds, so that the median is a round's: now and then V8's compiler threads are still at
// work in the counted window of one (up to ~10 k instructions a request more, on other threads).
const ROUNDS = pick(3, 1);
// V8 compiles most of a Node proxy's hot path over its first ~20 000 requests; after them the
// sidecar's main thread still ran ~3 k instructions a request above where it settles (after
// 100 000), and after 60 000 within 0-2 k of it in one-off runs, about the spread of those runs.
const WARMUP = pick(60_000, 3000);
const REQUESTS = pick(2000, 300);
const CONNECTIONS = 4;
/**
 * A second request: the same, with ten header lines more, as a service's HTTP client sends them.
 * What each proxy does per header line shows in the difference.
 */
const MORE_HEADERS = {
  "user-agent": "checkout/2.3.1 node/24",
  accept: "application/json",
  "accept-encoding": "gzip, br",
  "accept-language": "en-GB,en;q=0.9",
  "content-type": "application/json",
  "x-request-id": "5f0c6e1a-8b7d-4a52-9d3e-2c1f0b9a7e64",
  "x-tenant": "acme",
  "cache-control": "no-cache",
  cookie: "session=abc123; theme=dark",
  "x-forwarded-for": "10.1.2.3",
};
/** The proxies counted with `MORE_HEADERS` too (the yardsticks read no header). */
const WITH_HEADERS = new Set(["tandem sidecar", "bare Node proxy", "nginx", "HAProxy"]);

const version = valgrindOrSkip("hop-instructions");
if (version === undefined) process.exit(0);

const upstream = await startUpstream();
const hostPort = upstream.url.slice("http://".length);
const dir = mkdtempSync(join(tmpdir(), "tandem-bench-instr-"));
const skipped = {};
const rounds = {};
const roundsWithHeaders = {};
try {
  const config = join(dir, "tandem.yaml");
  writeFileSync(config, `upstreams:\n  upstream:\n    endpoints: [${upstream.url}]\n`);
  // The sidecar runs exactly as `launchSidecar` starts it (its Node flags and environment): read
  // from a sidecar started the usual way, then started again under callgrind.
  const usual = await startSidecar({ config, env: { TANDEM_LOG_LEVEL: "warn" } });
  let sidecarCommand;
  try {
    sidecarCommand = commandOf(usual.pid);
  } finally {
    await usual.stop();
  }
  const token = usual.token;

  const subjects = {
    "tandem sidecar": async (wrap) => {
      // The IPC channel stays open: a sidecar whose parent goes away stops.
      const { child, message } = await spawnWithReadyMessage(wrap, sidecarCommand.argv, sidecarCommand.env);
      return {
        target: {
          origin: message.api,
          path: "http://upstream/",
          headers: { "proxy-authorization": `Bearer ${token}` },
        },
        pids: [child.pid],
        stop: () => stopChild(child),
      };
    },
    "bare Node proxy": async (wrap) => reverseProxy(await startNodeProxy(upstream.url, { wrap })),
    "node:http, socket out": async (wrap) =>
      reverseProxy(await startNodeProxy(upstream.url, { wrap, kind: "http-socket" })),
    "sockets both ways": async (wrap) => reverseProxy(await startNodeProxy(upstream.url, { wrap, kind: "socket" })),
    // One process: the worker's code, without the master that would fork it.
    nginx: async (wrap) => reverseProxy(await startNginx({ upstream: hostPort, wrap, masterProcess: false })),
    HAProxy: async (wrap) => reverseProxy(await startHaproxy({ upstream: hostPort, wrap })),
  };
  const runs = [];
  for (const name of Object.keys(subjects)) runs.push({ name, more: false });
  for (const name of Object.keys(subjects)) if (WITH_HEADERS.has(name)) runs.push({ name, more: true });
  for (let r = 0; r < ROUNDS; r++) {
    for (const { name, more } of runs) {
      const start = subjects[name];
      if (skipped[name] !== undefined) continue;
      const outDir = mkdtempSync(join(dir, "cg-"));
      let subject;
      try {
        subject = await start(callgrindWrap(outDir));
      } catch (error) {
        if (!(error instanceof ToolMissingError)) throw error;
        skipped[name] = error.message;
        console.log(`${name}: ${error.message}`);
        continue;
      }
      try {
        const target = more
          ? { ...subject.target, headers: { ...subject.target.headers, ...MORE_HEADERS } }
          : subject.target;
        const counts = await countInstructions({
          pids: subject.pids,
          outDir,
          target,
          warmup: WARMUP,
          requests: REQUESTS,
          connections: CONNECTIONS,
        });
        if (more) console.log("with 10 more request headers:");
        noteRound(more ? roundsWithHeaders : rounds, name, counts, r + 1, ROUNDS);
      } finally {
        await subject.stop();
      }
    }
  }
  const summary = summarizeCounts(rounds);
  const summaryWithHeaders = summarizeCounts(roundsWithHeaders);
  const file = writeResult("hop-instructions", {
    method: {
      tool: `${version}, callgrind`,
      upstream: upstream.kind,
      rounds: ROUNDS,
      warmupRequests: WARMUP,
      requests: REQUESTS,
      connections: CONNECTIONS,
      moreHeaders: MORE_HEADERS,
    },
    baseline: "bare Node proxy",
    skipped,
    rounds,
    summary,
    roundsWithHeaders,
    summaryWithHeaders,
  });
  console.table(
    Object.fromEntries(
      Object.entries(summary).map(([n, s]) => [
        n,
        { perRequest: s.perRequest.median, main: s.mainThreadPerRequest.median },
      ]),
    ),
  );
  console.log(`wrote ${file}${QUICK ? " (quick mode)" : ""}`);
} finally {
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
}

/** A reverse proxy in front of the upstream as a subject: requests to its root. */
function reverseProxy(proxy) {
  return { target: { origin: proxy.url, path: "/", headers: {} }, pids: proxy.pids, stop: proxy.stop };
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await gone;
}
