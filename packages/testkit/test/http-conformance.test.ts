import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeConformance, httpConfig, httpSuite, startFaultyUpstream } from "@tandem/testkit";
import { pino } from "pino";
import { fetch } from "undici";
import { afterAll, expect, it } from "vitest";

const upstream = await startFaultyUpstream(3);
afterAll(() => upstream.close());
const file = join(mkdtempSync(join(tmpdir(), "tandem-http-")), "tandem.yaml");
writeFileSync(file, httpConfig(upstream));

describeConformance(
  "http",
  (context) => {
    httpSuite(context, () => upstream);
    it("serves Node's own fetch through rt.http.dispatcher()", async () => {
      for (const i of upstream.instances) i.set({});
      const res = await globalThis.fetch("http://orders/native?q=2", {
        dispatcher: context.runtime.http.dispatcher("orders"),
      } as RequestInit);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ method: "GET", path: "/native?q=2" });
    });
    it("serves undici's fetch through rt.http.dispatcher()", async () => {
      for (const i of upstream.instances) i.set({});
      const res = await fetch("http://orders/fetched?q=1", { dispatcher: context.runtime.http.dispatcher("orders") });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ method: "GET", path: "/fetched?q=1" });
    });
  },
  {
    config: file,
    runtime: { logger: pino({ level: "silent" }) },
  },
);
