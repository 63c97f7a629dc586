// Scenario 5: the sidecar's footprint (bench/footprint.mjs).
import { lowest, mmm, num, runLine, table, times, verdict } from "../lib/format.mjs";
import { barChart } from "../lib/svg.mjs";

// "No growth": the last four fifths of the long run may add at most this share of the RSS under load.
const GROWTH_TOLERANCE = 0.1;

export default function render(result, all = {}) {
  const s = result.summary;
  const m = result.method;
  const l = result.load;
  const t = result.targets;
  const idleMet = s.idleRssMB.median <= t.idleRssMB;
  const loadMet = Math.max(s.underLoadRssMB, s.endRssMB) <= t.underLoadRssMB;
  const growthMet = s.growthMB <= GROWTH_TOLERANCE * s.underLoadRssMB;
  const long = m.longRunSeconds >= 60 ? `${num(m.longRunSeconds / 60, 0)} min` : `${m.longRunSeconds} s`;
  const rows = [
    ["startup, spawn to ready", `${mmm(s.readyMs, 0)} ms`, "", ""],
    ["RSS at ready", `${mmm(s.rssAtReadyMB, 1)} MB`, "", ""],
    [
      `RSS idle (${m.idleSettleSeconds} s after ready)`,
      `${mmm(s.idleRssMB, 1)} MB`,
      `≤ ${t.idleRssMB} MB`,
      verdict(idleMet),
    ],
    ...(s.idleAnonMB === undefined
      ? []
      : [["of which anonymous / mapped files", `${mmm(s.idleAnonMB, 1)} MB / ${mmm(s.idleFileMB, 1)} MB`, "", ""]]),
    ...(s.bareNodeRssMB === undefined
      ? []
      : [
          [
            "a bare Node process (a node:http server), idle",
            `${mmm(s.bareNodeRssMB, 1)} MB: ${mmm(s.bareNodeAnonMB, 1)} anonymous, ${mmm(s.bareNodeFileMB, 1)} mapped files`,
            "",
            "",
          ],
        ]),
    ...(s.idleCpuMsPerSecond === undefined
      ? []
      : [
          [
            `CPU idle (over ${m.idleWatchSeconds} s, after the last start's idle reading)`,
            `${num(s.idleCpuMsPerSecond, 2)} ms per second, main thread awake ${num(s.idleWakeupsPerSecond, 1)} times a second`,
            "",
            "",
          ],
          [
            `RSS idle ${m.idleSettleSeconds + m.idleWatchSeconds} s after ready (the last start)`,
            `${num(s.idleLaterRssMB, 1)} MB (${num(s.idleLaterAnonMB, 1)} anonymous)`,
            "",
            "",
          ],
        ]),
    [
      `RSS at ${m.rate} req/s (after ${num(l.underLoadAtS, 0)} s)`,
      `${num(s.underLoadRssMB, 1)} MB`,
      `≤ ${t.underLoadRssMB} MB`,
      verdict(s.underLoadRssMB <= t.underLoadRssMB),
    ],
    ...(s.underLoadAnonMB === undefined
      ? []
      : [["of which anonymous", `${num(s.underLoadAnonMB, 1)} MB (after ${long}: ${num(s.endAnonMB, 1)} MB)`, "", ""]]),
    [
      `RSS after ${long} at ${m.rate} req/s`,
      `${num(s.endRssMB, 1)} MB (peak ${num(s.peakRssMB, 1)})`,
      `≤ ${t.underLoadRssMB} MB`,
      verdict(s.endRssMB <= t.underLoadRssMB),
    ],
    [
      `growth from ${num(l.growthFromS, 0)} s to the end`,
      `${s.growthMB >= 0 ? "+" : ""}${num(s.growthMB, 1)} MB`,
      `≤ ${Math.round(GROWTH_TOLERANCE * 100)} % of the RSS under load`,
      verdict(growthMet),
    ],
  ];
  const losses = [];
  if (!idleMet)
    losses.push(
      `idle, it holds ${num(s.idleRssMB.median, 0)} MB, ${num(s.idleRssMB.median - t.idleRssMB, 0)} MB over the target`,
    );
  if (!loadMet)
    losses.push(
      `under ${m.rate} req/s it reaches ${num(Math.max(s.underLoadRssMB, s.endRssMB), 1)} MB, ${num(Math.max(s.underLoadRssMB, s.endRssMB) - t.underLoadRssMB, 1)} MB over the target`,
    );
  if (!growthMet) losses.push(`its memory kept growing during the long run (+${num(s.growthMB, 0)} MB)`);
  const markdown = `\`bench/footprint.mjs\`: the sidecar (${m.sidecar}) started ${m.starts} times, each time timed from spawning the
process to its ready message, its resident memory (VmRSS from \`/proc\`) read at ready and ${m.idleSettleSeconds} s later; the last one then
serves ${m.rate} req/s (open loop, ${m.warmupSeconds} s warm-up) for ${long}, its RSS read every ${m.sampleEverySeconds} s${
    m.idleWatchSeconds === undefined
      ? ""
      : `; before that, it is watched idle for ${m.idleWatchSeconds} s: its CPU time and how often its main
thread wakes up (its voluntary context switches, from \`/proc\`; CPU time from \`schedstat\`, in nanoseconds)`
  }. Upstream: ${m.upstream}.${m.bareNode === undefined ? "" : ` Next to each idle sidecar, ${m.bareNode}.`}

${runLine(result, "footprint.json")}

${table(["measure", "value, median (min..max)", "target", "verdict"], rows)}

![RSS over the long run](benchmarks/footprint.svg)
${anatomy(s, t)}
During the long run: ${num(l.ok, 0)} answers, ${num(l.errors, 0)} errors, p50 ${num(l.latency.p50, 3)} ms, p99 ${num(l.latency.p99, 2)} ms
(the open-loop generator written on undici, whose own process puts a p99 of a few ms on any call: scenario 3 measures the hop's
latency with one written in C), ${num(l.vcpu, 3)} vCPU.

${stillRising(s, l)}**Where tandem loses:** ${losses.length === 0 ? `nowhere against these targets${leanerPeer(all, s)}.` : `${losses.join("; ")}${leanerPeer(all, s)}.`}${peerRss(all)}
`;
  const picks = [];
  const n = l.samples.length;
  const step = Math.max(1, Math.ceil(n / 12));
  for (let i = 0; i < n; i += step) picks.push(l.samples[i]);
  if (picks.at(-1) !== l.samples.at(-1)) picks.push(l.samples.at(-1));
  const chart = barChart({
    title: `Sidecar RSS: idle, then over ${long} at ${m.rate} req/s`,
    unit: "MB resident",
    bars: [
      { label: "idle (median of starts)", value: s.idleRssMB.median, min: s.idleRssMB.min, max: s.idleRssMB.max },
      ...picks.map((p) => ({ label: `at ${m.rate} req/s, ${num(p.t, 0)} s`, value: p.rssMB, highlight: true })),
    ],
    note: `targets: ${t.idleRssMB} MB idle, ${t.underLoadRssMB} MB under load`,
  });
  return { markdown, charts: { "footprint.svg": chart } };
}

/** What the RSS is made of, against a bare Node process in the same run. */
function anatomy(s, t) {
  if (s.bareNodeRssMB === undefined) return "";
  const floor = s.bareNodeRssMB.median;
  const below =
    floor >= t.idleRssMB ? ` The ${t.idleRssMB} MB idle target is below that floor: no Node sidecar meets it.` : "";
  return `
VmRSS counts two kinds of pages. Anonymous pages are the process's own: V8's heap, buffers, stacks. Pages mapped from
files are the node binary's code and data (the official binary is ~120 MB with V8, ICU and OpenSSL built in) and its
shared libraries, touched as they run: shared with every process that maps the same file, and reclaimable, since under
memory pressure the kernel drops them and reads them again when needed. A bare Node process (a node:http server, nothing
else) sits at ${num(floor, 0)} MB idle, ${num(s.bareNodeFileMB.median, 0)} MB of it mapped files.${below} The sidecar holds
${num(s.idleRssMB.median - floor, 0)} MB more than that floor idle; its own anonymous memory is ${num(s.idleAnonMB.median, 0)} MB idle and
${num(s.underLoadAnonMB, 0)} MB at load. It runs from the CLI bundle, one module built from the packages' dist, which holds
~12 MB less idle than the ~450 modules it is made of loaded one by one (docs/architecture.md#keeping-what-a-process-loads-small).
`;
}

/** When the long run ended at its peak after growing, a longer one decides whether it levels off: said. */
function stillRising(s, l) {
  if (!(s.growthMB > 0) || s.endRssMB < s.peakRssMB) return "";
  return `The RSS was still at its peak at the end of the long run (+${num(s.growthMB, 1)} MB from ${num(l.growthFromS, 0)} s on): within the
tolerance above, but a longer run would tell whether it levels off.

`;
}

/** The peer of scenario 3 that held the least at the same rate, when it held less than the sidecar here. */
function leanerPeer(all, s) {
  const at = hopUsage(all);
  const leanest = lowest(["nginx", "HAProxy"], (n) => at?.[n]?.rssMB?.median);
  if (leanest === undefined || !(leanest[1] < s.underLoadRssMB)) return "";
  return `; against its peers, it holds ${times(s.underLoadRssMB / leanest[1], 1)} what ${leanest[0]} holds at the same rate (scenario 3)`;
}

/** Scenario 3's CPU and memory per subject at 1000 req/s, when it ran. */
function hopUsage(all) {
  const hop = all["sidecar-hop"]?.summary;
  return hop?.cpu ?? hop?.latency?.["1000"];
}

/** What nginx and HAProxy held at 1000 req/s in scenario 3, when it ran. */
function peerRss(all) {
  const at = hopUsage(all);
  if (at === undefined) return "";
  const peers = ["nginx", "HAProxy"].filter((n) => at[n]?.rssMB?.median !== undefined);
  const bare = at["bare Node proxy"]?.rssMB?.median;
  let text = "";
  if (peers.length > 0)
    text += ` For comparison, ${peers.map((n) => `${n} held ${num(at[n].rssMB.median, 0)} MB`).join(" and ")} serving the same rate (scenario 3).`;
  if (bare !== undefined)
    text += ` A bare Node proxy (node:http and undici's \`request()\`, Node's default V8 flags) held ${num(bare, 0)} MB there: most of the
resident memory under load is the V8 heap of any Node process at this rate, not tandem's own data. Part of it is how V8 allocates
closures: a function literal assigned to a property (as undici's \`request()\` assigns its abort callback) is allocated in the
old generation, where it keeps what it captures alive through young-generation collections, so each request's objects are
promoted and die in the old generation. The sidecar's relay no longer does this, and the sidecar runs without allocation-site pretenuring
(docs/operations.md#sizing): ~30 KB promoted per scavenge at 1000 req/s instead of ~595 KB.`;
  return text;
}
