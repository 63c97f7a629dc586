import { getEventListeners } from "node:events";
import { DeadlineWheel } from "@tandem/resilience";
import { describe, expect, it } from "vitest";
import { rawUpstream } from "./helpers/raw-upstream.js";

// Raw bytes: "/trickle" answers at once and sends its 8-byte body a byte every 50 ms (longer
// than the attempt timeout in all); "/stall" never answers. A clock of 100 ms steps: attempts
// started together share the wheel's deadline bucket.
const coarse = () => Math.floor(performance.now() / 100) * 100;
const http = await rawUpstream(
  "up",
  { attempt: 150, total: 5000 },
  (socket) => {
    socket.on("data", (data) => {
      if (data.toString("latin1").startsWith("GET /stall")) return;
      socket.write("HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\n");
      let sent = 0;
      const timer = setInterval(() => {
        socket.write("y");
        if (++sent === 8) clearInterval(timer);
      }, 50);
      socket.on("close", () => clearInterval(timer));
    });
  },
  new DeadlineWheel(coarse),
);

describe("an attempt's timeout", () => {
  it("ends that attempt only: a body read past it, within the total timeout, is not cut off by another attempt's", async () => {
    const [slow, stalled] = await Promise.allSettled([
      http.request("up", { path: "/trickle" }).then((res) => res.body.text()),
      http.request("up", { path: "/stall" }),
    ]);
    expect(stalled).toMatchObject({ status: "rejected", reason: { code: "timeout" } });
    expect(slow).toEqual({ status: "fulfilled", value: "yyyyyyyy" });
  });

  it("still ends an attempt that gets no answer", async () => {
    const started = performance.now();
    const error = await http.request("up", { path: "/stall" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "timeout", details: { bound: "attempt", timeoutMs: 150 } });
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});

describe("a caller's signal", () => {
  it("reaches a body being read, and keeps no listener once the bodies are done", async () => {
    const longLived = new AbortController();
    for (let i = 0; i < 5; i++) {
      const res = await http.request("up", { path: "/trickle", signal: longLived.signal });
      expect(await res.body.text()).toBe("yyyyyyyy");
    }
    // A body closes just after its last byte is read.
    await new Promise((r) => setImmediate(r));
    expect(getEventListeners(longLived.signal, "abort")).toHaveLength(0);
    const caller = new AbortController();
    const res = await http.request("up", { path: "/trickle", signal: caller.signal });
    const reading = res.body.text().catch((e: unknown) => e);
    caller.abort();
    expect(await reading).toMatchObject({ code: "aborted" });
    expect(getEventListeners(caller.signal, "abort")).toHaveLength(0);
  });

  it("already aborted ends the request before it is sent", async () => {
    const error = await http.request("up", { path: "/trickle", signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "aborted" });
  });
});
