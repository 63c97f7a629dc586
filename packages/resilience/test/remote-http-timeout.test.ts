import { createServer, type Server, type Socket } from "node:net";
import { type Http, parseSidecarAddress, SidecarClient, SidecarUnavailableError } from "@tandem/core";
import { DeadlineWheel, RemoteHttp } from "@tandem/resilience";
import { afterEach, describe, expect, it } from "vitest";

/** A stand-in for the sidecar's forward proxy that never answers a request, holding its connection. */
async function silentSidecar() {
  const sockets = new Set<Socket>();
  let requests = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("data", () => requests++);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests: () => requests,
    stop: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup) await step();
  cleanup = [];
});

describe("rt.http in sidecar mode with every connection to the sidecar taken", () => {
  it("gives up on a queued request a margin after its total timeout, as on a sidecar that never answers, instead of waiting without end", async () => {
    const sidecar = await silentSidecar();
    // One connection: the first call holds it, as a burst of slow calls holds all 128.
    const client = new SidecarClient({ address: parseSidecarAddress(sidecar.url), token: "t", connections: 1 });
    const http = new RemoteHttp(
      client,
      () => ({}) as Http,
      () => {},
      (upstream) => (upstream === "slow" ? 600_000 : 100),
      () => ["slow", "fast"],
      new DeadlineWheel(),
    );
    // The sidecar first: closing the client waits for the call still held.
    cleanup.push(
      () => sidecar.stop(),
      () => client.close(),
    );
    const slow = http.request("slow", { path: "/" });
    slow.catch(() => {});
    await expect.poll(sidecar.requests).toBe(1);
    const started = performance.now();
    const error = await http.request("fast", { path: "/" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const waited = performance.now() - started;
    expect(error).toBeInstanceOf(SidecarUnavailableError);
    expect((error as SidecarUnavailableError).message).toContain(
      "fast: no answer through the sidecar within the total timeout of 100 ms",
    );
    // It never reached the sidecar, and did not outlive its bound by much.
    expect(sidecar.requests()).toBe(1);
    expect(waited).toBeGreaterThanOrEqual(5000);
    expect(waited).toBeLessThan(20_000);
  }, 30_000);
});
