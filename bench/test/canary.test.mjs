// The canaries of the machine's stalls: a real-time thread per CPU that notes when it could not
// run, and the count of slow requests that met such a moment.
import { spawn, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { allowedCpus, CanaryUnavailableError, cpuList, stallOverlap, stalls, startCanaries } from "../lib/canary.mjs";

const compiler = process.env.CC ?? "cc";
const hasCompiler = spawnSync(compiler, ["--version"], { stdio: "ignore" }).status === 0;
// A real-time thread needs CAP_SYS_NICE: chrt tells whether this process may start one.
const realtime = spawnSync("chrt", ["-f", "95", "true"], { stdio: "ignore" }).status === 0;
const why = !hasCompiler
  ? `no C compiler (${compiler}) on this machine`
  : !realtime
    ? "this process may not run real-time threads (CAP_SYS_NICE), or chrt (util-linux) is missing"
    : undefined;
if (why !== undefined) console.warn(`canary tests skipped: ${why}`);

describe("stallOverlap", () => {
  // Requests due every 1 ms over 100 ms, each answered in 0.1 ms but for two slow ones.
  const windows = [];
  for (let i = 0; i < 100; i++) {
    const due = 1e9 + i * 1e6;
    const took = i === 20 || i === 70 ? 2e6 : 0.1e6;
    windows.push(due, due + took);
  }

  it("counts the slow requests, and those in flight during a stall", () => {
    // A stall inside the first slow request's 2 ms, and one far from both.
    const seen = Float64Array.from([1e9 + 20.5e6, 1e9 + 21e6, 1e9 + 40e6, 1e9 + 40.2e6]);
    expect(stallOverlap(Float64Array.from(windows), seen, { slowNs: 0.5e6, shiftNs: 30e6 })).toEqual({
      requests: 100,
      slow: 2,
      inStall: 1,
      // Moved by 30 ms, the first slow request's window (20-22 ms) falls on 50-52 and the second's
      // (70-72) wraps round to 0.9-2.9: neither meets a stall.
      byChance: 0,
    });
  });

  it("says how many the same windows moved would meet by chance, wrapping within the requests' span", () => {
    // A stall at 11-11.5 ms: the second slow request (70-72 ms) moved by 40 ms wraps round to
    // 10.9-12.9 ms of the 99.1 ms span, and the first (20-22) lands on 60-62.
    const seen = Float64Array.from([1e9 + 11e6, 1e9 + 11.5e6]);
    expect(stallOverlap(Float64Array.from(windows), seen, { slowNs: 0.5e6, shiftNs: 40e6 })).toMatchObject({
      slow: 2,
      inStall: 0,
      byChance: 1,
    });
  });

  it("takes nothing as slow at or under the limit, and counts nothing without requests", () => {
    expect(stallOverlap(Float64Array.from(windows), new Float64Array(0), { slowNs: 2e6 })).toMatchObject({ slow: 0 });
    expect(stallOverlap(new Float64Array(0), new Float64Array(0), { slowNs: 1 })).toEqual({
      requests: 0,
      slow: 0,
      inStall: 0,
      byChance: 0,
    });
  });
});

describe("cpuList", () => {
  it("reads a CPU list as taskset and /proc write it", () => {
    expect(cpuList("0-2,5\n")).toEqual([0, 1, 2, 5]);
    expect(cpuList("3")).toEqual([3]);
    expect(cpuList("")).toEqual([]);
    expect(cpuList("x,1-")).toEqual([]);
    expect(allowedCpus().length).toBeGreaterThan(0);
  });
});

describe.skipIf(why !== undefined)(
  `the canary (needs a C compiler and real-time threads: ${why ?? "both here"})`,
  () => {
    it("wakes every period on each CPU given, and notes a CPU held by a thread it cannot preempt as a stall", async () => {
      const cpu = allowedCpus()[0];
      const canaries = await startCanaries([cpu], { periodUs: 1000, thresholdUs: 100, maxS: 30 });
      const started = Date.now();
      let seen;
      try {
        // 300 ms in, a real-time thread of a higher priority on the same CPU spins for 30 ms: the
        // canary (priority 80) cannot run meanwhile.
        await new Promise((resolve) => setTimeout(resolve, 300));
        // `timeout`, above both, ends it: a thread of the spinner's own priority could not.
        const spin = spawn("chrt", [
          "-f",
          "95",
          "timeout",
          "-s",
          "KILL",
          "0.1",
          "taskset",
          "-c",
          String(cpu),
          "chrt",
          "-f",
          "90",
          "sh",
          "-c",
          "while :; do :; done",
        ]);
        await new Promise((resolve) => spin.once("exit", resolve));
        await new Promise((resolve) => setTimeout(resolve, 200));
      } finally {
        [seen] = await canaries.stop();
      }
      const elapsed = Date.now() - started;
      expect(seen.cpu).toBe(cpu);
      expect(seen.periodUs).toBe(1000);
      // One wake-up a millisecond, less those the stall covered.
      expect(seen.wakes).toBeGreaterThan(elapsed * 0.5);
      expect(seen.wakes).toBeLessThanOrEqual(elapsed + 5);
      const total = Object.values(seen.lateUs).reduce((a, b) => a + b, 0);
      expect(total).toBe(seen.wakes);
      // The spin's 100 ms (less its start-up) in one stall.
      const longest = Math.max(
        ...Array.from({ length: seen.stalls.length / 2 }, (_, i) => seen.stalls[2 * i + 1] - seen.stalls[2 * i]),
      );
      expect(longest).toBeGreaterThanOrEqual(50e6);
      expect(seen.lateUs[">=5000"]).toBeGreaterThanOrEqual(1);
      expect(stalls([seen, seen])).toHaveLength(seen.stalls.length * 2);
    });

    it("refuses a CPU this process may not use, with the canary's reason", async () => {
      await expect(startCanaries([1023])).rejects.toBeInstanceOf(CanaryUnavailableError);
      await expect(startCanaries([1023])).rejects.toThrow(/cannot run on CPU 1023/);
    });
  },
);
