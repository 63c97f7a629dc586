// Renders bench/results/faults.json (scenario 4, under faults) for docs/benchmarks.md: the method,
// the schedule, every subject's config, a table per subject, the targets as met or missed from
// the numbers, where tandem loses, and charts of success rate, p99 and retry amplification.
import { machineLine } from "../lib/machine.mjs";
import { barChart } from "../lib/svg.mjs";

const TANDEM = ["tandem library", "tandem sidecar"];
const AMPLIFICATION_TARGET = 1.2;

const pct = (v) => (v === null || v === undefined ? "n/a" : `${(v * 100).toFixed(2)} %`);
const ms = (v) => (v === null || v === undefined ? "n/a" : v >= 100 ? `${Math.round(v)}` : v.toFixed(1));
const x = (v) => (v === null || v === undefined ? "n/a" : `${v.toFixed(2)}×`);
const range = (s, f) => (s && s.n > 1 ? `${f(s.min)}..${f(s.max)}` : "");

function faultText(f) {
  if (f.rate !== undefined) return `${f.rate * 100} % answered ${f.status ?? 503}`;
  if (f.latencyMs !== undefined) return `every answer ${f.latencyMs / 1000} s late`;
  return "healthy";
}

/** @param {any} result the content of bench/results/faults.json */
export default function render(result) {
  const m = result.method;
  const names = Object.keys(result.results);
  const s = (name) => result.results[name].summary;
  const lines = [];
  lines.push("## 4. Under faults", "");
  lines.push(
    `\`bench/faults.mjs\`: three upstream instances A, B and C (Node \`http\` servers of \`@tandem/testkit\`'s`,
    "`startFaultyUpstream`, counting every request they get) go through one schedule of faults, the same for",
    `every subject. A fixed-rate open-loop generator (its own process, ${m.rate} requests/s, latency from each`,
    "request's scheduled time, so a stall is not hidden by coordinated omission; written on undici, its own process puts a p99",
    "of a few ms on any call, small beside the tens of ms the faults give) calls an app (its own process)",
    "that calls the upstream through the subject and answers with the upstream's status, or 502/504 when the",
    `subject gave up. Every subject gets the same client deadline (${m.deadlineMs} ms per request, an`,
    `\`AbortSignal\` in the app), and those that retry the same attempt bound (${m.attemptMs} ms, ${m.attempts}`,
    `attempts in all) and the same ${m.ejectS} s for an ejected or broken instance. Each subject is started afresh`,
    `for each round, warmed up for ${m.warmupS} s while healthy, then measured for ${m.measuredS} s; ${m.rounds}`,
    "round(s), the subjects in a rotated order per round; the table gives the median round with the lowest and",
    "highest. **Success** is a 2xx answer within the deadline; **p50/p99** are of all requests, failures",
    "included; **amplification** is the requests the three instances received over the client requests (HAProxy's",
    "health checks included: they are load on the upstream too).",
    "",
  );
  lines.push("| phase | seconds | A | B | C |", "| --- | --- | --- | --- | --- |");
  for (const p of m.phases) {
    lines.push(`| ${p.name} | ${p.seconds} | ${p.faults.map(faultText).join(" | ")} |`);
  }
  lines.push("");
  lines.push("The subjects, as configured (the ports are the instances' own; `A`, `B`, `C` stand for them here):", "");
  lines.push(`- **no resilience (undici)**: ${result.configs["no resilience (undici)"]}.`);
  lines.push(`- **cockatiel 4**, around the same undici pools:`, "", "```text", result.configs.cockatiel, "```", "");
  lines.push(
    "- **nginx** (Debian's, one worker), the app's local proxy:",
    "",
    "```nginx",
    result.configs.nginx,
    "```",
    "",
  );
  lines.push(
    "- **HAProxy** (Debian's, `nbthread 1`), the app's local proxy:",
    "",
    "```haproxy",
    result.configs.HAProxy,
    "```",
    "",
  );
  lines.push(
    '- **tandem library**: `rt.http.request("payments", { path: "/", signal })` in the app, this `tandem.yaml`;',
    "  **tandem sidecar**: the same call and file with `TANDEM_MODE=sidecar`, against a real sidecar",
    "  (`tandem sidecar --config tandem.yaml`, started by `@tandem/testkit`'s `startSidecar`): the SDK sends",
    "  each request to the sidecar's forward proxy, which runs the pipeline, as an app using the SDK would.",
    "",
    "```yaml",
    result.configs.tandem.trimEnd(),
    "```",
    "",
  );
  const load = result.machine?.loadAverage1m;
  // The run itself keeps about one of the two cores busy: more than that is other work on the machine.
  const busy = typeof load === "number" && load > 1.5;
  lines.push(
    `Run of ${result.date.slice(0, 10)}${result.revision ? ` of tandem ${result.revision}` : ""} on ${machineLine(result.machine)}; load average ${load ?? "n/a"} at the end${busy ? ": other work shared the machine, so latencies are noisy" : ""}`,
    `(\`bench/results/faults.json\`${result.quick ? ", **quick mode**: short phases, one round" : ""}):`,
    "",
  );
  lines.push(
    "| subject | success | p50 ms | p99 ms | p99 min..max | amplification | min..max | per phase (healthy / A / A+B / recovered) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const name of names) {
    const v = s(name);
    const phases = m.phases.map((p) => x(v.phases?.[p.name]?.amplification?.median)).join(" / ");
    const label = TANDEM.includes(name) ? `**${name}**` : name;
    lines.push(
      `| ${label} | ${pct(v.successRate?.median)} ${range(v.successRate, pct) ? `(${range(v.successRate, pct)})` : ""} | ${ms(v.p50?.median)} | ${ms(v.p99?.median)} | ${range(v.p99, ms)} | ${x(v.amplification?.median)} | ${range(v.amplification, x)} | ${phases} |`,
    );
  }
  lines.push("");
  lines.push(
    "Where the upstream requests went, per phase (median requests received by A / B / C):",
    "",
    `| subject | ${m.phases.map((p) => p.name).join(" | ")} |`,
    `| --- | ${m.phases.map(() => "---").join(" | ")} |`,
  );
  for (const name of names) {
    const v = s(name);
    const cells = m.phases.map((p) => {
      const ph = v.phases?.[p.name];
      return ph ? `${ph.A?.median} / ${ph.B?.median} / ${ph.C?.median}` : "n/a";
    });
    lines.push(`| ${name} | ${cells.join(" | ")} |`);
  }
  lines.push("");
  lines.push(...verdict(names, s));
  lines.push(...why(result, names, s));
  for (const [name, why] of Object.entries(result.skipped ?? {})) lines.push(`- ${name}: ${why}`);
  /** One bar per subject: the median of `key` over the rounds, with its range, scaled. */
  const bars = (key, scale = 1) =>
    names.map((n) => ({
      label: n,
      value: (s(n)[key]?.median ?? 0) * scale,
      min: s(n)[key] === undefined ? undefined : s(n)[key].min * scale,
      max: s(n)[key] === undefined ? undefined : s(n)[key].max * scale,
      highlight: TANDEM.includes(n),
    }));
  const charts = {
    "faults-success.svg": barChart({
      title: "Under faults: success rate (higher is better)",
      unit: "% of requests answered 2xx within 1 s",
      bars: bars("successRate", 100),
    }),
    "faults-p99.svg": barChart({
      title: "Under faults: p99 latency, failures included (lower is better)",
      unit: "ms",
      bars: bars("p99"),
    }),
    "faults-amplification.svg": barChart({
      title: "Under faults: upstream requests per client request (lower is better)",
      unit: "×",
      note: `target for tandem: under ${AMPLIFICATION_TARGET}×`,
      bars: bars("amplification"),
    }),
  };
  lines.push(
    "",
    "![success rate under faults](benchmarks/faults-success.svg)",
    "![p99 under faults](benchmarks/faults-p99.svg)",
    "![retry amplification under faults](benchmarks/faults-amplification.svg)",
    "",
  );
  return { markdown: lines.join("\n"), charts };
}

/** The issue's target, checked from the medians: best success and p99 of all, amplification under 1.2×. */
function verdict(names, s) {
  const out = [];
  const peers = names.filter((n) => !TANDEM.includes(n));
  const tandems = names.filter((n) => TANDEM.includes(n));
  if (tandems.length === 0 || peers.length === 0) return ["Not enough subjects ran to check the target.", ""];
  out.push(
    `**Target** (from the issue): tandem has the best success rate and the best p99 of all subjects, with a retry amplification under ${AMPLIFICATION_TARGET}×. Checked on the medians:`,
    "",
  );
  for (const t of tandems) {
    const v = s(t);
    const success = v.successRate?.median;
    const p99 = v.p99?.median;
    const amp = v.amplification?.median;
    const betterSuccess = peers.filter((p) => s(p).successRate?.median > success);
    const betterP99 = peers.filter((p) => s(p).p99?.median < p99);
    // A tie is no win: said as one.
    const tied = (key, format) => {
      const even = peers.filter((p) => s(p)[key]?.median === v[key]?.median);
      return even.length === 0 ? "" : `; tied with ${even.join(", ")} at ${format(v[key].median)}`;
    };
    const checks = [
      betterSuccess.length === 0
        ? `success ${pct(success)}: **met** (no peer higher${tied("successRate", pct)})`
        : `success ${pct(success)}: **missed**, below ${betterSuccess.map((p) => `${p} (${pct(s(p).successRate.median)})`).join(", ")}`,
      betterP99.length === 0
        ? `p99 ${ms(p99)} ms: **met** (no peer lower${tied("p99", (v) => `${ms(v)} ms`)})`
        : `p99 ${ms(p99)} ms: **missed**, above ${betterP99.map((p) => `${p} (${ms(s(p).p99.median)} ms)`).join(", ")}`,
      amp < AMPLIFICATION_TARGET
        ? `amplification ${x(amp)}: **met**`
        : `amplification ${x(amp)}: **missed** (not under ${AMPLIFICATION_TARGET}×)`,
    ];
    out.push(`- ${t}: ${checks.join("; ")}.`);
  }
  for (const t of tandems) {
    const worst = s(t).p99?.max;
    const steadier = peers.filter((p) => s(p).p99?.max < worst);
    if (steadier.length > 0) {
      out.push(
        `- ${t}'s slowest round (p99 ${ms(worst)} ms) was slower than the slowest round of ${steadier.map((p) => `${p} (${ms(s(p).p99.max)} ms)`).join(", ")}: the medians hide a spread that is wider for tandem.`,
      );
    }
  }
  // Outside the target: a typical request through tandem against the peers'.
  const slowerP50 = tandems
    .map((t) => [t, peers.filter((p) => s(p).p50?.median < s(t).p50?.median)])
    .filter(([, faster]) => faster.length > 0);
  if (slowerP50.length > 0) {
    out.push(
      `- **Where tandem loses:** at p50, ${slowerP50.map(([t, faster]) => `${t}'s ${ms(s(t).p50.median)} ms is above ${faster.map((p) => `${p}'s ${ms(s(p).p50.median)}`).join(", ")}`).join("; ")}: the typical request under these faults, which the target does not measure; a proxy in front of the instances, the sidecar does more per request than nginx and HAProxy (scenario 3).`,
    );
  }
  const lowerAmp = peers.filter((p) => tandems.every((t) => s(p).amplification?.median < s(t).amplification?.median));
  if (lowerAmp.length > 0) {
    out.push(
      `- Sent fewer upstream requests than both tandem modes: ${lowerAmp.map((p) => `${p} (${x(s(p).amplification.median)})`).join(", ")}.`,
    );
  }
  out.push("");
  return out;
}

/** How each subject meets the faults, and what the numbers of this run say about tandem's. */
function why(result, names, s) {
  const m = result.method;
  const [, phaseA, phaseAB] = m.phases.map((p) => p.name);
  const share = (name, phase, i) => {
    const ph = s(name).phases?.[phase];
    const counts = [ph?.A?.median, ph?.B?.median, ph?.C?.median];
    if (counts.some((c) => typeof c !== "number")) return undefined;
    const total = counts.reduce((a, b) => a + b, 0);
    return total > 0 ? counts[i] / total : undefined;
  };
  const out = ["How each subject meets the faults:", ""];
  out.push(
    "- **no resilience**: every 503 of A is the client's, and every request sent to B waits out the 1 s deadline.",
    `- **cockatiel**: a breaker per instance opens once 30 % of its calls in ${m.ejectS} s failed (timeouts included); until then B's attempts wait out their ${m.attemptMs} ms timeout, and retries back off (25 ms and up). A request whose retries are spent within the deadline fails (502 from the app).`,
    `- **nginx**: \`max_fails=3\` counts failures within \`fail_timeout\`, not in a row, so A is out after its third 503 and B after its third timeout, each coming back for a trial request every ${m.ejectS} s; a failed attempt goes to the next server at once, with no backoff. Its p99 is the ${m.attemptMs} ms \`proxy_read_timeout\` of the requests that reached B.`,
    "- **HAProxy**: `retry-on` with `redispatch` sends a failed attempt to another server; `observe layer7` marks a server down after 3 errors in a row, which A, failing every other request, rarely gives; its health checks (every 1 s, counted in its amplification) take B out and bring servers back after two good checks, and A passes every other one, so it keeps flapping.",
    `- **tandem**: a retry goes to an instance the request has not tried; \`failurePercentage\` ejects A once a quarter of at least 10 of its requests in 2 s failed (\`consecutive5xx\` alone never fires on an instance that fails every other request); B is avoided by peak-EWMA from its first attempt that a hedge overtook or that timed out, and ejected after 3 such attempts in a row; a request that does land on B is hedged after the p99 of recent answers instead of waiting ${m.attemptMs} ms, and a hedge that gets a 503 from A is replaced at once by one to the instance left. Every hedge is one more upstream request.`,
    "",
  );
  const tandems = names.filter((n) => TANDEM.includes(n));
  const facts = [];
  for (const t of tandems) {
    const a = share(t, phaseA, 0);
    const b = share(t, phaseAB, 1);
    if (a !== undefined && b !== undefined) {
      facts.push(
        `${t} sent ${pct(a)} of its upstream requests to A while A failed, and ${pct(b)} to B while B stalled`,
      );
    }
  }
  for (const peer of names.filter((n) => !TANDEM.includes(n) && n !== "no resilience (undici)")) {
    const a = share(peer, phaseA, 0);
    const b = share(peer, phaseAB, 1);
    if (a !== undefined && b !== undefined) facts.push(`${peer} ${pct(a)} and ${pct(b)}`);
  }
  if (facts.length > 0) out.push(`In this run (medians): ${facts.join("; ")}.`, "");
  const lib = s("tandem library");
  const side = s("tandem sidecar");
  if (lib?.p99?.median !== undefined && side?.p99?.median !== undefined && lib.p99.median > side.p99.median) {
    out.push(
      `tandem's library mode had the higher p99 of its two modes here (${ms(lib.p99.median)} against ${ms(side.p99.median)} ms). In library mode the pipeline, the app's HTTP server and its timers share one event loop; on this 2-core machine, loaded by other work, a stall of that loop delays every request in flight and can make healthy attempts overrun their ${m.attemptMs} ms timeout, which then count against their instance. In sidecar mode the same work is split between two processes.`,
      "",
    );
  }
  out.push(
    "What this scenario changed in tandem (its first runs showed each gap): an attempt that ran out its timeout, or that a hedge overtook, now counts toward outlier ejection, as in Envoy, and raises the endpoint's peak-EWMA, and the EWMA decays as it is read, so an avoided endpoint is tried again; `outlierDetection.failurePercentage` (with `minRequests` and `window`) ejects an instance that fails often but never `consecutive5xx` times in a row; a hedged attempt that fails while another is out is replaced at once; and the SDK keeps up to 128 connections to its sidecar instead of 16, which had queued requests behind slow ones in sidecar mode.",
    "",
  );
  return out;
}
