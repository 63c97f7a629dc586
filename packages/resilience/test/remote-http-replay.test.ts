import { createServer, type Server, type Socket } from "node:net";
import { type Http, parseSidecarAddress, SidecarClient, SidecarUnavailableError } from "@tandem/core";
import { DeadlineWheel, RemoteHttp } from "@tandem/resilience";
import type { Dispatcher } from "undici";
import { afterEach, describe, expect, it } from "vitest";

/**
 * A stand-in for the sidecar's forward proxy in raw bytes: it resets the connection of the first
 * `resets` requests it reads (as a sidecar that dies, or closes a keep-alive connection as it
 * drains, does), and answers the others 200.
 */
async function fakeSidecar(resets: number, goAway = false) {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("data", (chunk) => {
      seen.push(chunk.toString("latin1").split("\r\n")[0] as string);
      if (seen.length <= resets) {
        // Gone for good: the listener closes before the reset, so a replay is refused.
        if (goAway) server.close();
        socket.resetAndDestroy();
      } else socket.write("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    seen,
    stop: () => {
      for (const socket of sockets) socket.destroy();
      if (!server.listening) return Promise.resolve();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup) await step();
  cleanup = [];
});

async function remoteHttp(resets: number, goAway = false) {
  const sidecar = await fakeSidecar(resets, goAway);
  const client = new SidecarClient({ address: parseSidecarAddress(sidecar.url), token: "t" });
  const fallbacks: string[] = [];
  const local = {
    request: async (upstream: string) => {
      fallbacks.push(upstream);
      return { statusCode: 299 } as Dispatcher.ResponseData;
    },
  } as unknown as Http;
  const http = new RemoteHttp(
    client,
    () => local,
    () => {},
    () => 1000,
    () => ["payments"],
    new DeadlineWheel(),
  );
  cleanup.push(
    () => client.close(),
    () => sidecar.stop(),
  );
  return { http, sidecar, fallbacks };
}

describe("rt.http in sidecar mode when the hop is reset before an answer", () => {
  it("sends a POST with an idempotency key once more, and returns the answer", async () => {
    const { http, sidecar, fallbacks } = await remoteHttp(1);
    const res = await http.request("payments", {
      method: "POST",
      path: "/charges",
      body: { amount: 1 },
      idempotencyKey: "k1",
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe("ok");
    expect(sidecar.seen).toEqual(["POST http://payments/charges HTTP/1.1", "POST http://payments/charges HTTP/1.1"]);
    expect(fallbacks).toEqual([]);
  });

  it("sends a GET once more", async () => {
    const { http, sidecar } = await remoteHttp(1);
    const res = await http.request("payments", { path: "/balance" });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(sidecar.seen).toHaveLength(2);
  });

  it("fails a POST without a key at once with SidecarUnavailableError, sent once", async () => {
    const { http, sidecar, fallbacks } = await remoteHttp(1);
    const error = await http.request("payments", { method: "POST", path: "/charges", body: "x" }).catch((e) => e);
    expect(error).toBeInstanceOf(SidecarUnavailableError);
    expect((error as Error).message).toMatch(
      /^payments: the sidecar hop failed \((ECONNRESET|UND_ERR_SOCKET|EPIPE)\)$/,
    );
    expect(sidecar.seen).toHaveLength(1);
    expect(fallbacks).toEqual([]);
  });

  it("sends it again after a second reset, and gives up after a third with SidecarUnavailableError", async () => {
    const twice = await remoteHttp(2);
    const res = await twice.http.request("payments", { path: "/balance" });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(twice.sidecar.seen).toHaveLength(3);
    const thrice = await remoteHttp(3);
    const error = await thrice.http.request("payments", { path: "/balance" }).catch((e) => e);
    expect(error).toBeInstanceOf(SidecarUnavailableError);
    expect(thrice.sidecar.seen).toHaveLength(3);
  });

  it("serves the replay in-process when the sidecar is gone by then", async () => {
    const { http, sidecar, fallbacks } = await remoteHttp(1, true);
    const res = await http.request("payments", { method: "PUT", path: "/charges/1", body: { amount: 1 } });
    expect(sidecar.seen).toHaveLength(1);
    expect(res.statusCode).toBe(299);
    expect(fallbacks).toEqual(["payments"]);
  });
});
