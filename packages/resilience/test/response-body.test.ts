import { describe, expect, it } from "vitest";
import { rawUpstream } from "./helpers/raw-upstream.js";

let mode: "trickle" | "reset" | "whole" = "trickle";
// Raw bytes: an HTTP server library would not trickle a body or reset half-way on request.
const http = await rawUpstream("slow", { attempt: 200, total: 400 }, (socket) => {
  socket.once("data", () => {
    if (mode === "whole") {
      // This server answers one request per connection, and says so.
      socket.end("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
      return;
    }
    socket.write("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n");
    if (mode === "reset") {
      socket.write("x".repeat(500));
      setImmediate(() => socket.resetAndDestroy());
      return;
    }
    // A byte every 50 ms: never idle as long as the attempt timeout, never done either.
    const timer = setInterval(() => socket.write("y"), 50);
    socket.on("close", () => clearInterval(timer));
  });
});

describe("response bodies", () => {
  it("are bounded by the total timeout, even when bytes keep trickling in", async () => {
    mode = "trickle";
    const started = performance.now();
    const res = await http.request("slow", { path: "/" });
    expect(res.statusCode).toBe(200);
    const error = await res.body.text().then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string; details: Record<string, unknown> },
    );
    expect(error?.code).toBe("timeout");
    expect(error?.message).toMatch(
      /^slow \(127\.0\.0\.1:\d+\): the total timeout of 400 ms passed while the response body/,
    );
    expect(error?.details).toMatchObject({ upstream: "slow", bound: "total", timeoutMs: 400 });
    // Without the bound the body would take 50 s; generous slack for a busy machine.
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it("cut off half-way fail with an upstream_error naming the upstream, not a bare socket error", async () => {
    mode = "reset";
    const res = await http.request("slow", { path: "/" });
    const error = await res.body.text().then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string; details: Record<string, unknown> },
    );
    expect(error?.code).toBe("upstream_error");
    expect(error?.message).toMatch(/^slow \(127\.0\.0\.1:\d+\): the response body was cut off/);
    expect(error?.details).toMatchObject({ upstream: "slow", reason: "reset" });
  });

  it("fail with an AbortedError naming the upstream when the caller gives up while they arrive", async () => {
    mode = "trickle";
    const caller = new AbortController();
    const res = await http.request("slow", { path: "/", signal: caller.signal });
    setTimeout(() => caller.abort(), 60);
    const error = await res.body.text().then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string; details: Record<string, unknown> },
    );
    expect(error?.code).toBe("aborted");
    expect(error?.message).toBe("slow: the request was aborted by the caller");
    expect(error?.details).toMatchObject({ upstream: "slow" });
  });

  it("left unread past the total timeout: kept when it arrived whole, cut off without an uncaught error when not", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on("uncaughtException", onUncaught);
    try {
      // The caller looks at the status and reads the body late, or never.
      mode = "whole";
      const whole = await http.request("slow", { path: "/" });
      mode = "trickle";
      const trickled = await http.request("slow", { path: "/" });
      await new Promise((r) => setTimeout(r, 700));
      expect(await whole.body.text()).toBe("ok");
      expect(trickled.body.destroyed).toBe(true);
      const error = await trickled.body.text().then(
        () => undefined,
        (e: unknown) => e as { code: string },
      );
      expect(error?.code).toBe("timeout");
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(uncaught).toEqual([]);
  });
});
