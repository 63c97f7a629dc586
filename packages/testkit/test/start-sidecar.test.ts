import { startSidecar } from "@tandem/testkit";
import { describe, expect, it } from "vitest";

describe("startSidecar", () => {
  it("starts a real sidecar on random ports, and stop() ends that process only", async () => {
    const a = await startSidecar();
    const b = await startSidecar();
    expect(a.api).not.toBe(b.api);
    expect((await fetch(`${a.admin}/readyz`)).status).toBe(200);
    expect(await a.stop()).toEqual({ code: 0, signal: null });
    expect((await fetch(`${b.admin}/readyz`)).status).toBe(200);
    await b.stop();
  });

  it("runs without a token when asked", async () => {
    const s = await startSidecar({ token: null });
    expect(s.token).toBeUndefined();
    expect((await fetch(`${s.api}/v1/openapi.json`)).status).toBe(200);
    await s.stop();
  });
});
