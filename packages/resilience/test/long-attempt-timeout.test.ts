import { describe, expect, it } from "vitest";
import { rawUpstream } from "./helpers/raw-upstream.js";

// Attempt timeouts above a second, where undici keeps its own timeouts on coarse timers that may
// fire up to half a second early: they must neither cut an attempt short nor let a body hang.
// Raw bytes: "/late" answers after 1.3 s; "/pause" sends half a body and then nothing.
const http = await rawUpstream("svc", { attempt: 1500, total: 10_000 }, (socket) => {
  socket.on("data", (chunk) => {
    if (chunk.toString("latin1").startsWith("GET /late")) {
      setTimeout(() => socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"), 1300);
    } else {
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n${"x".repeat(500)}`);
    }
  });
});

describe("an attempt timeout above a second", () => {
  it("lets answers within it through, on every connection, whatever undici's coarse timers do", async () => {
    // Four rounds on the same connections: undici's timers are refreshed, not made anew.
    for (let round = 0; round < 4; round++) {
      const answers = await Promise.all(
        Array.from({ length: 4 }, () => http.request("svc", { path: "/late" }).then((res) => res.body.text())),
      );
      expect(answers).toEqual(["ok", "ok", "ok", "ok"]);
    }
  }, 30_000);

  it("still ends a body that stops arriving, with a timeout naming the attempt bound", async () => {
    const started = performance.now();
    const res = await http.request("svc", { path: "/pause" });
    const error = await res.body.text().then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string; details: Record<string, unknown> },
    );
    expect(error?.code).toBe("timeout");
    expect(error?.message).toContain("the response body stalled longer than the attempt timeout");
    expect(error?.details).toMatchObject({ upstream: "svc", bound: "attempt", timeoutMs: 1500 });
    // Within the attempt timeout and a second more (undici's coarse timers), well before `total`.
    expect(performance.now() - started).toBeGreaterThanOrEqual(1500);
    expect(performance.now() - started).toBeLessThan(9_000);
  }, 30_000);
});
