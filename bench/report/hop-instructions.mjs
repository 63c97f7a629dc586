// Scenario 3b: instructions per proxied request, counted by callgrind (bench/hop-instructions.mjs).
import { mmm, num, runLine, table, times } from "../lib/format.mjs";

const TANDEM = "tandem sidecar";
const NODE_PROXY = "bare Node proxy";
const NGINX = "nginx";
const HTTP_SOCKET = "node:http, socket out";
const SOCKETS = "sockets both ways";

export default function render(result, all) {
  const s = result.summary;
  const m = result.method;
  const names = Object.keys(s);
  if (names.length === 0)
    return {
      markdown: `Not measured (${Object.values(result.skipped ?? {}).join("; ") || "no proxy was counted"}): \`bench/hop-instructions.mjs\` runs each proxy under valgrind's callgrind.`,
    };
  const k = (v) => (v === undefined ? undefined : v / 1000);
  const median = (n, key = "perRequest") => s[n]?.[key]?.median;
  const kmmm = (x) => (x === undefined ? "n/a" : mmm({ median: k(x.median), min: k(x.min), max: k(x.max) }, 1));
  const rows = names.map((n) => [
    n,
    kmmm(s[n].perRequest),
    kmmm(s[n].mainThreadPerRequest),
    s[NGINX] ? times(median(n) / median(NGINX), 1) : "n/a",
    s[NODE_PROXY] ? times(median(n) / median(NODE_PROXY), 2) : "n/a",
  ]);
  const skipped = Object.entries(result.skipped ?? {}).map(([n, why]) => `${n}: ${why}`);

  let findings = "";
  const tandem = median(TANDEM);
  const bare = median(NODE_PROXY);
  const tandemMain = median(TANDEM, "mainThreadPerRequest");
  const bareMain = median(NODE_PROXY, "mainThreadPerRequest");
  if (tandem !== undefined && bare !== undefined && tandemMain > 0 && bareMain > 0) {
    findings += `The sidecar runs ${num(k(tandem), 0)} k instructions per request, ${times(tandem / bare)} the bare Node
proxy's ${num(k(bare), 0)} k; on the main thread, where the request is handled (and the sidecar's garbage collection runs:
it starts with \`--single-threaded-gc\`), ${num(k(tandemMain), 0)} k against ${num(k(bareMain), 0)} k, ${times(tandemMain / bareMain)}. The
sidecar reads proxied requests itself (its proxy front, in place of Node's HTTP server, which serves the rest of its API)
and sends them on with tandem's own HTTP/1.1 client, where the bare Node proxy uses Node's HTTP server and undici: the
token check, header filtering, the upstream's policies, the CLIENT span and the metrics fit in what the two save.${
      bare > 1.05 * bareMain
        ? " The bare Node proxy runs with Node's default flags, its garbage collection partly on helper threads: its total counts them."
        : ""
    }${yardsticksText(s, k, tandem)}`;
    const summary = all?.["sidecar-hop"]?.summary;
    const hop = summary?.cpu ?? summary?.latency?.["1000"];
    const cpuTandem = hop?.[TANDEM]?.vcpuPer1000?.median;
    const cpuBare = hop?.[NODE_PROXY]?.vcpuPer1000?.median;
    if (cpuTandem !== undefined && cpuBare !== undefined) {
      const cpuRatio = cpuTandem / cpuBare;
      findings += ` In CPU time at 1000 req/s (scenario 3) the sidecar spent ${num(cpuTandem * 1000, 0)} µs per request
and the bare Node proxy ${num(cpuBare * 1000, 0)} µs, ${times(cpuRatio)}`;
      findings +=
        cpuRatio > 1.2 * (tandem / bare)
          ? `: most of that difference is not in the work per request but in what the work costs on this
machine, which a count does not see (cache misses, a larger heap and more code to bring back into the caches after
each idle gap, the wait for a core).`
          : ", in line with the counts.";
    }
  }
  if (tandem !== undefined && median(NGINX) !== undefined)
    findings += `${findings === "" ? "" : "\n\n"}**Where tandem loses:** nginx forwards a request in ${num(k(median(NGINX)), 1)} k instructions${
      s.HAProxy ? ` and HAProxy in ${num(k(median("HAProxy")), 1)} k` : ""
    }; the sidecar needs ${times(tandem / median(NGINX), 1)} nginx's${
      bare === undefined
        ? ""
        : `; a proxy in Node pays for its sockets' streams and events alone more than nginx's whole hop${
            median(SOCKETS) === undefined
              ? ""
              : ` (bare sockets both ways: ${times(median(SOCKETS) / median(NGINX), 1)})`
          }, and one on Node's HTTP stack more again (the bare Node proxy: ${times(bare / median(NGINX), 1)})`
    }.`;

  const markdown = `\`bench/hop-instructions.mjs\`: the proxies of scenario 3, with the same configuration and the same upstream
(${m.upstream}), each run under valgrind's callgrind (${m.tool}): ${num(m.warmupRequests, 0)} requests to warm up, then the
instructions counted over ${num(m.requests, 0)} requests (closed loop, ${m.connections} keep-alive connections), ${m.rounds} round(s), a new
process each. The sidecar runs with the command line and environment \`launchSidecar\` gives it; nginx runs without its
master process (the worker's code in the process started, since callgrind's control does not reach a forked worker).
Counted: user-space instructions of every thread of the proxy, and of its first thread alone (Node's main thread,
nginx's and HAProxy's only one). Not counted: the kernel's work, about the same system calls per request for each
proxy. A count is the same on every run, however busy the machine${
    m.rounds > 1
      ? ` (the rounds below agree within
${spread(s)} %; V8's compiler threads are now and then still at work in a round's counted window, which is why the table gives the median round)`
      : ""
  }, where CPU seconds vary from round to round; it says how much work a request takes, not how
long that work takes. Under callgrind a process runs some 50 times slower, so its timers fire more often per
request than at full speed (the sidecar samples its event-loop delay every 10 ms): a small bias against the sidecar.${skipped.length > 0 ? `\n\nNot measured: ${skipped.join("; ")}.` : ""}

${runLine(result, "hop-instructions.json")}

${table(["proxy", "k instructions per request", "of which main thread", "× nginx", "× bare Node proxy"], rows)}

${findings}${moreHeadersText(result, kmmm)}
`;
  return { markdown };
}

/** The second request, with more header lines: what each proxy does per line. */
function moreHeadersText(result, kmmm) {
  const s = result.summary;
  const w = result.summaryWithHeaders ?? {};
  const names = Object.keys(w).filter((n) => s[n] !== undefined);
  if (names.length === 0) return "";
  const lines = Object.keys(result.method.moreHeaders ?? {});
  const count = lines.length;
  // On the main thread, where the request is handled: the totals move with V8's compiler threads
  // from round to round, the main thread's counts far less.
  const perLine = (n) => (w[n].mainThreadPerRequest.median - s[n].mainThreadPerRequest.median) / count;
  const nginx = w[NGINX]?.perRequest?.median;
  const rows = names.map((n) => [
    n,
    kmmm(w[n].perRequest),
    kmmm(w[n].mainThreadPerRequest),
    num(perLine(n), 0),
    nginx === undefined ? "n/a" : times(w[n].perRequest.median / nginx, 1),
  ]);
  const order = [...names].sort((a, b) => perLine(a) - perLine(b));
  return `

The same request with ${count} header lines more, as a service's HTTP client sends them (${lines.map((l) => `\`${l}\``).join(", ")}),
counted the same way (the two yardsticks read no header, and are left out): what a proxy does for each header line it
passes on is the difference on the main thread, divided by ${count}.

${table(["proxy", "k instructions per request", "of which main thread", "instructions per header line", "× nginx"], rows)}

Per header line, in the order of the work: ${order.map((n) => `${n} ${num(perLine(n), 0)}`).join(", ")} instructions.`;
}

/** What the two yardsticks below the bare Node proxy say of Node's own share. */
function yardsticksText(s, k, tandem) {
  const http = s[HTTP_SOCKET]?.perRequest?.median;
  const sockets = s[SOCKETS]?.perRequest?.median;
  if (http === undefined || sockets === undefined) return "";
  return `

Two yardsticks, not proxies anyone should run (they read only GETs and answers framed by Content-Length): Node's HTTP
server in front of a bare kept-alive socket needs ${num(k(http), 0)} k instructions per request, and bare sockets both ways
${num(k(sockets), 0)} k. So Node's HTTP server alone costs ~${num(k(http - sockets), 0)} k a request, which the sidecar's proxy front does not pay;
what the sidecar does on top of bare sockets (reading the request, its checks, the pipeline and its client) is
~${num(k(tandem - sockets), 0)} k of its ${num(k(tandem), 0)} k.`;
}

/** The widest spread between rounds, as a percentage of the median. */
function spread(s) {
  let worst = 0;
  for (const v of Object.values(s)) {
    const x = v.perRequest;
    if (x?.median > 0) worst = Math.max(worst, ((x.max - x.min) / x.median) * 100);
  }
  return worst < 1 ? worst.toFixed(1) : Math.round(worst);
}
