// Scenario 3: the sidecar hop against nginx and HAProxy (bench/sidecar-hop.mjs).
import { lowest, mmm, num, runLine, table, times, verdict } from "../lib/format.mjs";
import { groupedBarChart } from "../lib/svg.mjs";

const TANDEM = "tandem sidecar";
const NGINX = "nginx";
const NODE_PROXY = "bare Node proxy";
const SOCKETS = "sockets both ways";
/** Subjects that are no product: what Node costs, shown next to the proxies, never counted among them. */
const YARDSTICKS = new Set([NODE_PROXY, SOCKETS]);
// "Well under" the peers' published per-1000-req/s CPU: at most half of Istio's.
const WELL_UNDER = 0.5;

export default function render(result) {
  const s = result.summary;
  const m = result.method;
  const usage = (n) => usageOf(s, n);
  const rates = m.rates.map(String);
  const proxies = Object.keys(s.added[rates[0]] ?? {});
  const names = ["direct", ...proxies];
  const latencyRows = [];
  for (const rate of rates) {
    for (const n of names) {
      const l = s.latency[rate][n];
      const a = s.added[rate][n];
      latencyRows.push([
        `${rate}`,
        n,
        mmm(l.p50, 3),
        mmm(l.p99, 2),
        a ? mmm(a.p50, 3) : "baseline",
        a ? mmm(a.p99, 2) : "baseline",
        num(l.achievedRate?.median, 0),
        num(l.errors?.median ?? 0, 0),
      ]);
    }
  }
  // Runs before the split into anonymous memory and mapped files have RSS only.
  const anon = proxies.some((n) => usage(n)?.rssAnonMB !== undefined);
  const cpuRows = proxies.map((n) => {
    const at = usage(n);
    return [
      n,
      mmm(at?.vcpuPer1000, 3),
      mmm(at?.rssMB, 1),
      ...(anon ? [mmm(at?.rssAnonMB, 1)] : []),
      mmm(s.throughput[n], 0),
      times(s.throughput[n].median / s.throughput.direct.median),
    ];
  });
  cpuRows.push(["direct (no proxy)", "n/a", "n/a", ...(anon ? ["n/a"] : []), mmm(s.throughput.direct, 0), "1.00×"]);

  const at1000 = s.added["1000"] ?? {};
  const tandemP99 = at1000[TANDEM]?.p99.median;
  const tandemCpu = usage(TANDEM)?.vcpuPer1000?.median;
  const istio = result.peers.istioVcpuPer1000;
  const dapr = result.peers.daprVcpuPer1000;
  const p99Limit = result.targets.addedP99MsAt1000;
  const { met: p99Met, text: p99Text } = p99Verdict(
    at1000[TANDEM]?.p99,
    directNoise(s.latency["1000"], "p99"),
    p99Limit,
  );
  // Older results name the limit maxRatioToNginxAddedP99.
  const ratioLimit = result.targets.maxRatioToNginxAdded ?? result.targets.maxRatioToNginxAddedP99;
  const { met: nginxMet, text: nginxText } = nginxRatio(s, rates, ratioLimit);
  const cpuMet = tandemCpu === undefined ? undefined : tandemCpu <= WELL_UNDER * istio;
  // The products tandem is measured against: every subject but tandem and the yardsticks.
  const peers = proxies.filter((n) => n !== TANDEM && !YARDSTICKS.has(n));
  const losses = [];
  for (const rate of rates) {
    const a = s.added[rate];
    const best = [...peers].sort((x, y) => a[x].p99.median - a[y].p99.median)[0];
    // A loss only by more than the noise: the spread of the direct call's p99 over the rounds.
    const band = directNoise(s.latency[rate], "p99");
    if (best && a[TANDEM] && a[TANDEM].p99.median - a[best].p99.median > band) {
      const peer = a[best].p99.median > 0 ? `${num(a[best].p99.median, 2)} ms` : "nothing measurable";
      losses.push(`at ${rate} req/s tandem adds ${num(a[TANDEM].p99.median, 2)} ms at p99 where ${best} adds ${peer}`);
    }
  }
  for (const rate of rates) {
    const achieved = s.latency[rate][TANDEM]?.achievedRate?.median;
    if (achieved !== undefined && achieved < 0.98 * Number(rate))
      losses.push(
        `at ${rate} req/s it fell behind: it answered ${num(achieved, 0)} req/s, and the backlog is in its latency`,
      );
  }
  const fastest = [...peers].sort((x, y) => s.throughput[y].median - s.throughput[x].median)[0];
  if (fastest && s.throughput[TANDEM] && s.throughput[TANDEM].median < s.throughput[fastest].median)
    losses.push(
      `its maximum throughput is ${times(s.throughput[TANDEM].median / s.throughput[fastest].median)} ${fastest}'s (${num(s.throughput[TANDEM].median, 0)} against ${num(s.throughput[fastest].median, 0)} req/s)`,
    );
  const cpuPeer = lowest(peers, (n) => usage(n)?.vcpuPer1000?.median);
  if (cpuPeer && tandemCpu !== undefined && tandemCpu > cpuPeer[1])
    losses.push(`it spends ${times(tandemCpu / cpuPeer[1], 1)} the CPU of ${cpuPeer[0]} per request`);
  const tandemRss = usage(TANDEM)?.rssMB?.median;
  const rssPeer = lowest(peers, (n) => usage(n)?.rssMB?.median);
  if (rssPeer && tandemRss !== undefined && tandemRss > rssPeer[1])
    losses.push(
      `it holds ${num(tandemRss, 1)} MB resident at 1000 req/s against ${rssPeer[0]}'s ${num(rssPeer[1], 1)} MB (${times(tandemRss / rssPeer[1], 1)}; a Node process starts from ~45 MB, scenario 5)`,
    );
  // When the direct call's own tail is far above a proxy hop's cost, the machine's noise decides the p99s.
  const directP99 = s.latency["1000"]?.direct?.p99?.median;
  const directP50 = s.latency["1000"]?.direct?.p50?.median;
  const floorAddedP99 = s.added["1000"]?.[NODE_PROXY]?.p99.median;
  let noisy = "";
  const quiet = QUIET_DIRECT_P99[m.generatorKind ?? "undici"];
  if (directP99 !== undefined && directP99 > quiet.noisyAbove) {
    noisy = `\n\n**Noise:** the direct call's own p99 at 1000 req/s was ${num(directP99, 1)} ms (p50 ${num(directP50, 3)} ms) in this run, against
${quiet.text} on a quiet run of this machine with this generator: other work on the machine, far above what a hop adds at the tail. Every process
on the path then pays the same slow wake-ups, which narrows the ratios between the proxies' added latencies.`;
    if (floorAddedP99 !== undefined && tandemP99 !== undefined && floorAddedP99 < 0.2 * tandemP99)
      noisy += ` The bare Node proxy added ${num(floorAddedP99, 2)} ms at p99 in the same rounds, so the tail is not only the machine's:
a process that needs more CPU per request (the sidecar) waits longer for a core on a busy machine, and its queue grows.`;
    noisy +=
      m.sliceSeconds === undefined
        ? " Judge the added p99 from a quiet machine; the p50s, the throughput and the CPU per request are steadier."
        : ` The slices put that work on every subject alike, so the added p99s still compare the subjects, but each is the
difference of two p99s of a millisecond or more: tenths of a millisecond are within the noise here, and a quiet machine
measures the tail better. The p50s, the throughput and the CPU per request are steadier.`;
  }
  // The proxy on a core of its own says itself why it was not measured.
  const skipped = Object.entries(result.skipped ?? {})
    .filter(([n]) => n !== "ownCore")
    .map(([n, why]) => `${n}: ${why}`);

  const markdown = `\`bench/sidecar-hop.mjs\`: the same GET traffic to one upstream (${m.upstream}) sent directly and
through three proxies on the same machine, in the same run:

- **tandem sidecar**: the sidecar's forward proxy (\`GET http://upstream/\` in absolute form, the token in
  \`Proxy-Authorization\`), the upstream with its default pipeline (timeouts, retries with a budget, breaker);
  one Node thread.
- **nginx**: ${m.nginx}.
- **HAProxy**: ${m.haproxy}.
${m.nodeProxy ? `- **bare Node proxy**: ${m.nodeProxy}. Not a product: it shows what any proxy written in Node costs.\n` : ""}${m.sockets ? `- **sockets both ways**: ${m.sockets}.\n` : ""}${skipped.length > 0 ? `- Not measured: ${skipped.join("; ")}.\n` : ""}
Latency at fixed rates: an open-loop generator (${m.generator}) sends ${rates.join(", ")} req/s, ${roundText(m)}${
    m.firstWarmupSeconds === undefined
      ? ""
      : `; before the first rate every subject is warmed up for ${m.firstWarmupSeconds} s at ${m.firstWarmupRate} req/s, since V8 takes
10-20 s at that rate to compile a Node proxy's hot path to its final form: rounds measured before that show a
process starting up, with a p99 several times its steady one, not the steady state`
  }. **Added** latency is a
subject's percentile minus the direct call's in the same round (negative: within the noise), the median of the rounds' with their min..max. ${generatorText(m)} Maximum throughput:
autocannon, ${m.throughputConnections} connections, ${m.throughputSeconds} s per round. CPU: ${
    m.cpu === "schedstat"
      ? "the CPU time of every thread of the proxy's processes (nginx's master and worker), in the scheduler's nanoseconds (`/proc/<pid>/task/<tid>/schedstat`),"
      : "user + system seconds of the proxy's processes (nginx's master and worker) from `/proc`, in clock ticks,"
  } ${
    m.cpuSeconds === undefined
      ? "during the 1000 req/s runs, as a share of one core scaled to 1000 req/s"
      : `over runs of one proxy at a time at ${m.cpuRate} req/s (${m.cpuWarmupSeconds} s of warm-up and ${m.cpuSeconds} s, one per round, not sliced: a slice's start, on caches gone cold while the others ran, would count for more), per 1000 requests served`
  }
(vCPU per 1000 req/s); RSS at the end of those runs${
    anon
      ? `, and the anonymous part of it (the process's own memory, without the
pages of its executable and libraries mapped from disk; see scenario 5)`
      : ""
  }.

${runLine(result, "sidecar-hop.json")}

${table(["req/s", "subject", "p50 ms", "p99 ms", "added p50 ms", "added p99 ms", "achieved req/s", "errors"], latencyRows)}

![Added p99 latency](benchmarks/sidecar-hop-latency.svg)

${table(["proxy", "vCPU per 1000 req/s", "RSS MB at 1000 req/s", ...(anon ? ["of which anonymous MB"] : []), "max req/s, median (min..max)", "× direct"], cpuRows)}

![Maximum throughput](benchmarks/sidecar-hop-throughput.svg)
${throughputCeiling(s, proxies)}${ownCoreSection(result)}${stallsSection(result)}
Targets:

- added p99 at most ${p99Limit} ms at 1000 req/s, judged where the added p99 is further from it than the noise
  (the spread of the direct call's p99 over the rounds), or where every round's added p99 is on the same side of it
  (each round's is the difference of two p99s measured in that round${m.sliceSeconds === undefined ? "" : ", their slices interleaved"}): ${verdict(p99Met)} (${num(tandemP99, 2)} ms${directSpread(s)}${p99Text})${peersOverLine(s, peers, p99Limit)};
- within ${ratioLimit}× nginx's added latency, at p50 and p99 at each rate where nginx's is above the
  noise (the spread of the direct call's percentile over the rounds): ${verdict(nginxMet)} (${nginxText});
- CPU per 1000 req/s well under Dapr's published ${dapr} vCPU and Istio's ${istio} vCPU (here: at most
  ${num(WELL_UNDER * istio, 3)} vCPU, half of Istio's): ${verdict(cpuMet)} (${num(tandemCpu, 3)} vCPU, ${times(tandemCpu / istio)} Istio's, ${times(tandemCpu / dapr)} Dapr's). The
  published figures come from their own machines and setups, so this comparison is indicative only.

**Where tandem loses:** ${losses.length === 0 ? "nowhere in this run." : `${losses.join("; ")}.`} The sidecar is one Node
thread that reads the request (its own proxy front, not Node's HTTP server), runs the upstream's pipeline (policies, a CLIENT span, metrics)
and sends the request again with its own HTTP/1.1 client: ${num(tandemCpu === undefined ? undefined : (tandemCpu * 1e6) / 1000, 0)} µs of CPU per request here, where nginx and HAProxy are C event loops built for exactly
this hop.${nodeFloor(s, tandemCpu)}${socketsFloor(s)}${ownCoreRatio(s)}${tailByCpu(s, proxies)}${noisy}
`;
  const latencyChart = groupedBarChart({
    title: "Added p99 latency over a direct call (median of rounds)",
    unit: "ms added at p99",
    groups: rates.map((r) => `${r} req/s`),
    series: proxies.map((n) => ({ name: n, values: rates.map((r) => Math.max(0, s.added[r][n].p99.median)) })),
    note: "negative values (within noise) drawn as 0",
  });
  const throughputChart = groupedBarChart({
    title: "Maximum throughput (median, min..max)",
    unit: "requests per second",
    groups: names,
    series: [{ name: "req/s", values: names.map((n) => s.throughput[n].median) }],
    whiskers: names.map((n) => [[s.throughput[n].min, s.throughput[n].max]]),
    highlight: names.map((n) => n === TANDEM),
    legend: false,
  });
  return {
    markdown,
    charts: { "sidecar-hop-latency.svg": latencyChart, "sidecar-hop-throughput.svg": throughputChart },
  };
}

/** How a round of the fixed rates is made: one run per subject, or slices of every subject in turn. */
function roundText(m) {
  if (m.sliceSeconds === undefined)
    return `${m.roundSeconds} s per round,
${m.rounds} round(s) after a ${m.warmupSeconds} s warm-up, subjects in rotating order within a round`;
  return `${m.rounds} round(s) after a ${m.warmupSeconds} s warm-up. A round
gives each subject ${m.roundSeconds} s, in ${m.slices} slices of ${m.sliceSeconds} s (each after ${m.sliceWarmupSeconds} s not recorded, a new generator's
connections and the subject's caches), the subjects in turn, slice after slice, so that each one's slices are spread over
the whole round: a burst of other work on the machine falls on every subject alike, where in runs of one subject after
the other it fell on one subject's run and set its p99 (a subject's "added" p99 then ranged from -1 to +2 ms from one run to the next). A round's percentiles are those of its slices' latencies together`;
}

/**
 * The added p99 target at 1000 req/s: `added` is tandem's added p99 over the rounds (median, min,
 * max), `band` the noise (the spread of the direct call's p99 over the rounds). Met when the median
 * is within the limit by more than the noise, or every round's is within it; missed when the median
 * is over it by more than the noise, or every round's is over it; else not judged. The two ways
 * never disagree: a median within the limit by the noise is not over it in every round, and the
 * other way round. `text` follows the median in the page's sentence.
 */
function p99Verdict(added, band, limit) {
  const median = added?.median;
  if (median === undefined || median === null) return { met: undefined, text: "" };
  const rounds = typeof added.min === "number" && typeof added.max === "number" && added.n > 1;
  const spread = rounds ? ` ${num(added.min, 2)}..${num(added.max, 2)} ms over the rounds` : "";
  if (median + band <= limit) return { met: true, text: "" };
  if (median - band > limit) return { met: false, text: "" };
  if (rounds && added.max <= limit)
    return { met: true, text: `; tandem's added p99${spread}, within the target in every round` };
  if (rounds && added.min > limit)
    return { met: false, text: `; tandem's added p99${spread}, over the target in every round` };
  return {
    met: undefined,
    text: `: a spread of ${num(band, 2)} ms, against the ${num(Math.abs(median - limit), 2)} ms between the added p99 and the target${rounds ? `, and tandem's added p99${spread}, on both sides of it:` : ","} which a quieter machine decides`,
  };
}

/**
 * tandem's added latency against nginx's, at p50 and p99 at each rate, judged only where nginx's
 * added latency is above the noise: the spread (max - min) of the direct call's percentile over
 * the rounds of that rate. Missed when a judged ratio is over `limit`; met when none is and at
 * least half of the cells were judged; else not judged.
 */
function nginxRatio(s, rates, limit) {
  const judged = [];
  const noise = [];
  for (const rate of rates) {
    for (const q of ["p50", "p99"]) {
      const nginx = s.added[rate]?.[NGINX]?.[q]?.median;
      const tandem = s.added[rate]?.[TANDEM]?.[q]?.median;
      const direct = s.latency[rate]?.direct?.[q];
      if (nginx === undefined || tandem === undefined || direct === undefined) continue;
      if (nginx <= directNoise(s.latency[rate], q)) noise.push(`${q} at ${rate} req/s`);
      else judged.push({ rate, q, tandem, nginx, ratio: tandem / nginx });
    }
  }
  if (judged.length === 0 && noise.length === 0) return { met: undefined, text: "nginx was not measured" };
  const digits = (q) => (q === "p50" ? 3 : 2);
  const parts = judged.map((j) =>
    j.tandem <= 0
      ? // Below the direct call's own: nothing to divide, and within any multiple of nginx's.
        `${j.q} at ${j.rate} req/s: tandem adds nothing measurable (${num(j.tandem, digits(j.q))} ms) against ${num(j.nginx, digits(j.q))} ms`
      : `${j.q} at ${j.rate} req/s: tandem ${num(j.tandem, digits(j.q))} ms against ${num(j.nginx, digits(j.q))} ms, ${times(j.ratio, 1)}`,
  );
  if (noise.length > 0) parts.push(`nginx's added ${noise.join(", ")} within the noise, not judged`);
  // One ratio over the limit is a miss; a pass needs at least half of the cells above the noise.
  const missed = judged.some((j) => j.ratio > limit);
  const enough = judged.length * 2 >= judged.length + noise.length;
  if (!missed && judged.length > 0 && !enough)
    parts.push(
      `only ${judged.length} of ${judged.length + noise.length} above the noise: too few to call the target met`,
    );
  return { met: missed ? false : enough && judged.length > 0 ? true : undefined, text: parts.join("; ") };
}

/** A proxy's CPU and RSS at 1000 req/s: from runs of their own, or (older results) the latency runs at that rate. */
function usageOf(s, name) {
  return s.cpu?.[name] ?? s.latency["1000"]?.[name];
}

/**
 * The noise a verdict allows for: the spread (max - min) of the direct call's percentile `q` over
 * the rounds of `latency` (one rate's subjects); 0 when unknown.
 */
function directNoise(latency, q) {
  const d = latency?.direct?.[q];
  return d?.max === undefined || d?.min === undefined ? 0 : d.max - d.min;
}

/** The direct call's own p99 at 1000 req/s and its spread over the rounds: how finely the run measures a tail. */
function directSpread(s) {
  const d = s.latency["1000"]?.direct?.p99;
  if (d?.median === undefined || d.median === null) return "";
  return `; the direct call's own p99 ${num(d.median, 2)} ms, ${num(d.min, 2)}..${num(d.max, 2)} over the rounds`;
}

/**
 * When a proxy's maximum comes near the direct call's, the load generator (autocannon, in the
 * benchmark's own process, on the cores the proxy and the upstream use) is at its limit too, and
 * the maxima are its as much as the proxies': said, with who came near.
 */
function throughputCeiling(s, proxies) {
  const direct = s.throughput.direct?.median;
  if (direct === undefined) return "";
  const near = proxies.filter((n) => s.throughput[n]?.median >= 0.9 * direct);
  if (near.length === 0) return "";
  const reached = near.map((n) => `${n} (${times(s.throughput[n].median / direct)})`);
  return `
${listed(reached)} came near the direct call's maximum: there the load generator (autocannon, in the benchmark's own Node
process, on the same cores as the proxy and the upstream) is the limit as much as the proxy is, so ${near.length === 1 ? "that figure is" : "those figures are"} a floor
of what ${near.length === 1 ? "that proxy does" : "those proxies do"}, and tandem's ratio to ${near.length === 1 ? "it" : "them"} is, if anything, kinder to tandem than the proxies alone would be.
`;
}

/**
 * Where else in the run the peers' own added p99 crosses the p99 target's line (the other rates,
 * a core of their own): what the line means on this machine. Empty when no peer crosses it.
 */
function peersOverLine(s, peers, limit) {
  const over = [];
  for (const peer of peers) {
    const where = [];
    for (const rate of Object.keys(s.added).filter((r) => r !== "1000")) {
      const p99 = s.added[rate]?.[peer]?.p99?.median;
      if (p99 !== undefined && p99 > limit) where.push(`at ${rate} req/s (${num(p99, 2)} ms)`);
    }
    const own = s.ownCore?.added?.[peer]?.p99?.median;
    if (own !== undefined && own > limit) where.push(`on a core of its own (${num(own, 2)} ms)`);
    if (where.length > 0) over.push(`${peer} ${listed(where)}`);
  }
  return over.length === 0
    ? ""
    : `; elsewhere in this run the peers' added p99 crosses the same line too: ${over.join("; ")}`;
}

/** "a", "a and b", "a, b and c". */
function listed(items) {
  return items.length < 2 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

/**
 * The direct call's p99 at 1000 req/s on a quiet run of this machine, by generator, and above what
 * (ms) the page warns that the machine was busy. Results without a generator's kind had the undici one.
 */
const QUIET_DIRECT_P99 = {
  native: { text: "~0.1-0.5 ms", noisyAbove: 1 },
  undici: { text: "~1-2 ms", noisyAbove: 4 },
};

/** What the bare Node proxy says about the part of the sidecar's cost that is Node's own. */
function nodeFloor(s, tandemCpu) {
  const floorRounds = usageOf(s, NODE_PROXY)?.vcpuPer1000;
  const tandemRounds = usageOf(s, TANDEM)?.vcpuPer1000;
  const floor = floorRounds?.median;
  if (floor === undefined || tandemCpu === undefined) return "";
  const us = (v) => (v * 1e6) / 1000;
  const share = Math.max(0, (tandemCpu - floor) / tandemCpu);
  const tp = s.throughput[NODE_PROXY]?.median;
  const head = ` A bare Node proxy (node:http and undici, nothing else) costs ${num(us(floor), 0)} µs per request${tp === undefined ? "" : ` and reaches ${num(tp, 0)} req/s`}: the
floor of a proxy written with Node's HTTP server and undici.`;
  // Rounds of the two that overlap say no difference either way.
  const overlap =
    tandemRounds?.min !== undefined &&
    floorRounds?.min !== undefined &&
    tandemRounds.min <= floorRounds.max &&
    floorRounds.min <= tandemRounds.max;
  const body = overlap
    ? ` The sidecar spends about as much, ${num(us(tandemCpu), 0)} µs per request (its rounds and the bare proxy's overlap), pipeline included (the
token check, header filtering, the upstream's policies, the CLIENT span, metrics): what its own request reader and HTTP/1.1 client
save on Node's HTTP server and undici, the pipeline spends`
    : tandemCpu >= floor
      ? ` The sidecar spends ${num(us(tandemCpu - floor), 0)} µs more per request, ${Math.round(share * 100)} % of its CPU per request, for its
pipeline on top (the token check, header filtering, the upstream's policies, the CLIENT span, metrics, and the garbage
they make)`
      : ` The sidecar spends ${num(us(floor - tandemCpu), 0)} µs less per request, pipeline included (the token check, header
filtering, the upstream's policies, the CLIENT span, metrics): its own request reader and HTTP/1.1 client do less per
request than Node's HTTP server and undici`;
  return `${head}${body}; scenario 3b counts the work, and what Node's HTTP server would add to it.${saturated(s, tandemCpu, floor)}`;
}

/** What the process that only moves bytes adds at p50, next to nginx and the sidecar: how much of the gap is Node's. */
function socketsFloor(s) {
  const at = s.added["1000"] ?? {};
  const sockets = at[SOCKETS]?.p50.median;
  const nginx = at[NGINX]?.p50.median;
  const tandem = at[TANDEM]?.p50.median;
  if (sockets === undefined || nginx === undefined || tandem === undefined) return "";
  const beyond =
    sockets > 0 && tandem > 0
      ? ` The sidecar's added p50 is ${times(tandem / sockets)} that of the process that only moves the bytes.`
      : "";
  return ` At p50, a Node process that only moves the bytes (sockets both ways) adds ${num(sockets, 3)} ms at 1000 req/s, nginx
${num(nginx, 3)} ms and the sidecar ${num(tandem, 3)} ms: ${
    sockets <= 2 * nginx
      ? "a Node process on the path can stay within 2× nginx at the median; what the sidecar adds beyond it is its own work per request (reading and checking the request, the pipeline, its client), which scenario 3b counts and docs/architecture.md times on the path"
      : "even a Node process that does nothing else adds more than twice nginx's at the median"
  }.${beyond}`;
}

/**
 * The added latency with each proxy on a core of its own (`summary.ownCore`, runs since it was
 * measured): its table and how it was made, or why it was not measured.
 */
function ownCoreSection(result) {
  const own = result.summary.ownCore;
  const why = result.skipped?.ownCore;
  if (own === undefined)
    return why === undefined ? "" : `\n**The proxy on a core of its own:** not measured in this run (${why}).\n`;
  const method = result.method.ownCore;
  const proxies = Object.keys(own.added);
  const nginx = own.added[NGINX]?.p50.median;
  const rows = ["direct", ...proxies].map((n) => {
    const l = own.latency[n];
    const a = own.added[n];
    return [
      n,
      mmm(l.p50, 3),
      mmm(l.p99, 2),
      a ? num(a.p50.median, 3) : "baseline",
      a ? num(a.p99.median, 2) : "baseline",
      a && nginx !== undefined && nginx > 0 && a.p50.median > 0 ? times(a.p50.median / nginx) : "",
    ];
  });
  return `
**The proxy on a core of its own.** In the rounds above the load generator's polling holds one core, so a proxy and
the upstream mostly share the other and take turns on it: what a proxy does for a request, before its write upstream
and after it, lies end to end with the upstream's work on the path. The same rounds again at ${own.rate} req/s with ${method.cores}
(after ${method.warmupSeconds} s of warm-up per subject): the upstream is off the proxy's core, though not on a host of its own (it
shares its core with the generator's polling, and so does the direct call), and a proxy's work after its write upstream
can overlap the upstream's. Every proxy now sleeps between requests on a core with nothing else to run, which this
machine is slow to wake (see above), and adds more at p50 than on the shared core.

${table(["subject", "p50 ms", "p99 ms", "added p50 ms", "added p99 ms", "added p50 × nginx's"], rows)}
`;
}

/**
 * The machine's own stalls beside each subject's slow requests: how many of the requests over
 * `slowMs` were in flight while a canary was kept off its CPU, against what chance gives, and how
 * many took that long outside any stall seen. Nothing for results without the part.
 */
function stallsSection(result) {
  const st = result.summary.stalls;
  const why = result.skipped?.stalls;
  if (st === undefined)
    return why === undefined ? "" : `\n**The machine's own stalls:** not measured in this run (${why}).\n`;
  const m = result.method.stalls;
  const share = (part, whole) => (whole > 0 ? `${num((100 * part) / whole, 1)} %` : "n/a");
  const subjects = Object.entries(st.subjects);
  const rows = subjects.map(([n, x]) => [
    n,
    num(x.p50, 3),
    num(x.p99, 2),
    `${x.slow} (${share(x.slow, x.requests)})`,
    `${x.inStall} (${share(x.inStall, x.slow)})`,
    `${x.byChance} (${share(x.byChance, x.slow)})`,
    share(x.slow - x.inStall, x.requests),
  ]);
  const lateOver = (c) => (c.lateUs["<1000"] ?? 0) + (c.lateUs["<5000"] ?? 0) + (c.lateUs[">=5000"] ?? 0);
  const cpus = st.cpus
    .map(
      (c) =>
        `CPU ${c.cpu} ${num(c.stallsPerS, 1)} times a second, ${num(c.stalledMsPerS, 2)} ms a second in all, ${share(lateOver(c), c.wakes)} of its wake-ups 0.5 ms or more late`,
    )
    .join("; ");
  const outside = (n) => {
    const x = st.subjects[n];
    return `${share(x.slow - x.inStall, x.requests)} of ${n === "direct" ? "the direct call" : n}'s`;
  };
  const named = [TANDEM, NGINX, "direct"].filter((n) => st.subjects[n] !== undefined).map(outside);
  const compared =
    named.length < 2 ? "" : ` Outside the stalls the canaries saw, ${listed(named)} requests took over ${m.slowMs} ms.`;
  return `
**The machine's own stalls.** The subjects again at ${m.rate} req/s (${m.slices} slices of ${m.sliceSeconds} s each, in turn), with a
canary on each of ${st.cpus.length === 1 ? "the one CPU" : `${st.cpus.length} CPUs`} the benchmark may use (\`bench/lib/canary.c\`, as cyclictest: a real-time thread that wakes every ${m.periodUs} µs and notes how late it
woke). No ordinary process can keep it waiting, so a wake-up later than ${m.thresholdUs} µs is a stall: time in which that CPU
ran none of them (the hypervisor ran something else on it or woke it late from idle, or the kernel ran with interrupts or
preemption off). The canaries were held off: ${cpus}.
A request counts as in flight during a stall when one overlaps it, from the time it was due to its answer; the same
requests moved by ${m.shiftMs ?? 437} ms within the run overlap one by chance in the column after. A canary sees a stall only when one
of its wake-ups falls in it, so a slow request outside the stalls seen may still have met one.${compared}

${table(["subject", "p50 ms", "p99 ms", `requests over ${m.slowMs} ms`, "of which during a stall", "the same moved: by chance", `over ${m.slowMs} ms outside a stall, of all`], rows)}
`;
}

/**
 * The sidecar's distance to nginx at p50 (its added latency less nginx's) with a core of its own,
 * next to the same on the shared core: said to change only when it moves by more than the noise,
 * the larger spread of the direct call's p50 over the rounds of the two. Ratios alone would
 * mislead: every proxy adds more on a core of its own, which brings any ratio nearer 1×.
 */
function ownCoreRatio(s) {
  const own = s.ownCore;
  const shared = s.added[String(own?.rate)];
  if (own === undefined || shared === undefined) return "";
  const pair = (a) => [a[TANDEM]?.p50.median, a[NGINX]?.p50.median];
  const [ownTandem, ownNginx] = pair(own.added);
  const [sharedTandem, sharedNginx] = pair(shared);
  if ([ownTandem, ownNginx, sharedTandem, sharedNginx].some((v) => v === undefined)) return "";
  const ownGap = ownTandem - ownNginx;
  const sharedGap = sharedTandem - sharedNginx;
  const band = Math.max(directNoise(s.latency[String(own.rate)], "p50"), directNoise(own.latency, "p50"));
  const ratios =
    ownNginx > 0 && sharedNginx > 0 && ownTandem > 0 && sharedTandem > 0
      ? ` (${times(ownTandem / ownNginx)} and ${times(sharedTandem / sharedNginx)} nginx's: every proxy adds more on a core of its own, which brings any ratio nearer 1×)`
      : "";
  const noise = `the direct call's p50 moved by up to ${num(band, 3)} ms over the rounds`;
  const moved =
    sharedGap - ownGap > band
      ? `its distance to nginx shrinks on a core of its own by more than the noise (${noise}), so on the shared core part of it is its work lying end to end with the upstream's`
      : ownGap - sharedGap > band
        ? `its distance to nginx grows on a core of its own by more than the noise (${noise})`
        : `the two differ by less than the noise (${noise}), so where the upstream runs does not measurably change the sidecar's distance to nginx`;
  return ` On a core of its own the sidecar added ${num(ownTandem, 3)} ms at p50 at ${own.rate} req/s, ${num(ownGap, 3)} ms more than nginx; on the
shared core ${num(sharedTandem, 3)} ms, ${num(sharedGap, 3)} ms more${ratios}: ${moved}. The target above is judged on the shared core.`;
}

/**
 * Each subject's CPU per request next to its added p99 at 1000 req/s, in the order of the CPU: on
 * a machine whose virtual CPUs the host takes away now and then, the longer a process runs per
 * request, the more of those stalls land in the middle of a request.
 */
function tailByCpu(s, proxies) {
  const rows = proxies
    .map((n) => [n, usageOf(s, n)?.vcpuPer1000?.median, s.added["1000"]?.[n]?.p99.median])
    .filter(([, cpu, p99]) => cpu !== undefined && cpu !== null && p99 !== undefined)
    .sort((x, y) => x[1] - y[1]);
  if (rows.length < 3) return "";
  const list = rows.map(([n, cpu, p99]) => `${n} ${num(cpu * 1000, 0)} µs, ${num(p99, 2)} ms`).join("; ");
  // "Rises with" only when every step up in CPU is one up in added p99 too, or within 0.1 ms of it.
  const rises = rows.every((row, i) => i === 0 || row[2] >= rows[i - 1][2] - 0.1);
  return rises
    ? ` The added p99 at 1000 req/s rises with the CPU a request takes (CPU per request, added p99: ${list}): on this
machine a woken process may wait milliseconds for a virtual CPU, and the longer a process runs per request, the more of
those waits land in a request. Less work per request is what would shorten the sidecar's tail here.`
    : ` The CPU per request and the added p99 at 1000 req/s of each subject, in the order of the CPU: ${list}.`;
}

/** CPU per request at full load (one core busy: 1 / max throughput) next to the cost at 1000 req/s. */
function saturated(s, tandemCpu, floor) {
  const tandem = s.throughput[TANDEM]?.median;
  const bare = s.throughput[NODE_PROXY]?.median;
  if (tandem === undefined || bare === undefined) return "";
  return ` At full load, where one core is busy and a request costs 1 / max throughput, the sidecar spends
${num(1e6 / tandem, 0)} µs per request and the bare Node proxy ${num(1e6 / bare, 0)} µs: at 1000 req/s both spend several
times that (${num(tandemCpu * 1000, 0)} and ${num(floor * 1000, 0)} µs), because the process sleeps between requests and
each one wakes it on cold caches, where the amount of code and data a request touches counts more than the
instructions it runs.`;
}

/** How the generator keeps its send times, and what it brings into the measurement of its own. */
function generatorText(m) {
  if (m.generatorKind === "native")
    return `Between sends the
generator polls (\`epoll_pwait2\` with a zero timeout, from a millisecond before each send) to keep its send times exact, so it
keeps one of the machine's cores busy; the subject and the upstream share the other. It is a small C program
(\`bench/lib/open-loop.c\`): one thread, no garbage collector, no compiler, no HTTP client's work per request of its own.
The undici generator this scenario used before (and still uses on a machine without a C compiler) measured the direct call
to the same nginx at 1000 req/s, in three runs interleaved with this one's, at p50 0.10-0.15 ms and p99 2.8-3.6 ms, where
this one measured 0.06-0.09 ms and 0.13-2.6 ms: most of the tail it reported was its own (collections, compilations, the
client's work). What is left of the direct call's tail is this machine's: a small virtual machine that wakes an idle
virtual CPU slowly and now and then runs a kernel thread (\`kdamond\`, memory monitoring) for ~20 ms. In a \`perf sched\`
trace of 8 s at 1000 req/s through nginx and through the sidecar, nginx's worker and the sidecar's thread each waited
more than 0.3 ms for a CPU 40 to 60 times, on a virtual CPU waking from idle or behind that kernel thread. A proxy is one
more process to wake for every request, so its added p99 has those waits in it, whatever the proxy.`;
  return `Between sends the
generator polls (\`setImmediate\`) to keep its send times exact, so it keeps one of the machine's cores busy; the
subject and the upstream share the other. It keeps to that one core: it runs with V8's garbage collection and
compilers on its own thread (\`--single-threaded\`) and a 1 MB young generation. With V8's helper threads, which run on
any core, its collections took the subject's core for up to 7 ms at a time (\`perf sched\`) and the subject showed
the stall in its latency. A generator that slept between sends instead (a worker thread waking it at
each send time, ~6 % of a core) measured a worse direct call on this machine (one 6 s run each at 1000 req/s): p50 0.195 against 0.09 ms, p99 7.6
against 2.6 ms. This machine is a small virtual machine that wakes an idle virtual CPU slowly (\`perf sched\` shows a woken process
waiting up to 3.5 ms for a virtual CPU that was idle), and every process on the path that sleeps between requests pays
that wake-up: the direct call's own p99, many times its p50, is this
machine's and the generator's (its collections, compilations and client: the C generator measures the same direct call's p99 at a
fraction of it), and so is much of every subject's. Holding the generator to one core and the subject and the upstream to the other
(\`taskset\`) made every subject's p99 worse here (the direct call's 10-47 ms against 3-9 ms left free, four rounds each way at
1000 req/s), so the processes are left to the scheduler.`;
}
