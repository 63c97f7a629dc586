import { createServer, get, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { relay } from "../src/http/forward-proxy.js";

/** A server whose handler relays `body` (fed by the test) to the client, and reports how relay ended. */
async function relayServer() {
  const body = new PassThrough();
  let outcome: Promise<string> | undefined;
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.flushHeaders();
    outcome = relay(body, res).then(
      () => "resolved",
      (error: Error) => `rejected: ${error.message}`,
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    get({ host: "127.0.0.1", port, path: "/", agent: false }, resolve).on("error", reject);
  });
  return {
    body,
    response,
    outcome: () => outcome as Promise<string>,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Everything the client reads, and whether the answer arrived whole. */
function read(res: IncomingMessage): Promise<{ text: string; complete: boolean }> {
  return new Promise((resolve) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (c: string) => (text += c));
    res.on("end", () => resolve({ text, complete: res.complete }));
    res.on("error", () => resolve({ text, complete: res.complete }));
    res.on("aborted", () => resolve({ text, complete: false }));
  });
}

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

describe("relay, the forward proxy's answer body", () => {
  it("streams the whole body to the client and resolves once it is sent", async () => {
    const s = await relayServer();
    close = s.close;
    const reading = read(s.response);
    s.body.write("hello ");
    s.body.end("world");
    expect(await reading).toEqual({ text: "hello world", complete: true });
    expect(await s.outcome()).toBe("resolved");
  });

  it("cuts the client's answer off when the upstream body fails midway, and rejects", async () => {
    const s = await relayServer();
    close = s.close;
    const reading = read(s.response);
    s.body.write("partial");
    await new Promise((r) => setTimeout(r, 20));
    s.body.destroy(new Error("upstream reset"));
    const got = await reading;
    // The client must not take a truncated body for a whole one.
    expect(got.complete).toBe(false);
    expect(got.text).toBe("partial");
    expect(await s.outcome()).toBe("rejected: upstream reset");
  });

  it("stops reading the upstream body when the client goes away, and rejects", async () => {
    const s = await relayServer();
    close = s.close;
    s.body.write("first");
    await new Promise<void>((r) => s.response.once("data", () => r()));
    s.response.destroy();
    expect(await s.outcome()).toMatch(/^rejected: /);
    expect(s.body.destroyed).toBe(true);
  });

  it("pauses the upstream body while the client reads nothing, and delivers every byte once it does", async () => {
    const s = await relayServer();
    close = s.close;
    s.response.pause();
    const chunk = Buffer.alloc(64 * 1024, 97);
    let written = 0;
    // Write until the body itself pushes back: the relay has stopped taking from it.
    while (s.body.write(chunk)) {
      written += chunk.length;
      if (written > 64 * 2 ** 20) throw new Error("the relay never stopped reading the body");
      await new Promise((r) => setImmediate(r));
    }
    written += chunk.length;
    await new Promise((r) => setTimeout(r, 20));
    expect(s.body.isPaused()).toBe(true);
    let received = 0;
    s.response.on("data", (c: Buffer) => {
      received += c.length;
    });
    const ended = new Promise<boolean>((r) => s.response.on("end", () => r(s.response.complete)));
    s.response.resume();
    s.body.end();
    expect(await ended).toBe(true);
    expect(received).toBe(written);
    expect(await s.outcome()).toBe("resolved");
  });
});
