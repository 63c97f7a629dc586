// The soak's bookkeeping, checked on its own: a wrong slope or a classifier that explains too
// much would let a leak or an unexplained error through the soak unnoticed.
import { expect, it } from "vitest";
import { classify, type FaultWindow, metricSum, slope } from "./support/soak.js";

it("slope is the least-squares slope, 0 for a flat or too short series", () => {
  expect(
    slope([
      [0, 1],
      [1, 3],
      [2, 5],
      [3, 7],
    ]),
  ).toBeCloseTo(2, 10);
  expect(
    slope([
      [0, 10],
      [1, 9],
      [2, 11],
      [3, 10],
    ]),
  ).toBeCloseTo(0.2, 10);
  expect(
    slope([
      [0, 4],
      [1, 4],
      [2, 4],
    ]),
  ).toBe(0);
  expect(slope([[5, 1]])).toBe(0);
  expect(slope([])).toBe(0);
});

it("classify explains a failure only by a fault that may surface its kind, during that fault", () => {
  const windows: FaultWindow[] = [
    { name: "stall", on: 1000, off: 2000, allowed: ["tandem:timeout"] },
    { name: "503", on: 5000, off: 6000, allowed: ["http:503"] },
  ];
  const result = classify(
    [
      [1500, 1600, "tandem:timeout"], // during the stall
      [1900, 2600, "tandem:timeout"], // started during it, ended after
      [2400, 2500, "tandem:timeout"], // started within the grace after it
      [3500, 3600, "tandem:timeout"], // long after: unexplained
      [1500, 1600, "http:503"], // during the stall, but the stall does not answer 503
      [900, 1001, "tandem:timeout"], // started before, ended once the stall was on
      [5500, 5600, "http:503"],
      [5500, 5600, "client:ECONNRESET"], // no fault resets the client's connection
    ],
    windows,
    500,
  );
  expect(result.injected).toEqual({ "stall tandem:timeout": 4, "503 http:503": 1 });
  expect(result.unexplained).toEqual({ "tandem:timeout": 1, "http:503": 1, "client:ECONNRESET": 1 });
  expect(result.examples).toHaveLength(3);
});

it("metricSum adds up a metric's series and tells it from metrics that share its prefix", () => {
  const scrape = [
    "# HELP nodejs_active_handles Number of active libuv handles grouped by handle type.",
    'nodejs_active_handles{type="Socket"} 7',
    'nodejs_active_handles{type="Timeout"} 3',
    "nodejs_active_handles_total 99",
    "nodejs_heap_size_used_bytes 1048576",
  ].join("\n");
  expect(metricSum(scrape, "nodejs_active_handles")).toBe(10);
  expect(metricSum(scrape, "nodejs_heap_size_used_bytes")).toBe(1048576);
  expect(metricSum(scrape, "process_open_fds")).toBeUndefined();
});
