import { ConfigStore } from "@tandem/config";
import { isFixedLabels, type Labels } from "@tandem/core";
import { DeadlineWheel, LocalHttp } from "@tandem/resilience";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { statusInstance } from "./helpers/status-instance.js";
import { closedAfterAll, observingMetrics } from "./helpers/stub-metrics.js";

const logger = pino({ level: "silent" });

describe("the attempt duration histogram", () => {
  const observed: { labels: Labels; seconds: number }[] = [];
  const metrics = observingMetrics((labels, seconds) => observed.push({ labels, seconds }));
  const open = closedAfterAll();

  it("labels every attempt with its own method, endpoint, status and error, one fixed object per outcome", async () => {
    const a = await statusInstance();
    const b = await statusInstance();
    open.push(a, b);
    const http = new LocalHttp(
      new ConfigStore(
        {
          upstreams: {
            svc: { endpoints: [a.url, b.url], loadBalancer: "round-robin", timeout: { attempt: 2000, total: 5000 } },
            gone: {
              endpoints: ["http://127.0.0.1:9"],
              loadBalancer: "round-robin",
              timeout: { attempt: 2000, total: 5000 },
            },
          },
        },
        logger,
      ),
      metrics,
      logger,
      new DeadlineWheel(),
    );
    open.push(http);
    const plan: [string, string][] = [
      ["GET", "/200"],
      ["GET", "/503"],
      ["POST", "/200"],
      ["GET", "/404"],
      ["GET", "/200"],
      ["GET", "/503"],
      ["POST", "/200"],
    ];
    for (const [method, path] of [...plan, ...plan]) {
      const res = await http.request("svc", { method, path });
      await res.body.dump();
    }
    await expect(http.request("gone", { path: "/" })).rejects.toThrow();
    await expect(http.request("gone", { path: "/" })).rejects.toThrow();

    const address = (url: string) => new URL(url).host;
    const expected = [...plan, ...plan].map(([method, path], i) => ({
      http_request_method: method,
      server_address: address(i % 2 === 0 ? a.url : b.url),
      http_response_status_code: Number(path.slice(1)),
      // As the HTTP semantic conventions ask: a 5xx answer is an error of that type.
      error_type: Number(path.slice(1)) >= 500 ? path.slice(1) : "",
    }));
    expected.push(
      ...[1, 2].map(() => ({
        http_request_method: "GET",
        server_address: "127.0.0.1:9",
        http_response_status_code: "" as unknown as number,
        error_type: "connect-error",
      })),
    );
    expect(observed.map((o) => ({ ...o.labels }))).toEqual(expected);
    for (const o of observed) {
      expect(isFixedLabels(o.labels)).toBe(true);
      expect(o.seconds).toBeGreaterThanOrEqual(0);
    }
    // The same outcome on the same endpoint finds the same object again; different ones never share.
    // (7 requests round-robin, twice: each endpoint sees each of the 4 outcomes; plus 1 refused.)
    const distinct = new Set(observed.map((o) => o.labels));
    expect(distinct.size).toBe(new Set(expected.map((e) => JSON.stringify(e))).size);
    expect(distinct.size).toBe(9);
  });
});
