import { startStub } from "@tandem-examples/payments-stub";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

describe("examples/payments-stub", () => {
  let stub: Awaited<ReturnType<typeof startStub>>;
  beforeAll(async () => {
    stub = await startStub({ name: "payments-0" });
  });
  afterAll(() => stub.close());

  const charge = (key?: string) =>
    fetch(`${stub.url}/charges`, {
      method: "POST",
      headers: key === undefined ? {} : { "idempotency-key": key },
      body: "{}",
    }).catch(() => ({ status: "reset" as const, json: async () => ({}) }));

  it("answers with JSON, once per idempotency key", async () => {
    const first = await (await charge("k1")).json();
    expect(first).toMatchObject({ id: "payments-0-1", status: "ok", path: "/charges" });
    expect(await (await charge("k1")).json()).toEqual(first);
  });

  it("takes faults over POST /fault, spread evenly, and heals with {}", async () => {
    const set = (fault: object) => fetch(`${stub.url}/fault`, { method: "POST", body: JSON.stringify(fault) });
    expect((await set({ errorRate: 0.5, status: 503 })).status).toBe(204);
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await charge()).status);
    expect(statuses).toEqual([200, 503, 200, 503, 200, 503]);
    await set({ resetRate: 1 });
    expect((await charge()).status).toBe("reset");
    await set({});
    expect((await charge()).status).toBe(200);
    const stats = await (await fetch(`${stub.url}/stats`)).json();
    expect(stats).toMatchObject({ name: "payments-0", fault: {}, failed: 3, reset: 1 });
  });
});
