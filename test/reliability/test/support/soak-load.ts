// The soak's load generator, run as a child process (`fork`) so that the test's event loop stays
// free to sample the sidecar. Open loop at a fixed rate: request i is due at start + i / rate,
// whether or not earlier answers came back; a request that is due while `maxInFlight` are still
// out is not sent and is counted as skipped (the generator, or what it drives, fell behind).
// Every answer that is not a 2xx, and every request that got no answer, is reported with its
// start and end time (epoch ms) so that the parent can tell injected failures from the rest.
import { Pool } from "undici";
import type { LoadOptions } from "./soak.js";

/** The parent's LoadOptions, sent over IPC. */
type Start = LoadOptions & { type: "start" };

type Failure = [start: number, end: number, kind: string];

const send = (message: unknown) => process.send?.(message);

function run(o: Start): void {
  const pool = new Pool(o.origin, {
    connections: o.connections,
    pipelining: 1,
    headersTimeout: o.timeoutMs,
    bodyTimeout: o.timeoutMs,
  });
  const headers: Record<string, string> =
    o.proxyAuthorization === undefined ? {} : { "proxy-authorization": o.proxyAuthorization };
  const startedAt = Date.now();
  let due = 0;
  let sent = 0;
  let ok = 0;
  let skipped = 0;
  let inflight = 0;
  let peakInFlight = 0;
  let failures: Failure[] = [];
  let failed = 0;
  let stopping = false;

  const one = (): void => {
    const start = Date.now();
    sent++;
    inflight++;
    if (inflight > peakInFlight) peakInFlight = inflight;
    pool
      .request({ method: "GET", path: o.target, headers })
      .then(async (res) => {
        await res.body.dump();
        if (res.statusCode >= 200 && res.statusCode < 300) {
          ok++;
          return;
        }
        const code = res.headers["x-tandem-error"];
        failed++;
        failures.push([start, Date.now(), typeof code === "string" ? `tandem:${code}` : `http:${res.statusCode}`]);
      })
      .catch((error: NodeJS.ErrnoException) => {
        failed++;
        failures.push([start, Date.now(), `client:${error.code ?? error.name}`]);
      })
      .finally(() => {
        inflight--;
      });
  };

  const tick = (): void => {
    const elapsed = Date.now() - startedAt;
    const target = Math.floor((Math.min(elapsed, o.durationMs) * o.rate) / 1000);
    while (due < target) {
      due++;
      if (inflight >= o.maxInFlight) skipped++;
      else one();
    }
    if (elapsed < o.durationMs && !stopping) setTimeout(tick, 2);
    else void finish();
  };

  const report = setInterval(() => {
    send({ type: "tick", at: Date.now(), sent, ok, failed, skipped, inflight, failures });
    failures = [];
  }, 1000);

  let finished = false;
  const finish = async (): Promise<void> => {
    if (finished) return;
    finished = true;
    const endedAt = Date.now();
    // In-flight requests end by themselves within the timeout; bounded all the same.
    const deadline = Date.now() + o.timeoutMs + 5000;
    while (inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    clearInterval(report);
    send({ type: "tick", at: Date.now(), sent, ok, failed, skipped, inflight, failures });
    failures = [];
    await pool.close().catch(() => pool.destroy());
    send({ type: "done", startedAt, endedAt, due, sent, ok, failed, skipped, unfinished: inflight, peakInFlight });
    process.disconnect?.();
  };

  process.on("message", (m: { type?: string }) => {
    if (m.type === "stop") stopping = true;
  });
  tick();
}

process.once("message", (m: Start) => {
  if (m.type !== "start") throw new Error(`soak-load: expected a start message, got ${JSON.stringify(m)}`);
  run(m);
});
process.on("disconnect", () => {
  // The parent went away: nothing left to report to.
  setTimeout(() => process.exit(0), 100).unref();
});
