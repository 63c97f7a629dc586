// Scenario 6: telemetry and flag costs (bench/telemetry.mjs).
import { num, runLine, table, times, verdict } from "../lib/format.mjs";
import { groupedBarChart } from "../lib/svg.mjs";

const LABELS = {
  "counter.inc, library": "`counter.inc`, library mode",
  "counter.inc, sidecar mode": "`counter.inc`, sidecar mode",
  "counter.inc, prom-client": "`counter.inc`, prom-client",
  "histogram.observe, library": "`histogram.observe`, library mode",
  "histogram.observe, sidecar mode": "`histogram.observe`, sidecar mode",
  "histogram.observe, prom-client": "`histogram.observe`, prom-client",
  "flush to the sidecar (ms)": "one flush to the sidecar alone (a counter and a histogram series)",
  "render 10 000 series (ms)": "render 10 000 series (Prometheus text)",
  "flag evaluation, flagd-core alone": "flag evaluation, `@openfeature/flagd-core` alone",
  "flag evaluation, flagd-core alone, awaited": "flag evaluation, `@openfeature/flagd-core` alone, awaited",
  "flag evaluation, tandem (OpenFeature client)": "flag evaluation, `rt.flags` (no hook registered)",
  "flag evaluation, tandem with an OpenFeature hook": "flag evaluation, `rt.flags` with an OpenFeature hook",
  "flag evaluation, OpenFeature SDK with an OpenFeature hook":
    "flag evaluation, OpenFeature SDK's own, same provider and hook",
};
const SIDECAR_TARGET = 1.5;

/** The line on evaluations with a hook registered: tandem's own run of the hooks, next to the SDK's where measured. */
function hookLine(result, hooked) {
  const r = result.results;
  if (hooked === undefined) return "- Evaluations with an OpenFeature hook registered: not measured in this run.";
  const tandem = `${value(r["flag evaluation, tandem with an OpenFeature hook"])[0]} per evaluation, ${times(hooked, 1)} flagd-core alone`;
  const sdk = r["flag evaluation, OpenFeature SDK with an OpenFeature hook"];
  if (sdk === undefined)
    return `- With an OpenFeature hook registered (globally, on \`rt.flags\` or with the call) the SDK's own evaluation runs, hooks and all: ${tandem}; evaluate once per request, not per item.`;
  const sdkRatio = result.ratios["flag SDK with a hook/tandem with a hook"];
  return `- With an OpenFeature hook registered (globally, on \`rt.flags\` or with the call; here one \`after\` hook that does nothing) \`rt.flags\` runs the hooks itself, step for step as the OpenFeature SDK does: ${tandem}, for the hook context and hook data the specification asks for per hook and the copies of the context. The SDK's own evaluation, with the same provider and hook, took ${value(sdk)[0]}, ${times(sdkRatio, 1)} as long (the two timed in turn in each round): it awaits every step, each hook and each stage, where \`rt.flags\` waits only for a hook that returns a promise.`;
}

/** The flag line: a loss stated as one when `rt.flags` costs clearly more than flagd's evaluator. */
function flagLine(flag, r) {
  const costs = `${value(r["flag evaluation, tandem (OpenFeature client)"])[0]} against ${value(r["flag evaluation, flagd-core alone"])[0]}`;
  let why =
    "the evaluation itself is flagd-core's; around it `rt.flags` checks that no hook and no other provider is in the way, merges the global, transaction and client contexts into the call's when any is set, and returns a promise, as the OpenFeature API does (flagd's evaluator is called without `await` here)";
  const awaited = r["flag evaluation, flagd-core alone, awaited"];
  if (awaited !== undefined) {
    const share = awaited.medianNs / r["flag evaluation, flagd-core alone"].medianNs;
    why += `; awaiting flagd's evaluator alone already costs ${times(share, 2)} calling it (${value(awaited)[0]})`;
  }
  if (flag <= 1.5)
    return `- A flag evaluation through \`rt.flags\` costs ${times(flag, 1)} what flagd's evaluator alone costs (${costs}): ${why}.`;
  return `- **Where tandem loses:** a flag evaluation through \`rt.flags\` costs ${times(flag, 1)} what flagd's evaluator alone costs (${costs}): ${why}.`;
}

function value(x) {
  if (x.medianNs !== undefined) {
    const us = x.medianNs >= 1000;
    const f = (v) => (us ? num(v / 1000, 1) : num(v, 0));
    return [`${f(x.medianNs)} ${us ? "µs" : "ns"}`, `${f(x.minNs)}..${f(x.maxNs)} ${us ? "µs" : "ns"}`];
  }
  return [`${num(x.medianMs, 1)} ms`, `${num(x.minMs, 1)}..${num(x.maxMs, 1)} ms`];
}

export default function render(result) {
  const r = result.results;
  const flushed = r["flush to the sidecar (ms)"];
  const order = Object.keys(LABELS).filter((k) => r[k] !== undefined);
  const rows = order.map((k) => [LABELS[k], ...value(r[k])]);
  const ratio = (a, b) => r[a].medianNs / r[b].medianNs;
  const counterSidecar = ratio("counter.inc, sidecar mode", "counter.inc, library");
  const histSidecar = ratio("histogram.observe, sidecar mode", "histogram.observe, library");
  const counterPeer = ratio("counter.inc, prom-client", "counter.inc, library");
  const histPeer = ratio("histogram.observe, prom-client", "histogram.observe, library");
  // Runs that time the two in turn, round by round, give the median of their rounds' ratios.
  const flag =
    result.ratios?.["flag tandem/flagd-core"] !== undefined && result.flagRoundRatios !== undefined
      ? result.ratios["flag tandem/flagd-core"]
      : ratio("flag evaluation, tandem (OpenFeature client)", "flag evaluation, flagd-core alone");
  const hooked =
    r["flag evaluation, tandem with an OpenFeature hook"] === undefined
      ? undefined
      : ratio("flag evaluation, tandem with an OpenFeature hook", "flag evaluation, flagd-core alone");
  const peerLine = (what, x) =>
    x >= 1
      ? `tandem's ${what} is ${num(x, 1)}× cheaper than prom-client's`
      : `tandem's ${what} costs ${num(1 / x, 1)}× **more** than prom-client's`;
  const markdown = `\`bench/telemetry.mjs\`: ${num(result.calls, 0)} calls per round, ${result.rounds} rounds after a warm-up, median with the
fastest and slowest round. Sidecar mode records the same way as library mode${
    flushed === undefined
      ? " and flushes to a\nreal sidecar every second (started by the script)"
      : `; each of its rounds ends with the flush of
what it recorded to a real sidecar (started by the script), timed with the calls: one flush per ${num(result.calls, 0)} calls, as a
process making that many calls a second has (a flush goes once a second, whatever the rate)`
  }; prom-client's instruments are the peer; flag
evaluations are 100 000 per round over 1 000 users of a 10 % fractional rollout${
    result.flagRoundRatios === undefined
      ? ""
      : `, flagd-core alone and \`rt.flags\` timed in turn in each round, their ratio the median of the rounds' ratios (${num(Math.min(...result.flagRoundRatios), 2)}..${num(Math.max(...result.flagRoundRatios), 2)})`
  }.

${runLine(result, "telemetry.json")}

${table(["subject", "median", "min..max"], rows)}

![Telemetry costs](benchmarks/telemetry.svg)

- Sidecar mode costs what library mode costs (ratio ${num(counterSidecar, 2)} for a counter, ${num(histSidecar, 2)} for a histogram;
  target within ${SIDECAR_TARGET}×: ${verdict(counterSidecar <= SIDECAR_TARGET && histSidecar <= SIDECAR_TARGET)}): recording is the same in-process work,
  and the sidecar only receives a batch a second${
    flushed === undefined
      ? ""
      : `. A flush alone took ${value(flushed)[0]} (${value(flushed)[1]}), most of it the request's round trip to the sidecar: at 10 000
  calls a second, ${num((flushed.medianMs * 1e6) / 10_000, 0)} ns per call`
  }.
- The scrape of 10 000 series is timed as the rendering of their text exposition in the process (what a scrape of
  \`/metrics\` costs it, without the HTTP exchange): ${value(r["render 10 000 series (ms)"])[0]} (${value(r["render 10 000 series (ms)"])[1]}).
- ${peerLine("counter", counterPeer)}, and ${peerLine("histogram", histPeer).replace(/^tandem's /, "its ")}: a series is one map lookup on
  the label values, and a histogram observation adds to one bucket instead of every bucket above the value.
${flagLine(flag, r)}
${hookLine(result, hooked)}`;
  const chart = groupedBarChart({
    title: "Recording a metric: ns per call (median)",
    unit: "ns per call",
    groups: ["counter.inc", "histogram.observe"],
    series: [
      {
        name: "tandem, library mode",
        values: [r["counter.inc, library"].medianNs, r["histogram.observe, library"].medianNs],
      },
      {
        name: "tandem, sidecar mode",
        values: [r["counter.inc, sidecar mode"].medianNs, r["histogram.observe, sidecar mode"].medianNs],
      },
      {
        name: "prom-client",
        values: [r["counter.inc, prom-client"].medianNs, r["histogram.observe, prom-client"].medianNs],
      },
    ],
  });
  return { markdown, charts: { "telemetry.svg": chart } };
}
