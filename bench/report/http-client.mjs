// Scenario 2: the HTTP client in library mode (bench/http-client.mjs).
import { mmm, num, runLine, table, times, verdict } from "../lib/format.mjs";
import { groupedBarChart } from "../lib/svg.mjs";

export default function render(result) {
  const settings = result.settings;
  const target = result.target;
  const tandem = target.subject;
  const names = Object.keys(settings[0].summary);
  const m = result.method;
  const [defaults, tuned] = settings;

  const rows = settings.flatMap((setting) =>
    names.map((n) => {
      const s = setting.summary[n];
      return [
        label(setting),
        n === result.baseline ? `${n} (baseline)` : n,
        mmm(s.rps, 0),
        times(setting.throughputRatios[n]),
        mmm(s.p50, 3),
        mmm(s.p99, 2),
        num(s.gcPercent.median, 1),
        num(s.errors?.median ?? 0, 0),
      ];
    }),
  );
  const ratioOf = (setting) => setting.throughputRatios[tandem];
  const verdicts = settings.map(
    (s) =>
      `with ${label(s)}: ${verdict(ratioOf(s) >= target.minThroughputRatio)} (${times(ratioOf(s))}${paired(s, tandem, result.baseline, target.minThroughputRatio)})`,
  );
  const fetchName = names.find((n) => n === "fetch");
  const hedgedName = names.find((n) => n.includes("hedging"));

  const losses = settings.flatMap((setting) =>
    names
      .filter((n) => n.startsWith("tandem") && setting.throughputRatios[n] < 1)
      .map(
        (n) =>
          `with ${label(setting)}, ${n} reaches ${times(setting.throughputRatios[n])} of raw undici's throughput (p99 ${num(setting.summary[n].p99.median, 2)} ms against ${num(setting.summary[result.baseline].p99.median, 2)} ms)`,
      ),
  );
  // The client process is one busy thread: a request costs it 1/throughput seconds.
  const perRequestUs = (setting) =>
    1e6 / setting.summary[tandem].rps.median - 1e6 / setting.summary[result.baseline].rps.median;
  const gc = (setting, n) => setting.summary[n].gcPercent.median;
  const added = (setting) => {
    const us = perRequestUs(setting);
    const base = `undici's ${num(1e6 / setting.summary[result.baseline].rps.median, 1)} µs`;
    return us >= 0
      ? `adds about ${num(us, 1)} µs per request to ${base}`
      : `took ${num(-us, 1)} µs per request less than ${base} (the collections it spares the process pay for its work)`;
  };

  const markdown = `\`bench/http-client.mjs\`: each subject sends GET requests to the same local upstream (${m.upstream}) over
keep-alive connections, with ${m.concurrency} requests in flight (closed loop: each lane sends its next request when the
previous one is answered and its body read), for ${m.roundSeconds} s per round, ${m.rounds} rounds after a ${m.warmupSeconds} s warm-up per subject.
The subjects take turns within each round, in a rotating order, so that noise on the machine hits them alike. Each
runs in a client process of its own, as a service runs one HTTP client, so that what one leaves in V8's heap and its
heuristics does not weigh on another; each process first makes and holds ${num(m.heldObjects ?? 0, 0)} small objects
(~5 MB), as a service holds its config, caches and modules, on which V8's allocation-site pretenuring depends (see
below). The upstream is another process. The client processes run twice: with Node's default flags, and with
\`--no-allocation-site-pretenuring\`, which [docs/operations.md](operations.md#sizing) recommends for a service that
sends requests at a high rate. "GC %" is the share of the round spent in garbage-collection pauses, as V8 reports
them.

- **undici.request**: \`request(url, { dispatcher })\` with an \`Agent\` of ${m.connections} connections, the baseline.
- **fetch**: Node's global \`fetch\` (undici inside), body read with \`arrayBuffer()\`.
- **tandem rt.http (all policies)**: \`rt.http.request("bench", { path: "/" })\` in library mode, the upstream with
  every policy on: attempt and total timeouts, retries with a budget, circuit breaker, outlier detection, bulkhead,
  rate limit (set far above the load, so it never refuses), least-request balancing.
- **… + hedging at p99**: the same, plus a hedge after the upstream's p99 latency.

${runLine(result, "http-client.json")}

${table(["client process", "subject", "requests/s, median (min..max)", "× undici", "p50 ms", "p99 ms", "GC %", "errors"], rows)}

![Requests per second](benchmarks/http-client.svg)

Target: tandem's \`rt.http\` with all policies reaches at least ${Math.round(target.minThroughputRatio * 100)} % of raw undici's throughput:
${verdicts.join("; ")}.${fetchName ? ` It does ${times(defaults.summary[tandem].rps.median / defaults.summary[fetchName].rps.median)} what \`fetch\` does.` : ""}

**Where tandem loses:** ${losses.length === 0 ? "nowhere in this run: every subject kept up with raw undici." : `${losses.join("; ")}.`}

Allocation-site pretenuring decides much of this. Once V8 has seen most objects of an allocation site survive a
young-generation collection, optimized code allocates that site's objects in the old generation from then on. In a
process that holds a few MB when the first burst of requests comes, as these client processes do and as any real
service does (docs/operations.md#sizing), it does so with Node's defaults for two objects that every readable stream
gets in its constructor, every response body included: its \`_events\` and its read buffer. Whatever those reach is
then kept alive through the next young-generation collections: copied, promoted, and dead in the old generation. The
body undici's \`request()\` makes reaches its whole request until it is closed (its read and abort callbacks hold the
request's controller, and with a signal its \`close\` listener holds the handler), and the listeners that read it are
in its \`_events\`: with undici alone every request is promoted with its body, and the client spent
${num(gc(defaults, result.baseline), 1)} % of its time in GC pauses with Node's defaults against ${num(gc(tuned, result.baseline), 1)} % without pretenuring.
\`rt.http\` makes the same body (undici's class, with \`text()\`, \`json()\`, ...) through a request handler of its
own, fed by tandem's own HTTP/1.1 client (docs/architecture.md, "The upstream client"), whose body lets go of the request once it has arrived whole and which follows the attempt's signal without a
listener on the body: its requests die young either way (GC ${num(gc(defaults, tandem), 1)} % with Node's defaults,
${num(gc(tuned, tandem), 1)} % without pretenuring; p99 ${num(defaults.summary[tandem].p99.median, 2)} and ${num(tuned.summary[tandem].p99.median, 2)} ms).
Node refuses the flag in \`NODE_OPTIONS\`; it goes on the \`node\` command line (the sidecar starts with it).

The client is one Node thread kept busy, so a request costs it 1/throughput of a second: tandem's pipeline
${added(defaults)} with Node's defaults, and ${added(tuned)} without pretenuring. It sends with a client that does less per
request than undici's \`Pool\` (a JavaScript parser read straight into the handler, one timeout sweep per pool rather
than timers per request), and on top of sending it takes a
rate-limit token and a bulkhead slot, picks an endpoint (least-request), arms the attempt's timeout and the body's
total timeout on a shared deadline wheel, starts and ends a CLIENT span (with no exporter configured it records
nothing, but still makes its ids and a context, and writes \`traceparent\` into a copy of the headers: about
0.9 µs), observes a duration histogram, feeds the breaker, the outlier detector and the latency window, and guards
the response body. The policies alone cost well under a microsecond (scenario 1); the rest is the objects a
request through the pipeline allocates, which the same thread that sends the requests collects.${
    hedgedName
      ? `\n\nWith hedging at p99, the pipeline runs at ${settings.map((s) => `${times(s.summary[hedgedName].rps.median / s.summary[tandem].rps.median)} of its throughput without hedging with ${label(s)}`).join(" and ")}. With the single endpoint of this setup no hedge is ever sent (a hedge goes to another endpoint), so
this is the price of being ready to hedge: a cancel signal per request (a plain object, not an \`AbortController\`,
which costs about 1 KB and half a microsecond in Node), a hedge deadline on the wheel, and the closures of the race.`
      : ""
  }`;
  const chart = groupedBarChart({
    title: "HTTP client, library mode: requests per second (median, min..max)",
    unit: "requests per second",
    groups: names,
    series: settings.map((s) => ({ name: s.name, values: names.map((n) => s.summary[n].rps.median) })),
    whiskers: names.map((n) => settings.map((s) => [s.summary[n].rps.min, s.summary[n].rps.max])),
    highlight: names.map((n) => n.startsWith("tandem")),
  });
  return { markdown, charts: { "http-client.svg": chart } };
}

/** How the text names a client setting. */
function label(setting) {
  return setting.flags.length === 0 ? setting.name : `\`${setting.flags.join(" ")}\``;
}

/**
 * The ratio of `subject`'s throughput to the baseline's round by round (the two ran in the same
 * round, one after the other): its spread, and how many rounds fell below `limit`. Empty for
 * results without the rounds.
 */
function paired(setting, subject, baseline, limit) {
  const ours = setting.rounds?.[subject];
  const theirs = setting.rounds?.[baseline];
  if (!Array.isArray(ours) || !Array.isArray(theirs) || ours.length !== theirs.length || ours.length < 2) return "";
  const ratios = ours.map((round, i) => round.rps / theirs[i].rps).sort((a, b) => a - b);
  const below = ratios.filter((x) => x < limit).length;
  return `; round by round ${times(ratios[0])}..${times(ratios.at(-1))}, ${below} of ${ratios.length} rounds below ${times(limit)}`;
}
