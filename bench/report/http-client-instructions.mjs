// Scenario 2b: instructions per request of a client process, counted by callgrind (bench/http-client-instructions.mjs).
import { mmm, num, runLine, table, times } from "../lib/format.mjs";

export default function render(result) {
  const s = result.summary;
  const m = result.method;
  const names = Object.keys(s);
  if (names.length === 0)
    return {
      markdown: `Not measured (${Object.values(result.skipped ?? {}).join("; ") || "no client was counted"}): \`bench/http-client-instructions.mjs\` runs each client under valgrind's callgrind.`,
    };
  const k = (v) => (v === undefined ? undefined : v / 1000);
  const kmmm = (x) => (x === undefined ? "n/a" : mmm({ median: k(x.median), min: k(x.min), max: k(x.max) }, 1));
  const base = s[result.baseline]?.perRequest?.median;
  const rows = names.map((n) => [
    n === result.baseline ? `${n} (baseline)` : n,
    kmmm(s[n].perRequest),
    kmmm(s[n].mainThreadPerRequest),
    base === undefined ? "n/a" : times(s[n].perRequest.median / base, 2),
  ]);
  const tandem = names.find((n) => n !== result.baseline);
  let findings = "";
  if (tandem !== undefined && base !== undefined) {
    const ratio = s[tandem].perRequest.median / base;
    findings = `A request through \`rt.http\`, with every policy, a CLIENT span and the metrics, costs the client process
${num(k(s[tandem].perRequest.median), 0)} k instructions, ${times(ratio, 2)} raw undici's ${num(k(base), 0)} k: ${
      ratio <= 1
        ? "its own HTTP/1.1 client does less per request than undici's, and that pays for the pipeline on top."
        : "the pipeline costs more than its own HTTP/1.1 client saves against undici's."
    } On the main thread alone, ${num(k(s[tandem].mainThreadPerRequest.median), 0)} k against ${num(k(s[result.baseline].mainThreadPerRequest.median), 0)} k (${times(s[tandem].mainThreadPerRequest.median / s[result.baseline].mainThreadPerRequest.median, 2)}); the
other threads are V8's helpers (the garbage collector's and the optimizing compiler's), which the clients run with
Node's defaults. As a share of the work a request takes, this is the steady view of scenario 2's throughput ratio, which
moves with the machine from run to run; it does not see what the work costs (cache misses, garbage collection pauses
in time rather than in instructions: scenario 2's GC column).`;
  }
  const markdown = `\`bench/http-client-instructions.mjs\`: scenario 2's clients against the same upstream (${m.upstream}), each in a
process of its own under valgrind's callgrind (${m.tool}): ${num(m.warmupRequests, 0)} requests to warm up, then the instructions
counted over ${num(m.requests, 0)} requests (${m.lanes} requests in flight), ${m.rounds} round(s), a new process each. \`rt.http\` has
scenario 2's settings, except timeouts long enough for a process slowed ~50 times by callgrind (they never fire in
either run, so the work counted is the same). Counted: user-space instructions of every thread of the client, and of
its main thread alone.

${runLine(result, "http-client-instructions.json")}

${table(["client", "k instructions per request", "of which main thread", "× undici"], rows)}

${findings}
`;
  return { markdown };
}
