// The benchmark page against the results it is made from: the committed page is what the committed
// results render to, and a report's verdicts follow the numbers (a target met when the run meets
// it, a loss stated as one when tandem loses).
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { buildReport, SCENARIOS } from "../lib/report-page.mjs";
import renderFaults from "../report/faults.mjs";
import renderFootprint from "../report/footprint.mjs";
import renderClient from "../report/http-client.mjs";
import renderPolicy from "../report/policy-overhead.mjs";
import renderHop from "../report/sidecar-hop.mjs";
import renderTelemetry from "../report/telemetry.mjs";

const results = new URL("../results/", import.meta.url);
const docs = new URL("../../docs/", import.meta.url);
// biome's own launcher, run by this Node: the report script formats the page with it.
const biome = createRequire(import.meta.url).resolve("@biomejs/biome/bin/biome");
const committed = (name) => JSON.parse(readFileSync(new URL(`${name}.json`, results), "utf8"));

describe("docs/benchmarks.md", () => {
  it("is what the committed results render to, charts included (run `pnpm --filter @tandem/bench report`)", async () => {
    const { page, charts, rendered } = await buildReport(results);
    expect(rendered).toBe(SCENARIOS.length);
    // The report script formats the page with biome after writing it.
    const formatted = execFileSync(process.execPath, [biome, "format", "--stdin-file-path=docs/benchmarks.md"], {
      input: page,
      encoding: "utf8",
    });
    expect(formatted).toBe(readFileSync(new URL("benchmarks.md", docs), "utf8"));
    const svgs = readdirSync(new URL("benchmarks/", docs)).filter((f) => f.endsWith(".svg"));
    expect(svgs.sort()).toEqual(Object.keys(charts).sort());
    for (const file of svgs) {
      expect(charts[file], file).toBe(readFileSync(new URL(`benchmarks/${file}`, docs), "utf8"));
    }
  });
});

describe("the sidecar hop's verdicts", () => {
  const TANDEM = "tandem sidecar";
  const p99Line = (md) => md.split("\n- added p99 at most 0.5 ms at 1000 req/s")[1]?.split("\n- within")[0] ?? "";

  it("meets the p99 target only when tandem's added p99 at 1000 req/s is at most 0.5 ms, by more than the noise", () => {
    const result = committed("sidecar-hop");
    const direct = result.summary.latency["1000"].direct.p99;
    const added = result.summary.added["1000"][TANDEM].p99;
    // The direct call's p99 the same in every round: no noise to allow for; tandem's rounds on
    // both sides of the target, so that they decide nothing.
    direct.min = direct.max = direct.median;
    added.min = 0.1;
    added.max = 2;
    added.median = 0.62;
    expect(p99Line(renderHop(result).markdown)).toContain("**missed** (0.62 ms;");
    added.median = 0.41;
    expect(p99Line(renderHop(result).markdown)).toContain("**met** (0.41 ms;");
    // It moved by 0.3 ms over the rounds: within 0.3 ms of the target either way is not judged.
    direct.max = direct.min + 0.3;
    for (const [value, said] of [
      [0.85, "**missed** (0.85 ms;"],
      [0.62, "**not judged** (0.62 ms;"],
      [0.41, "**not judged** (0.41 ms;"],
      [0.15, "**met** (0.15 ms;"],
    ]) {
      added.median = value;
      expect(p99Line(renderHop(result).markdown)).toContain(said);
    }
    added.median = 0.62;
    expect(p99Line(renderHop(result).markdown)).toContain(
      "a spread of 0.30 ms, against the 0.12 ms between the added p99 and the target, and tandem's added p99 0.10..2.00 ms over the rounds, on both sides of it",
    );
  });

  it("also judges the p99 target where every round's added p99 is on the same side of it", () => {
    const result = committed("sidecar-hop");
    const direct = result.summary.latency["1000"].direct.p99;
    const added = result.summary.added["1000"][TANDEM].p99;
    // A noisy run: the direct call's p99 moved by 1 ms over the rounds, so the median alone decides nothing.
    direct.max = direct.min + 1;
    added.n = 3;
    for (const [median, min, max, said] of [
      [0.9, 0.55, 1.4, "**missed** (0.90 ms;"],
      [0.9, 0.45, 1.4, "**not judged** (0.90 ms;"],
      [0.3, 0.1, 0.48, "**met** (0.30 ms;"],
      [0.3, 0.1, 0.52, "**not judged** (0.30 ms;"],
    ]) {
      Object.assign(added, { median, min, max });
      expect(p99Line(renderHop(result).markdown), `${median} ${min}..${max}`).toContain(said);
    }
    Object.assign(added, { median: 0.9, min: 0.55, max: 1.4 });
    expect(p99Line(renderHop(result).markdown)).toContain(
      "tandem's added p99 0.55..1.40 ms over the rounds, over the target in every round",
    );
    // One round says nothing of how the rounds spread.
    Object.assign(added, { n: 1, min: 0.9, max: 0.9 });
    expect(p99Line(renderHop(result).markdown)).toContain("**not judged** (0.90 ms;");
  });

  it("says where else in the run the peers' own added p99 crosses the target's line, and nothing when none does", () => {
    const result = committed("sidecar-hop");
    const s = result.summary;
    const peers = ["nginx", "HAProxy"];
    const setP99 = (table, name, value) => {
      table[name].p99.median = value;
    };
    // tandem's own verdict fixed: over the target in every round, the direct call steady.
    const direct = s.latency["1000"].direct.p99;
    direct.min = direct.max = direct.median;
    Object.assign(s.added["1000"][TANDEM].p99, { median: 0.78, min: 0.6, max: 0.9, n: 3 });
    for (const rate of ["500", "2000"]) for (const peer of peers) setP99(s.added[rate], peer, 0.3);
    for (const peer of peers) setP99(s.ownCore.added, peer, 0.4);
    // tandem and the yardsticks over the line elsewhere are not the peers.
    setP99(s.added["500"], TANDEM, 2);
    setP99(s.added["500"], "bare Node proxy", 3);
    const quiet = p99Line(renderHop(result).markdown);
    expect(quiet).toContain("**missed** (0.78 ms;");
    expect(quiet).not.toContain("crosses the same line");
    setP99(s.added["500"], "nginx", 0.9);
    setP99(s.ownCore.added, "HAProxy", 3);
    setP99(s.added["2000"], "HAProxy", 0.6);
    expect(p99Line(renderHop(result).markdown)).toContain(
      "; elsewhere in this run the peers' added p99 crosses the same line too: nginx at 500 req/s (0.90 ms); HAProxy at 2000 req/s (0.60 ms) and on a core of its own (3.00 ms);",
    );
    // At 1000 req/s on the shared core, where the target is judged, a peer over the line is in the tables, not here.
    setP99(s.added["1000"], "nginx", 0.7);
    const judgedHere = p99Line(renderHop(result).markdown);
    expect(judgedHere).toContain("crosses the same line too: nginx at 500 req/s");
    expect(judgedHere).not.toContain("nginx at 1000 req/s");
  });

  it("judges the ratio to nginx only where nginx's added latency is above the direct call's spread", () => {
    const result = committed("sidecar-hop");
    const s = result.summary;
    for (const rate of ["500", "1000", "2000"]) {
      for (const q of ["p50", "p99"]) {
        const direct = s.latency[rate].direct[q];
        // nginx well above the noise, tandem at 1.9x or 2.1x its added latency.
        const spread = direct.max - direct.min;
        s.added[rate].nginx[q].median = spread * 2 + 0.01;
        s.added[rate][TANDEM][q].median = s.added[rate].nginx[q].median * 1.9;
      }
    }
    const ratioLine = (md) => md.split("\n- within 2× nginx")[1]?.split("\n- CPU")[0] ?? "";
    expect(ratioLine(renderHop(result).markdown)).toContain("**met**");
    s.added["2000"][TANDEM].p99.median = s.added["2000"].nginx.p99.median * 2.1;
    expect(ratioLine(renderHop(result).markdown)).toContain("**missed**");
    // nginx within the noise everywhere: nothing to judge.
    for (const rate of ["500", "1000", "2000"]) for (const q of ["p50", "p99"]) s.added[rate].nginx[q].median = 0;
    const none = ratioLine(renderHop(result).markdown);
    expect(none).toContain("**not judged**");
    expect(none).toContain("within the noise, not judged");
    // One cell of six above the noise, within the limit: too little to call the target met...
    const spread = s.latency["500"].direct.p50.max - s.latency["500"].direct.p50.min;
    s.added["500"].nginx.p50.median = spread * 2 + 0.01;
    s.added["500"][TANDEM].p50.median = s.added["500"].nginx.p50.median * 1.5;
    const few = ratioLine(renderHop(result).markdown);
    expect(few).toContain("**not judged**");
    expect(few).toContain("only 1 of 6 above the noise");
    // ...but enough to call it missed.
    s.added["500"][TANDEM].p50.median = s.added["500"].nginx.p50.median * 2.5;
    expect(ratioLine(renderHop(result).markdown)).toContain("**missed**");
  });

  it("shows the proxy on a core of its own next to the shared core, and says why when it was not measured", () => {
    const result = committed("sidecar-hop");
    const s = result.summary;
    const round = (median) => ({ median, min: median, max: median, n: 1 });
    const subject = (p50, p99) => ({ p50: round(p50), p99: round(p99) });
    result.method.ownCore = { rate: 1000, warmupSeconds: 2, cores: "the generator on CPU 0, each proxy on CPU 1" };
    s.ownCore = {
      rate: 1000,
      latency: { direct: subject(0.1, 2), [TANDEM]: subject(0.25, 3), nginx: subject(0.2, 2.5) },
      added: { [TANDEM]: subject(0.15, 1), nginx: subject(0.1, 0.5) },
    };
    // The noise: the direct call's p50 moved by 0.02 ms over the shared core's rounds (0 on its own).
    const direct = s.latency["1000"].direct.p50;
    direct.min = direct.median - 0.01;
    direct.max = direct.median + 0.01;
    // Above that noise, so judged: 3× nginx's on the shared core.
    s.added["1000"][TANDEM].p50.median = 0.3;
    s.added["1000"].nginx.p50.median = 0.1;
    const md = renderHop(result).markdown;
    expect(md).toContain("**The proxy on a core of its own.**");
    expect(md).toMatch(/\| tandem sidecar +\| 0\.250 +\| 3\.00 +\| 0\.150 +\| 1\.00 +\| 1\.50× +\|/);
    // The distance to nginx: 0.05 ms on its own core, 0.2 on the shared one, 0.15 apart, over the 0.02 of noise.
    expect(md).toContain(
      "added 0.150 ms at p50 at 1000 req/s, 0.050 ms more than nginx; on the\nshared core 0.300 ms, 0.200 ms more",
    );
    expect(md).toContain("(1.50× and 3.00× nginx's: every proxy adds more");
    expect(md).toContain("its distance to nginx shrinks on a core of its own by more than the noise");
    // The verdict stays the shared core's: 3× nginx there is a miss.
    expect(md.split("\n- within 2× nginx")[1]?.split("\n- CPU")[0]).toContain("**missed**");
    // 0.18 against 0.2 ms: within the noise.
    s.ownCore.added[TANDEM].p50.median = 0.28;
    expect(renderHop(result).markdown).toContain(
      "the two differ by less than the noise (the direct call's p50 moved by up to 0.020 ms",
    );
    // 0.3 against 0.2 ms: further from nginx on a core of its own.
    s.ownCore.added[TANDEM].p50.median = 0.4;
    expect(renderHop(result).markdown).toContain(
      "its distance to nginx grows on a core of its own by more than the noise",
    );
    delete s.ownCore;
    result.skipped = { ownCore: "taskset (util-linux) is not installed" };
    const skipped = renderHop(result).markdown;
    expect(skipped).toContain(
      "**The proxy on a core of its own:** not measured in this run (taskset (util-linux) is not installed).",
    );
    expect(skipped).not.toContain("Not measured: ownCore");
    expect(skipped).not.toContain("On a core of its own the sidecar");
  });
});

describe("the sidecar hop's losses and ceiling", () => {
  const TANDEM = "tandem sidecar";
  const losses = (md) => md.split("**Where tandem loses:**")[1]?.split("\n\n")[0] ?? "";

  it("counts the sidecar's resident memory among its losses when a peer holds less", () => {
    const result = committed("sidecar-hop");
    const cpu = result.summary.cpu;
    cpu[TANDEM].rssMB.median = 80;
    cpu.nginx.rssMB.median = 10;
    cpu.HAProxy.rssMB.median = 20;
    expect(losses(renderHop(result).markdown)).toContain(
      "it holds 80.0 MB resident at 1000 req/s against nginx's 10.0 MB (8.0×",
    );
    cpu[TANDEM].rssMB.median = 9;
    const none = losses(renderHop(result).markdown);
    expect(none).toContain("tandem adds");
    expect(none).not.toContain("resident");
  });

  it("sets the sidecar's CPU beside the bare Node proxy's, and says so when their rounds overlap", () => {
    const result = committed("sidecar-hop");
    const cpu = result.summary.cpu;
    const rounds = (median, min, max) => ({ median, min, max, n: 3 });
    cpu[TANDEM].vcpuPer1000 = rounds(0.09, 0.085, 0.095);
    cpu["bare Node proxy"].vcpuPer1000 = rounds(0.17, 0.16, 0.18);
    expect(renderHop(result).markdown).toContain("The sidecar spends 80 µs less per request, pipeline included");
    cpu["bare Node proxy"].vcpuPer1000 = rounds(0.092, 0.09, 0.1);
    expect(renderHop(result).markdown).toContain(
      "The sidecar spends about as much, 90 µs per request (its rounds and the bare proxy's overlap)",
    );
    cpu["bare Node proxy"].vcpuPer1000 = rounds(0.05, 0.04, 0.06);
    expect(renderHop(result).markdown).toContain("The sidecar spends 40 µs more per request");
  });

  it("says when a proxy's maximum throughput came near the direct call's, where the generator limits it too", () => {
    const result = committed("sidecar-hop");
    const t = result.summary.throughput;
    t.direct.median = 20_000;
    for (const name of Object.keys(t)) if (name !== "direct") t[name].median = 10_000;
    expect(renderHop(result).markdown).not.toContain("came near the direct call's maximum");
    t.HAProxy.median = 19_800;
    expect(renderHop(result).markdown).toContain(
      "HAProxy (0.99×) came near the direct call's maximum: there the load generator",
    );
  });
});

describe("the flag evaluation line", () => {
  it("states a loss when rt.flags costs more than 1.5x flagd's evaluator alone, and not otherwise", () => {
    const result = committed("telemetry");
    const flagLine = (md) =>
      md
        .split("\n")
        .find(
          (l) =>
            l.includes("a flag evaluation through `rt.flags`") || l.includes("A flag evaluation through `rt.flags`"),
        );
    result.ratios["flag tandem/flagd-core"] = 1.7;
    expect(flagLine(renderTelemetry(result).markdown)).toMatch(/^- \*\*Where tandem loses:\*\* .* costs 1\.7×/);
    result.ratios["flag tandem/flagd-core"] = 1.2;
    expect(flagLine(renderTelemetry(result).markdown)).toMatch(/^- A flag evaluation through `rt\.flags` costs 1\.2×/);
  });
});

describe("the telemetry page's sidecar mode", () => {
  it("says each round's flush is timed with the calls, and what a flush costs alone, when the run measured it", () => {
    const result = committed("telemetry");
    delete result.results["flush to the sidecar (ms)"];
    const before = renderTelemetry(result).markdown;
    expect(before).toContain("flushes to a\nreal sidecar every second");
    expect(before).not.toContain("A flush alone took");
    result.results["flush to the sidecar (ms)"] = { medianMs: 2, minMs: 1.5, maxMs: 3 };
    const md = renderTelemetry(result).markdown;
    expect(md).toContain("each of its rounds ends with the flush of\nwhat it recorded to a real sidecar");
    expect(md).toContain("A flush alone took 2.0 ms (1.5..3.0 ms)");
    expect(md).toContain("at 10 000\n  calls a second, 200 ns per call");
    expect(md).toMatch(
      /\| one flush to the sidecar alone \(a counter and a histogram series\) +\| 2\.0 ms +\| 1\.5\.\.3\.0 ms +\|/,
    );
  });
});

describe("the sidecar hop's stalls", () => {
  const TANDEM = "tandem sidecar";

  it("sets each subject's slow requests beside the machine's stalls, or says why they were not measured", () => {
    const result = committed("sidecar-hop");
    result.method.stalls = { rate: 1000, slices: 8, sliceSeconds: 1, slowMs: 0.5, periodUs: 1000, thresholdUs: 100 };
    const counts = (slow, inStall, byChance) => ({
      p50: 0.1,
      p99: 0.9,
      errors: 0,
      requests: 8000,
      slow,
      inStall,
      byChance,
    });
    result.summary.stalls = {
      seconds: 60,
      subjects: { direct: counts(40, 30, 4), [TANDEM]: counts(240, 120, 20), nginx: counts(80, 48, 8) },
      cpus: [
        {
          cpu: 0,
          wakes: 60000,
          lateUs: { "<50": 59000, "<1000": 500, "<5000": 100 },
          stallsPerS: 30,
          stalledMsPerS: 9,
        },
      ],
    };
    delete result.skipped.stalls;
    const md = renderHop(result).markdown;
    const section = md.split("**The machine's own stalls.**")[1]?.split("Targets:")[0] ?? "";
    expect(section).toContain(
      "CPU 0 30.0 times a second, 9.00 ms a second in all, 1.0 % of its wake-ups 0.5 ms or more late",
    );
    expect(section).toMatch(
      /\| tandem sidecar +\| 0\.100 +\| 0\.90 +\| 240 \(3\.0 %\) +\| 120 \(50\.0 %\) +\| 20 \(8\.3 %\) +\| 1\.5 % +\|/,
    );
    expect(section).toContain(
      "Outside the stalls the canaries saw, 1.5 % of tandem sidecar's, 0.4 % of nginx's and 0.1 % of the direct call's requests took over 0.5 ms.",
    );
    delete result.summary.stalls;
    result.skipped.stalls = "the canary cannot run: no CAP_SYS_NICE";
    expect(renderHop(result).markdown).toContain(
      "**The machine's own stalls:** not measured in this run (the canary cannot run: no CAP_SYS_NICE).",
    );
  });
});

describe("the faults verdict", () => {
  it("says a tie is a tie, and states tandem's p50 as a loss where a peer's is lower", () => {
    const result = committed("faults");
    const s = (name) => result.results[name].summary;
    for (const name of Object.keys(result.results)) {
      s(name).successRate.median = name === "nginx" ? 1 : 0.9;
      s(name).p50.median = 1.3;
    }
    s("tandem library").successRate.median = 1;
    s("tandem sidecar").successRate.median = 1;
    const even = renderFaults(result).markdown;
    expect(even).toContain("- tandem library: success 100.00 %: **met** (no peer higher; tied with nginx at 100.00 %)");
    expect(even).not.toContain("**Where tandem loses:** at p50");
    s("nginx").successRate.median = 0.95;
    s("tandem sidecar").p50.median = 1.6;
    const md = renderFaults(result).markdown;
    expect(md).toContain("- tandem sidecar: success 100.00 %: **met** (no peer higher);");
    expect(md).toMatch(/\*\*Where tandem loses:\*\* at p50, tandem sidecar's 1\.6 ms is above .*nginx's 1\.3/);
    expect(md).not.toMatch(/tandem library's [0-9.]+ ms is above/);
  });
});

describe("the policy overhead verdicts", () => {
  it("judges tandem as an application calls it when the run timed that, and says whether it beat both peers", () => {
    const result = committed("policy-overhead");
    const r = result.results;
    const ns = (medianNs) => ({ medianNs, minNs: medianNs, maxNs: medianNs });
    delete r["tandem rt.resilience.execute (timeout+retry+breaker+bulkhead)"];
    r["bare call"] = ns(50);
    r["tandem (timeout+retry+breaker+bulkhead)"] = ns(300);
    r["cockatiel wrap (bulkhead+retry+breaker+timeout)"] = ns(9000);
    r["opossum fire (breaker+timeout)"] = ns(700);
    const policyOnly = renderPolicy(result).markdown;
    expect(policyOnly).toContain("**met**\n(250 ns");
    expect(policyOnly).toContain("and faster than both peers: **met**");
    r["tandem rt.resilience.execute (timeout+retry+breaker+bulkhead)"] = ns(1100);
    result.method = { cockatielBreaker: "new SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 2 })" };
    const api = renderPolicy(result).markdown;
    expect(api).toContain("**missed**\n(1 050 ns");
    expect(api).toContain("and faster than both peers: **missed**");
    expect(api).toContain("breaker:\n  new SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 2 }) })");
    expect(api).toContain('`rt.resilience.execute("bench", fn)`');
  });
});

describe("the footprint's losses", () => {
  it("sets the sidecar's memory beside its leanest peer's, and says when the long run ended at its peak", () => {
    const result = committed("footprint");
    const hop = committed("sidecar-hop");
    const all = { "sidecar-hop": hop, footprint: result };
    const s = result.summary;
    Object.assign(s, { underLoadRssMB: 80, endRssMB: 84, peakRssMB: 84, growthMB: 3 });
    hop.summary.cpu.nginx.rssMB.median = 10;
    hop.summary.cpu.HAProxy.rssMB.median = 20;
    const md = renderFootprint(result, all).markdown;
    expect(md).toContain("against its peers, it holds 8.0× what nginx holds at the same rate (scenario 3)");
    expect(md).toContain("The RSS was still at its peak at the end of the long run (+3.0 MB from");
    s.peakRssMB = 86;
    hop.summary.cpu.nginx.rssMB.median = 90;
    hop.summary.cpu.HAProxy.rssMB.median = 95;
    const lean = renderFootprint(result, all).markdown;
    expect(lean).toContain("**Where tandem loses:** nowhere against these targets.");
    expect(lean).not.toContain("still at its peak");
  });
});

describe("the HTTP client verdict", () => {
  it("gives the ratio to raw undici round by round beside the ratio of the medians", () => {
    const result = committed("http-client");
    const setting = result.settings[0];
    const tandem = result.target.subject;
    setting.rounds[tandem] = [900, 1000, 800].map((rps) => ({ rps }));
    setting.rounds[result.baseline] = [1000, 1000, 1000].map((rps) => ({ rps }));
    expect(renderClient(result).markdown).toContain("; round by round 0.80×..1.00×, 1 of 3 rounds below 0.90×)");
    delete setting.rounds;
    expect(renderClient(result).markdown).not.toContain("round by round 0.80×");
  });
});
