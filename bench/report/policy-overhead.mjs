// Scenario 1: the policy overhead in library mode (bench/policy-overhead.mjs).
import { mmm, num, runLine, table, times, verdict } from "../lib/format.mjs";
import { barChart } from "../lib/svg.mjs";

const TANDEM_API = "tandem rt.resilience.execute (timeout+retry+breaker+bulkhead)";
const TANDEM_POLICY = "tandem (timeout+retry+breaker+bulkhead)";
const COCKATIEL = "cockatiel wrap (bulkhead+retry+breaker+timeout)";
const OPOSSUM = "opossum fire (breaker+timeout)";
const BARE = "bare call";
const LABELS = {
  [BARE]: "bare call",
  [TANDEM_API]: "tandem `rt.resilience.execute` (timeout + retry + breaker + bulkhead)",
  [TANDEM_POLICY]: "tandem `Policy` alone (the same four)",
  [COCKATIEL]: "cockatiel `wrap` (bulkhead + retry + breaker + timeout)",
  [OPOSSUM]: "opossum `fire` (breaker + timeout)",
};
const TARGET_NS = 1000;

export default function render(result) {
  const r = result.results;
  const bare = r[BARE].medianNs;
  const rows = Object.entries(r).map(([name, x]) => [
    LABELS[name] ?? name,
    num(x.medianNs, 0),
    `${num(x.minNs, 0)}..${num(x.maxNs, 0)}`,
    num(x.medianNs - bare, 0),
    times(x.medianNs / bare, 1),
  ]);
  const added = (name) => r[name].medianNs - bare;
  // Judged as an application calls it, where the run timed that; older runs timed the Policy alone.
  const TANDEM = r[TANDEM_API] === undefined ? TANDEM_POLICY : TANDEM_API;
  const tandemAdded = added(TANDEM);
  const m = result.method ?? {};
  const vsCockatiel = added(COCKATIEL) / tandemAdded;
  const vsOpossum = added(OPOSSUM) / tandemAdded;
  const lines = [];
  lines.push(
    `\`bench/policy-overhead.mjs\`: each subject wraps a call that does nothing (\`Promise.resolve(1)\`),
called ${num(result.calls, 0)} times in a row, \`await\`ed one at a time; ${result.rounds} rounds after a warm-up round${m.interleaved ? ", every subject once per round, in turn" : ""}; the
table gives the median round with the fastest and slowest.

- **tandem**: an attempt timeout (1 s), retry (3 attempts, budget 20 % + 10/s),
  circuit breaker (failure ratio over a 10 s window) and bulkhead (100)${
    r[TANDEM_API] === undefined
      ? ": its `Policy`, the stack `rt.resilience.execute` runs"
      : `, called as an application calls it: \`rt.resilience.execute("bench", fn)\` of a library-mode
  runtime whose config file defines the policy; and its \`Policy\` alone, without the lookup by name`
  }.
- **cockatiel 4**: \`wrap(bulkhead(100), retry(handleAll, { maxAttempts: 2 }), circuitBreaker(handleAll, { breaker:
  ${m.cockatielBreaker ?? "new ConsecutiveBreaker(5)"} }), timeout(1000, Cooperative))\`, the same four policies.
- **opossum 10**: \`fire()\` of a breaker with its timeout (1 s): two policies, not four.

${runLine(result, "policy-overhead.json")}

${table(["subject", "ns per call (median)", "min..max", "added over bare", "× bare"], rows)}

![Nanoseconds per call](benchmarks/policy-overhead.svg)

Target: tandem adds under ${num(TARGET_NS, 0)} ns per call with all four policies: ${verdict(tandemAdded < TARGET_NS)}
(${num(tandemAdded, 0)} ns, ${mmm({ median: tandemAdded, min: r[TANDEM].minNs - bare, max: r[TANDEM].maxNs - bare }, 0)} ns over the rounds); and faster than both peers: ${verdict(vsCockatiel > 1 && vsOpossum > 1)}.`,
  );
  const cmp = [];
  cmp.push(
    vsCockatiel >= 1
      ? `tandem adds ${num(vsCockatiel, 1)} times less than cockatiel with the same four policies`
      : `tandem adds ${num(1 / vsCockatiel, 1)} times **more** than cockatiel with the same four policies`,
  );
  cmp.push(
    vsOpossum >= 1
      ? `${num(vsOpossum, 1)} times less than opossum with two`
      : `${num(1 / vsOpossum, 1)} times **more** than opossum with two`,
  );
  lines.push(`
${cmp.join(", and ")}. Why: timeouts share one timer and one AbortController per millisecond and
timeout value (\`DeadlineWheel\`) instead of one timer per call, which is where cockatiel's time goes; a call
that succeeds at once never enters the retry loop; the breaker's rolling window is ten counters
refreshed from the clock; the bulkhead takes a free slot without a promise.

Where tandem loses: even the cheapest policy is a promise hop and some bookkeeping around the call:
here ${num(tandemAdded, 0)} ns per call, ${times(r[TANDEM].medianNs / bare, 1)} a bare call. A policy with a timeout hands the
work an \`AbortSignal\` that all calls started in the same millisecond share: it aborts at their common
deadline, never earlier, but a caller that wants to abort its own call needs its own signal.`);
  const chart = barChart({
    title: "Policy overhead: ns per call (median, min..max)",
    unit: "ns per call",
    bars: Object.entries(r).map(([name, x]) => ({
      label: (LABELS[name] ?? name).replace(/`/g, ""),
      value: x.medianNs,
      min: x.minNs,
      max: x.maxNs,
      highlight: name === TANDEM_API || name === TANDEM_POLICY,
    })),
  });
  return { markdown: lines.join("\n"), charts: { "policy-overhead.svg": chart } };
}
