import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ROOT_CONTEXT } from "@opentelemetry/api";
import { ConfigStore } from "@tandem/config";
import type { Metrics } from "@tandem/core";
import { DeadlineWheel, LocalHttp } from "@tandem/resilience";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import type { RelayResponse } from "../src/http/relay-body.js";

const logger = pino({ level: "silent" });

/** An instance that answers every request with `status`, counting them. */
async function instance(status: number): Promise<{ url: string; hits: number; close(): Promise<void> }> {
  const self = { url: "", hits: 0, close: async () => {} };
  const server = createServer((req, res) => {
    self.hits++;
    req.resume();
    res.statusCode = status;
    res.end(String(status));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  self.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  self.close = () => {
    server.closeAllConnections();
    return new Promise((r) => server.close(() => r()));
  };
  return self;
}

const fastRetry = { attempts: 2, backoff: { base: 1, max: 1 }, on: [503], budget: { ratio: 1, minPerSecond: 1000 } };
const timeout = { attempt: 2000, total: 5000 };

describe("the answer writer of a relayed request", () => {
  const events: string[] = [];
  const metrics = {
    histogram: () => ({ observe: () => events.push("observed") }),
    counter: () => ({ inc: () => {} }),
    gauge: () => ({ set: () => {} }),
  } as unknown as Metrics;
  const open: { close(): Promise<void> }[] = [];
  afterAll(async () => {
    await Promise.all(open.map((o) => o.close()));
  });

  async function setup(upstreams: Record<string, unknown>): Promise<LocalHttp> {
    const http = new LocalHttp(new ConfigStore({ upstreams }, logger), metrics, logger, new DeadlineWheel());
    open.push(http);
    return http;
  }

  /** Relays one request of `method` to `name`: the answers the writer was told of, and the one `relay` gave. */
  async function relayed(http: LocalHttp, name: string, method = "GET") {
    events.length = 0;
    const told: RelayResponse[] = [];
    const writer = {
      answer: (response: RelayResponse) => {
        told.push(response);
        events.push(`told ${response.statusCode}`);
      },
    };
    const upstream = http.upstream(name);
    if (upstream === undefined) throw new Error(`no upstream ${name}`);
    const response = await upstream.relay({ method, path: "/" }, ROOT_CONTEXT, writer);
    events.push("resolved");
    await response.body.dump();
    return { told, response, events: [...events] };
  }

  it("is told of the answer before the pipeline's bookkeeping of it, and relay resolves with the same one", async () => {
    const ok = await instance(200);
    open.push(ok);
    const http = await setup({ svc: { endpoints: [ok.url], loadBalancer: "round-robin", timeout } });
    for (let i = 0; i < 3; i++) {
      const { told, response, events } = await relayed(http, "svc");
      expect(told).toEqual([response]);
      expect(events).toEqual(["told 200", "observed", "resolved"]);
    }
  });

  it("is never told of an answer that is retried: only of the one the request ends with", async () => {
    const down = await instance(503);
    const ok = await instance(200);
    open.push(down, ok);
    const http = await setup({
      svc: { endpoints: [down.url, ok.url], loadBalancer: "round-robin", timeout, retry: fastRetry },
    });
    for (let i = 0; i < 6; i++) {
      const { told, response, events } = await relayed(http, "svc");
      expect(response.statusCode).toBe(200);
      expect(told).toEqual([response]);
      expect(events.filter((e) => e.startsWith("told"))).toEqual(["told 200"]);
    }
    // Round-robin sent some first attempts to the 503 instance: those were retried on the other.
    expect(down.hits).toBeGreaterThan(0);
  });

  it("is told of the last attempt's answer, and of an answer no retry may follow, whatever the status", async () => {
    const down = await instance(503);
    const other = await instance(503);
    open.push(down, other);
    const http = await setup({
      svc: { endpoints: [down.url, other.url], loadBalancer: "round-robin", timeout, retry: fastRetry },
    });
    const last = await relayed(http, "svc");
    expect(down.hits + other.hits).toBe(2);
    expect(last.told).toEqual([last.response]);
    expect(last.events).toEqual(["observed", "told 503", "observed", "resolved"]);
    // A POST without an idempotency key is sent once: its 503 is final at once.
    const post = await relayed(http, "svc", "POST");
    expect(down.hits + other.hits).toBe(3);
    expect(post.events).toEqual(["told 503", "observed", "resolved"]);
  });

  it("is not told in a hedged race, which decides the answer itself", async () => {
    const ok = await instance(200);
    open.push(ok);
    const http = await setup({
      svc: { endpoints: [ok.url], loadBalancer: "round-robin", timeout, hedging: { after: 1000, maxHedges: 1 } },
    });
    const { told, response } = await relayed(http, "svc");
    expect(response.statusCode).toBe(200);
    expect(told).toEqual([]);
  });
});
