import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ConfigStore } from "@tandem/config";
import { DeadlineWheel, LocalHttp, LocalResilience } from "@tandem/resilience";
import { pino } from "pino";
import { describe, expect, it } from "vitest";

const logger = pino({ level: "silent" });

describe("config changes", () => {
  it("rebuild a changed policy for new calls while calls in flight finish on the old one", async () => {
    const store = new ConfigStore({ policies: { db: { timeout: 50 } } }, logger);
    const resilience = new LocalResilience(store, undefined, logger);
    let release!: (v: string) => void;
    const inFlight = resilience.execute("db", () => new Promise<string>((r) => (release = r))).catch((e: unknown) => e);
    // The new config allows a second; the call in flight keeps its 50 ms.
    store.apply({ policies: { db: { timeout: 1000 } } });
    const later = resilience.execute("db", () => new Promise<string>((r) => setTimeout(() => r("new"), 100)));
    expect(await later).toBe("new");
    release("old");
    expect(((await inFlight) as Error).name).toBe("TimeoutError");
    // A removed policy is gone for new calls.
    store.apply({ policies: {} });
    await expect(resilience.execute("db", async () => 1)).rejects.toThrow(/no policy named "db"/);
    resilience.close();
  });
});

describe("request bodies", () => {
  it("never retries a body that is a stream, since it cannot be sent again", async () => {
    let requests = 0;
    const server = createServer((req, res) => {
      requests++;
      req.resume();
      req.on("end", () => {
        res.statusCode = 503;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const store = new ConfigStore(
      {
        upstreams: {
          sink: {
            endpoints: [url],
            loadBalancer: "round-robin",
            timeout: { attempt: 1000, total: 5000 },
            retry: { attempts: 3, backoff: { base: 1, max: 5 }, on: [503], budget: { ratio: 1, minPerSecond: 100 } },
          },
        },
      },
      logger,
    );
    const http = new LocalHttp(store, undefined, logger, new DeadlineWheel());
    async function* stream() {
      yield Buffer.from("part one ");
      yield Buffer.from("part two");
    }
    const streamed = await http.request("sink", { method: "PUT", path: "/", body: stream() });
    expect(streamed.statusCode).toBe(503);
    await streamed.body.dump();
    expect(requests).toBe(1);
    // The same request with bytes is retried.
    const bytes = await http.request("sink", { method: "PUT", path: "/", body: "part one part two" });
    await bytes.body.dump();
    expect(requests).toBe(4);
    await http.close();
    server.close();
  });
});
