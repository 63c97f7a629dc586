// Scenario 4, under faults: three upstream instances and one schedule of faults, the same for
// every subject. Healthy, then instance A fails half its requests with 503, then instance B also
// stalls (every answer 2 s late), then all recover. A fixed-rate open-loop generator (its own
// process) calls an app (its own process) that calls the upstream through the subject: plain
// undici round robin, cockatiel retry + breaker around it, nginx or HAProxy as a local proxy,
// tandem's rt.http in library mode, and the same rt.http in sidecar mode against a real sidecar.
// Every subject gets the same client deadline (1 s) and the same attempt bound (250 ms, 3
// attempts). The upstream instances count every request they get, so retry amplification is
// upstream requests / client requests. Several rounds, subjects interleaved in each round, each
// subject started afresh per round and warmed up first; median with min and max.
// Writes bench/results/faults.json. `BENCH_QUICK=1`: phases of a second or two, one round.
import { fork } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runOpenLoop } from "./lib/open-loop.mjs";
import { startHaproxy, startNginx, ToolMissingError } from "./lib/proxies.mjs";
import { pick, QUICK, sleep, summarizeRounds, writeResult } from "./lib/stats.mjs";

const SELF = fileURLToPath(import.meta.url);

const RATE = Number(process.env.BENCH_RATE ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? pick(3, 1));
const WARMUP_S = pick(1.5, 1);
/** Client deadline: the app gives every subject this long per request. */
const DEADLINE_MS = 1000;
/** One attempt's bound, for every subject that retries. */
const ATTEMPT_MS = 250;
const ATTEMPTS = 3;
/** How long an ejected or broken endpoint stays out, for every subject that has the notion. */
const EJECT_S = 5;
const STALL_MS = 2000;
/** Connections from the generator to the app: more than the requests that can be in flight at once. */
const CONNECTIONS = 512;

const HEALTHY = {};
const FAILING = { rate: 0.5, status: 503 };
const STALLED = { latencyMs: STALL_MS };
/** The schedule: per phase, what each of the three instances A, B, C does. */
const PHASES = [
  { name: "healthy", seconds: pick(1.5, 1), faults: [HEALTHY, HEALTHY, HEALTHY] },
  { name: "A fails 50% (503)", seconds: pick(3, 2), faults: [FAILING, HEALTHY, HEALTHY] },
  { name: "A fails 50%, B stalls 2 s", seconds: pick(3, 2), faults: [FAILING, STALLED, HEALTHY] },
  { name: "recovered", seconds: pick(2.5, 1), faults: [HEALTHY, HEALTHY, HEALTHY] },
];
const MEASURED_S = PHASES.reduce((s, p) => s + p.seconds, 0);

// --- the subjects' configs, as they are run and printed in the docs -----------------------------

function tandemYaml(endpoints) {
  return `upstreams:
  payments:
    endpoints: [${endpoints.join(", ")}]
    loadBalancer: peak-ewma
    timeout: { attempt: ${ATTEMPT_MS}ms, total: ${DEADLINE_MS}ms }
    retry:
      attempts: ${ATTEMPTS}
      backoff: { base: 5ms, max: 100ms }
      on: [connect-error, reset, timeout, 502, 503, 504]
      budget: { ratio: 0.2, minPerSecond: 10 }
    outlierDetection:
      consecutive5xx: 3
      failurePercentage: 25
      minRequests: 10
      window: 2s
      baseEjection: ${EJECT_S}s
      maxEjectionPercent: 67
    circuitBreaker: { failureRatio: 0.5, minThroughput: 20, breakFor: ${EJECT_S}s }
    hedging: { after: p99, maxHedges: 1 }
`;
}

function nginxConfig(hosts) {
  const http = `upstream payments {
    ${hosts.map((h) => `server ${h} max_fails=3 fail_timeout=${EJECT_S}s;`).join("\n    ")}
    keepalive 64;
  }`;
  const server = `location / {
      proxy_pass http://payments;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout ${ATTEMPT_MS}ms;
      proxy_send_timeout ${ATTEMPT_MS}ms;
      proxy_read_timeout ${ATTEMPT_MS}ms;
      proxy_next_upstream error timeout http_502 http_503 http_504;
      proxy_next_upstream_tries ${ATTEMPTS};
      proxy_next_upstream_timeout ${DEADLINE_MS}ms;
    }`;
  return { http, server };
}

function haproxyBackend(hosts) {
  return `  balance roundrobin
  http-reuse always
  timeout connect ${ATTEMPT_MS}ms
  timeout server ${ATTEMPT_MS}ms
  timeout check ${ATTEMPT_MS}ms
  retries ${ATTEMPTS - 1}
  retry-on conn-failure empty-response response-timeout 502 503 504
  option redispatch 1
  option httpchk GET /
  default-server check inter 1s fall 3 rise 2 observe layer7 error-limit 3 on-error mark-down maxconn 1000
  ${hosts.map((h, i) => `server ${"abc"[i]} ${h}`).join("\n  ")}`;
}

const COCKATIEL = `per endpoint: circuitBreaker(handleAll, { halfOpenAfter: ${EJECT_S * 1000}, breaker: new SamplingBreaker({ threshold: 0.3, duration: ${EJECT_S * 1000}, minimumRps: 5 }) })
  wrapping timeout(${ATTEMPT_MS}, TimeoutStrategy.Aggressive);
around them: retry(handleAll, { maxAttempts: ${ATTEMPTS - 1}, backoff: new ExponentialBackoff({ initialDelay: 25, maxDelay: 1000 }) }),
  each attempt on the next endpoint in round-robin order whose breaker is not open; a 5xx answer throws`;

// --- the app: a child process that calls the upstream through one subject ----------------------

async function app(o) {
  const { createServer } = await import("node:http");
  const { Pool } = await import("undici");
  let call;
  let close = async () => {};
  if (o.kind === "direct" || o.kind === "cockatiel") {
    const pools = o.endpoints.map((u) => new Pool(u, { connections: 128, keepAliveTimeout: 30_000 }));
    close = () => Promise.all(pools.map((p) => p.close()));
    let next = 0;
    const send = async (pool, signal) => {
      const res = await pool.request({ method: "GET", path: "/", signal });
      await res.body.dump();
      return res.statusCode;
    };
    if (o.kind === "direct") call = (signal) => send(pools[next++ % pools.length], signal);
    else call = await cockatielCall(pools, send, () => next++);
  } else if (o.kind === "proxy") {
    const pool = new Pool(o.proxy, { connections: 128, keepAliveTimeout: 30_000 });
    close = () => pool.close();
    call = async (signal) => {
      const res = await pool.request({ method: "GET", path: "/", signal });
      await res.body.dump();
      return res.statusCode;
    };
  } else {
    const { createRuntime } = await import("tandem");
    const { pino } = await import("pino");
    const rt = await createRuntime({
      env: {},
      logger: pino({ level: "silent" }),
      configPath: o.config,
      ...(o.kind === "tandem-sidecar"
        ? { mode: "sidecar", sidecar: o.sidecar, token: o.token, sidecarRequired: true }
        : { mode: "library" }),
    });
    if (rt.mode !== (o.kind === "tandem-sidecar" ? "sidecar" : "library"))
      throw new Error(`runtime in ${rt.mode} mode`);
    close = () => rt.close();
    call = async (signal) => {
      const res = await rt.http.request("payments", { path: "/", signal });
      await res.body.dump();
      return res.statusCode;
    };
  }
  const server = createServer((req, res) => {
    req.resume();
    call(AbortSignal.timeout(DEADLINE_MS)).then(
      (status) => {
        res.writeHead(status, { "content-type": "text/plain" });
        res.end(status < 400 ? "ok" : "failed");
      },
      (error) => {
        const timedOut =
          error?.name === "TimeoutError" ||
          error?.name === "TaskCancelledError" ||
          error?.code === "timeout" ||
          error?.code === "aborted";
        res.writeHead(timedOut ? 504 : 502, { "content-type": "text/plain" });
        res.end(String(error?.code ?? error?.name ?? "error"));
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  process.send({ port: server.address().port });
  process.once("message", async () => {
    server.closeAllConnections();
    server.close();
    await close();
    process.exit(0);
  });
  process.once("disconnect", () => process.exit(0));
}

async function cockatielCall(pools, send, nextIndex) {
  const c = await import("cockatiel");
  class StatusError extends Error {
    constructor(code) {
      super(`status ${code}`);
      this.statusCode = code;
    }
  }
  const guarded = pools.map((pool) => {
    const breaker = c.circuitBreaker(c.handleAll, {
      halfOpenAfter: EJECT_S * 1000,
      breaker: new c.SamplingBreaker({ threshold: 0.3, duration: EJECT_S * 1000, minimumRps: 5 }),
    });
    const attempt = c.wrap(breaker, c.timeout(ATTEMPT_MS, c.TimeoutStrategy.Aggressive));
    return { breaker, attempt, pool };
  });
  const retry = c.retry(c.handleAll, {
    maxAttempts: ATTEMPTS - 1,
    backoff: new c.ExponentialBackoff({ initialDelay: 25, maxDelay: 1000 }),
  });
  const choose = () => {
    for (let k = 0; k < guarded.length; k++) {
      const g = guarded[nextIndex() % guarded.length];
      if (g.breaker.state !== c.CircuitState.Open) return g;
    }
    return guarded[nextIndex() % guarded.length];
  };
  return async (signal) => {
    try {
      return await retry.execute(({ signal: outer }) => {
        const g = choose();
        return g.attempt.execute(async ({ signal: inner }) => {
          const code = await send(g.pool, inner);
          if (code >= 500) throw new StatusError(code);
          return code;
        }, outer);
      }, signal);
    } catch (error) {
      if (error instanceof StatusError) return error.statusCode;
      throw error;
    }
  };
}

if (process.argv.includes("--faults-app")) {
  process.once("message", (o) => {
    app(o).catch((error) => {
      console.error(error);
      process.exit(1);
    });
  });
}

// --- the parent: upstreams, subjects, schedule, rounds ---------------------------------------------

// Whatever happens to the benchmark, the apps it started die with it.
const apps = new Set();
process.once("exit", () => {
  for (const child of apps) child.kill("SIGKILL");
});

function startApp(options) {
  return new Promise((resolve, reject) => {
    const child = fork(SELF, ["--faults-app"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the ${options.kind} app did not start within 30 s`));
    }, 30_000);
    child.once("message", (m) => {
      clearTimeout(timer);
      const stop = async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const gone = new Promise((r) => child.once("exit", r));
        child.send("stop");
        const done = await Promise.race([gone.then(() => true), sleep(5000).then(() => false)]);
        if (!done) {
          child.kill("SIGKILL");
          await gone;
        }
      };
      resolve({ url: `http://127.0.0.1:${m.port}`, stop });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the ${options.kind} app exited (${code}) before it listened`));
    });
    apps.add(child);
    child.once("exit", () => apps.delete(child));
    child.send(options);
  });
}

/** Starts what a subject needs besides the app; returns the app's options and a stop for the rest. */
async function startSubject(name, urls, dir) {
  const hosts = urls.map((u) => new URL(u).host);
  if (name === "no resilience (undici)") return { app: { kind: "direct", endpoints: urls }, stop: async () => {} };
  if (name === "cockatiel") return { app: { kind: "cockatiel", endpoints: urls }, stop: async () => {} };
  if (name === "nginx") {
    const { http, server } = nginxConfig(hosts);
    const nginx = await startNginx({ httpBlock: http, serverBody: server });
    return { app: { kind: "proxy", proxy: nginx.url }, stop: nginx.stop };
  }
  if (name === "HAProxy") {
    const haproxy = await startHaproxy({ backendBody: haproxyBackend(hosts) });
    return { app: { kind: "proxy", proxy: haproxy.url }, stop: haproxy.stop };
  }
  const config = join(dir, "tandem.yaml");
  writeFileSync(config, tandemYaml(urls));
  if (name === "tandem library") return { app: { kind: "tandem-library", config }, stop: async () => {} };
  const { startSidecar } = await import("@tandem/testkit");
  const sidecar = await startSidecar({ config, env: { TANDEM_LOG_LEVEL: "warn" } });
  return {
    app: { kind: "tandem-sidecar", config, sidecar: sidecar.api, token: sidecar.token },
    stop: () => sidecar.stop(5000),
  };
}

/** One measured run of one subject: fresh subject, warm-up, then the schedule. */
async function runOnce(name, upstream, dir) {
  const setAll = (faults) => {
    for (const [i, inst] of upstream.instances.entries()) inst.set(faults[i]);
  };
  setAll(PHASES[0].faults);
  const subject = await startSubject(
    name,
    upstream.instances.map((i) => i.url),
    dir,
  );
  let appHandle;
  try {
    appHandle = await startApp(subject.app);
    await runOpenLoop({
      origin: appHandle.url,
      rate: RATE,
      durationS: WARMUP_S,
      timeoutMs: 5000,
      connections: CONNECTIONS,
    });
    await sleep(200);
    setAll(PHASES[0].faults); // counts start at zero
    const phases = [];
    const timers = [];
    const measured = runOpenLoop({
      origin: appHandle.url,
      rate: RATE,
      durationS: MEASURED_S,
      timeoutMs: 5000,
      connections: CONNECTIONS,
    });
    // The schedule starts when the first measured request reaches an instance.
    const waitUntil = Date.now() + 10_000;
    while (upstream.total() === 0 && Date.now() < waitUntil) await sleep(1);
    const close = (p) => {
      const perInstance = upstream.instances.map((i) => i.requests);
      const total = perInstance.reduce((a, b) => a + b, 0);
      // Client requests of a phase: the fixed rate times its length.
      const amplification = total / (RATE * PHASES[p].seconds);
      phases.push({ name: PHASES[p].name, seconds: PHASES[p].seconds, perInstance, amplification });
    };
    let at = 0;
    for (let p = 1; p < PHASES.length; p++) {
      at += PHASES[p - 1].seconds * 1000;
      timers.push(
        setTimeout(() => {
          close(p - 1);
          setAll(PHASES[p].faults);
        }, at),
      );
    }
    const result = await measured;
    for (const t of timers) clearTimeout(t);
    await sleep(100);
    close(phases.length);
    const upstreamRequests = phases.reduce((s, p) => s + p.perInstance.reduce((a, b) => a + b, 0), 0);
    return {
      sent: result.sent,
      ok: result.ok,
      successRate: result.ok / result.sent,
      latency: result.latency,
      achievedRate: result.achievedRate,
      statusCodes: result.statusCodes,
      errorCodes: result.errorCodes,
      upstreamRequests,
      amplification: upstreamRequests / result.sent,
      phases,
    };
  } finally {
    await appHandle?.stop();
    await subject.stop();
    setAll(PHASES[0].faults);
  }
}

const SUBJECTS = ["no resilience (undici)", "cockatiel", "nginx", "HAProxy", "tandem library", "tandem sidecar"];

async function main() {
  const { startFaultyUpstream } = await import("@tandem/testkit");
  const only = process.env.BENCH_SUBJECTS?.split(",").map((s) => s.trim());
  const subjects = only ? SUBJECTS.filter((s) => only.includes(s)) : SUBJECTS;
  const upstream = await startFaultyUpstream(3);
  const dir = mkdtempSync(join(tmpdir(), "tandem-bench-faults-"));
  const rounds = Object.fromEntries(subjects.map((s) => [s, []]));
  const skipped = {};
  const started = Date.now();
  try {
    for (let r = 0; r < ROUNDS; r++) {
      // Rotate the order per round, so no subject always runs right after the same one.
      const order = subjects.map((_, i) => subjects[(i + r) % subjects.length]);
      for (const name of order) {
        if (skipped[name]) continue;
        try {
          const one = await runOnce(name, upstream, dir);
          rounds[name].push(one);
          console.log(
            `round ${r + 1}/${ROUNDS} ${name}: success ${(one.successRate * 100).toFixed(2)}%, p50 ${one.latency.p50} ms, p99 ${one.latency.p99} ms, amplification ${one.amplification.toFixed(3)}`,
          );
        } catch (error) {
          if (!(error instanceof ToolMissingError)) throw error;
          skipped[name] = error.message;
          console.log(`${name}: ${error.message}`);
        }
      }
    }
  } finally {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const hosts = ["127.0.0.1:A", "127.0.0.1:B", "127.0.0.1:C"];
  const results = {};
  for (const name of subjects) {
    if (rounds[name].length === 0) continue;
    const numbers = rounds[name].map((r) => ({
      successRate: r.successRate,
      p50: r.latency.p50,
      p90: r.latency.p90,
      p99: r.latency.p99,
      max: r.latency.max,
      amplification: r.amplification,
      upstreamRequests: r.upstreamRequests,
      sent: r.sent,
      phases: Object.fromEntries(
        r.phases.map((p) => [
          p.name,
          { A: p.perInstance[0], B: p.perInstance[1], C: p.perInstance[2], amplification: p.amplification },
        ]),
      ),
    }));
    results[name] = { summary: summarizeRounds(numbers), rounds: rounds[name] };
  }
  const file = writeResult("faults", {
    method: {
      rate: RATE,
      rounds: ROUNDS,
      warmupS: WARMUP_S,
      measuredS: MEASURED_S,
      deadlineMs: DEADLINE_MS,
      attemptMs: ATTEMPT_MS,
      attempts: ATTEMPTS,
      ejectS: EJECT_S,
      stallMs: STALL_MS,
      phases: PHASES.map((p) => ({ name: p.name, seconds: p.seconds, faults: p.faults })),
    },
    configs: {
      "no resilience (undici)": `one undici Pool per instance, round robin, one attempt, the client deadline (${DEADLINE_MS} ms) only`,
      cockatiel: COCKATIEL,
      nginx: (({ http, server }) => `http {\n  ${http}\n  server {\n    ${server}\n  }\n}`)(nginxConfig(hosts)),
      HAProxy: `backend payments\n${haproxyBackend(hosts)}`,
      tandem: tandemYaml(["http://127.0.0.1:A", "http://127.0.0.1:B", "http://127.0.0.1:C"]),
    },
    skipped,
    elapsedS: Math.round((Date.now() - started) / 1000),
    results,
  });
  console.log(`wrote ${file}${QUICK ? " (quick mode)" : ""}`);
}

if (!process.argv.includes("--faults-app")) {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
