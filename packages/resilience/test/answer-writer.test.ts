import { ROOT_CONTEXT } from "@opentelemetry/api";
import { ConfigStore } from "@tandem/config";
import { DeadlineWheel, LocalHttp } from "@tandem/resilience";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { RelayResponse } from "../src/http/relay-body.js";
import { statusInstance } from "./helpers/status-instance.js";
import { closedAfterAll, observingMetrics } from "./helpers/stub-metrics.js";

const logger = pino({ level: "silent" });

const fastRetry = { attempts: 2, backoff: { base: 1, max: 1 }, on: [503], budget: { ratio: 1, minPerSecond: 1000 } };
const timeout = { attempt: 2000, total: 5000 };

describe("the answer writer of a relayed request", () => {
  const events: string[] = [];
  const metrics = observingMetrics(() => events.push("observed"));
  const open = closedAfterAll();

  async function setup(upstreams: Record<string, unknown>): Promise<LocalHttp> {
    const http = new LocalHttp(new ConfigStore({ upstreams }, logger), metrics, logger, new DeadlineWheel());
    open.push(http);
    return http;
  }

  /** An upstream `svc` of two instances answering `first` and `second`, round-robin, retried on 503. */
  async function retried(first: number, second: number) {
    const a = await statusInstance(first);
    const b = await statusInstance(second);
    open.push(a, b);
    const http = await setup({
      svc: { endpoints: [a.url, b.url], loadBalancer: "round-robin", timeout, retry: fastRetry },
    });
    return { http, first: a, second: b };
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
    const ok = await statusInstance(200);
    open.push(ok);
    const http = await setup({ svc: { endpoints: [ok.url], loadBalancer: "round-robin", timeout } });
    for (let i = 0; i < 3; i++) {
      const { told, response, events } = await relayed(http, "svc");
      expect(told).toEqual([response]);
      expect(events).toEqual(["told 200", "observed", "resolved"]);
    }
  });

  it("is never told of an answer that is retried: only of the one the request ends with", async () => {
    const { http, first: down } = await retried(503, 200);
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
    const { http, first: down, second: other } = await retried(503, 503);
    const last = await relayed(http, "svc");
    expect(down.hits + other.hits).toBe(2);
    expect(last.told).toEqual([last.response]);
    expect(last.events).toEqual(["observed", "told 503", "observed", "resolved"]);
    // A POST without an idempotency key is sent once: its 503 is final at once.
    const post = await relayed(http, "svc", "POST");
    expect(down.hits + other.hits).toBe(3);
    expect(post.events).toEqual(["told 503", "observed", "resolved"]);
  });

  it("is told from inside the read that brought the answer's head, before the body that came with it", async () => {
    const ok = await statusInstance(200);
    open.push(ok);
    const http = await setup({ svc: { endpoints: [ok.url], loadBalancer: "round-robin", timeout } });
    const upstream = http.upstream("svc");
    if (upstream === undefined) throw new Error("no upstream svc");
    const bodyDone: boolean[] = [];
    const writer = { answer: (response: RelayResponse) => bodyDone.push(response.body.destroyed) };
    for (let i = 0; i < 3; i++) {
      const response = await upstream.relay({ method: "GET", path: "/" }, ROOT_CONTEXT, writer);
      // The body ("200") came in the read that brought the head: taken in by the time relay resolves.
      expect(response.body.destroyed).toBe(true);
      await response.body.dump();
    }
    expect(bodyDone).toEqual([false, false, false]);
  });

  it("is not told in a hedged race, which decides the answer itself", async () => {
    const ok = await statusInstance(200);
    open.push(ok);
    const http = await setup({
      svc: { endpoints: [ok.url], loadBalancer: "round-robin", timeout, hedging: { after: 1000, maxHedges: 1 } },
    });
    const { told, response } = await relayed(http, "svc");
    expect(response.statusCode).toBe(200);
    expect(told).toEqual([]);
  });
});
