// Scenario 2: the HTTP client in library mode (bench/http-client.mjs).
import { mmm, num, runLine, table, times, verdict } from "../lib/format.mjs";
import { groupedBarChart } from "../lib/svg.mjs";

export default function render(result) {
  const s = result.summary;
  const names = Object.keys(s);
  const base = s[result.baseline];
  const target = result.target;
  const ratio = result.throughputRatios;
  const rows = names.map((n) => [
    n === result.baseline ? `${n} (baseline)` : n,
    mmm(s[n].rps, 0),
    times(ratio[n]),
    mmm(s[n].p50, 3),
    mmm(s[n].p99, 2),
    num(s[n].errors?.median ?? 0, 0),
  ]);
  const tandem = target.subject;
  const met = ratio[tandem] >= target.minThroughputRatio;
  const m = result.method;
  const losses = names
    .filter((n) => n !== result.baseline && ratio[n] < 1)
    .map(
      (n) =>
        `${n} reaches ${times(ratio[n])} of raw undici's throughput (p99 ${num(s[n].p99.median, 2)} ms against ${num(base.p99.median, 2)} ms)`,
    );
  const fetchName = names.find((n) => n === "fetch");
  const tandemVsFetch = fetchName ? s[tandem].rps.median / s[fetchName].rps.median : undefined;
  // The client process is one busy thread: a request costs it 1/throughput seconds.
  const perRequestUs = 1e6 / s[tandem].rps.median - 1e6 / base.rps.median;
  const hedgedName = names.find((n) => n.includes("hedging"));
  const hedgeCost = hedgedName ? s[hedgedName].rps.median / s[tandem].rps.median : undefined;
  const markdown = `\`bench/http-client.mjs\`: each subject sends GET requests to the same local upstream (${m.upstream}) over
keep-alive connections, with ${m.concurrency} requests in flight (closed loop: each lane sends its next request when the
previous one is answered and its body read), for ${m.roundSeconds} s per round, ${m.rounds} rounds after a ${m.warmupSeconds} s warm-up per subject.
The subjects take turns within each round, in a rotating order, so that noise on the machine hits them alike. All run in one
Node process; the upstream is another process.

- **undici.request**: \`request(url, { dispatcher })\` with an \`Agent\` of ${m.connections} connections, the baseline.
- **fetch**: Node's global \`fetch\` (undici inside), body read with \`arrayBuffer()\`.
- **tandem rt.http (all policies)**: \`rt.http.request("bench", { path: "/" })\` in library mode, the upstream with
  every policy on: attempt and total timeouts, retries with a budget, circuit breaker, outlier detection, bulkhead,
  rate limit (set far above the load, so it never refuses), least-request balancing.
- **… + hedging at p99**: the same, plus a hedge after the upstream's p99 latency.

${runLine(result, "http-client.json")}

${table(["subject", "requests/s, median (min..max)", "× undici", "p50 ms", "p99 ms", "errors"], rows)}

![Requests per second](benchmarks/http-client.svg)

Target: tandem's \`rt.http\` with all policies reaches at least ${Math.round(target.minThroughputRatio * 100)} % of raw undici's throughput:
${verdict(met)} (${times(ratio[tandem])}).${tandemVsFetch !== undefined ? ` It does ${times(tandemVsFetch)} what \`fetch\` does.` : ""}

**Where tandem loses:** ${losses.length === 0 ? "nowhere in this run: every subject kept up with raw undici." : `${losses.join("; ")}.`}
${
  ratio[tandem] < 1
    ? `The client is one Node thread kept busy, so a request costs it 1/throughput of a second: tandem's pipeline adds
about ${num(perRequestUs, 0)} µs per request to undici's ${num(1e6 / base.rps.median, 0)} µs. What it does per request on top of undici: takes a
rate-limit token and a bulkhead slot, picks an endpoint (least-request), arms the attempt's timeout and the body's
total timeout on a shared deadline wheel, starts and ends a CLIENT span (with no exporter configured it records
nothing, but still makes its ids and a context, and writes \`traceparent\` into a copy of the headers: about
0.9 µs), observes a duration histogram, feeds the breaker, the outlier detector and the latency window, and guards
the response body. The policies alone cost well under a microsecond (scenario 1). Most of the rest is garbage: the
pipeline's async layers, the span's context and headers and the attempt's signal make a request allocate about
1.4 times what undici alone allocates, and the same thread that sends the requests collects it.`
    : ""
}${
  hedgeCost !== undefined
    ? `\n\nHedging at p99 ${hedgeCost < 1 ? `costs ${Math.round((1 - hedgeCost) * 100)} % of the throughput` : "costs no throughput"} here (${times(hedgeCost)} of the same pipeline
without it). With the single endpoint of this setup no hedge is ever sent (a hedge goes to another endpoint), so
this is the price of being ready to hedge: a cancel signal per request (a plain object, not an \`AbortController\`,
which costs about 1 KB and half a microsecond in Node), a hedge deadline on the wheel, and the closures of the race.`
    : ""
}`;
  const chart = groupedBarChart({
    title: "HTTP client, library mode: requests per second (median, min..max)",
    unit: "requests per second",
    groups: names,
    series: [{ name: "requests/s", values: names.map((n) => s[n].rps.median) }],
    whiskers: names.map((n) => [[s[n].rps.min, s[n].rps.max]]),
    highlight: names.map((n) => n.startsWith("tandem")),
    legend: false,
  });
  return { markdown, charts: { "http-client.svg": chart } };
}
