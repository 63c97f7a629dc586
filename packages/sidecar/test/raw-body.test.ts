import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { type Concern, TandemError } from "@tandem/core";
import { afterEach, describe, expect, it } from "vitest";
import { rawRequest, startInProcess } from "./helpers.js";

let stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(stops.map((s) => s()));
  stops = [];
});

/** A concern whose routes read the request body themselves, as an OTLP/protobuf receiver does. */
const rawConcern: Concern = {
  name: "raw",
  local: async () => ({ facets: {} }),
  remote: async () => ({ facets: {} }),
  routes: () => [
    {
      method: "POST",
      path: "/v1/raw",
      tag: "raw",
      summary: "Counts the bytes of any body, up to the limit.",
      rawBody: true,
      responses: { 200: { description: "The byte count." } },
      handler: async ({ req, bodyLimit }) => {
        let bytes = 0;
        for await (const chunk of req) {
          bytes += (chunk as Buffer).length;
          if (bytes > bodyLimit) throw new TandemError("payload_too_large", `over ${bodyLimit} bytes`);
        }
        return { body: { bytes, bodyLimit, type: req.headers["content-type"] ?? null } };
      },
    },
    {
      method: "POST",
      path: "/v1/raw-refuse",
      tag: "raw",
      summary: "Refuses without reading the body.",
      rawBody: true,
      responses: { 415: { description: "Always." } },
      handler: () => {
        throw new TandemError("unsupported_media_type", "never reads it");
      },
    },
  ],
};

async function start(maxBodyBytes = 1024) {
  const s = await startInProcess({ maxBodyBytes }, [rawConcern]);
  stops.push(() => s.sidecar.stop("test over"));
  return s;
}

describe("routes with rawBody", () => {
  it("hand the handler the unread body, whatever its type, with the server's limit", async () => {
    const { api } = await start();
    const res = await fetch(`${api}/v1/raw`, {
      method: "POST",
      headers: { "content-type": "application/x-protobuf" },
      body: new Uint8Array(700),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ bytes: 700, bodyLimit: 1024, type: "application/x-protobuf" });
  });

  it("still refuse a declared Content-Length over the limit before the handler runs", async () => {
    const { apiPort } = await start();
    const answer = await rawRequest(
      apiPort,
      "POST /v1/raw HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-protobuf\r\nContent-Length: 5000\r\n\r\n",
      500,
    );
    expect(answer).toMatch(/^HTTP\/1.1 413/);
    expect(answer).toContain("larger than the limit of 1024 bytes");
  });

  it("leave a chunked body to the handler, which bounds it", async () => {
    const { api } = await start();
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${api}/v1/raw`, { method: "POST", headers: { "transfer-encoding": "chunked" } });
      req.on("response", (res) => resolve(res.statusCode ?? 0));
      req.on("error", reject);
      req.write(Buffer.alloc(2000));
      // The body never ends: only the handler's bound can produce the answer.
    });
    expect(status).toBe(413);
  });

  it("read and drop a body the handler refused without reading, and serve the next request on the connection", async () => {
    const { apiPort } = await start();
    const refuse =
      "POST /v1/raw-refuse HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n";
    const answer = await rawRequest(apiPort, `${refuse}${"x".repeat(1000)}${refuse}${"y".repeat(1000)}`, 500);
    expect(answer.match(/HTTP\/1.1 415/g)).toHaveLength(2);
    expect(answer.toLowerCase()).not.toContain("connection: close");
  });

  it("answer a client still sending a large body the handler refused, rather than resetting it", async () => {
    const { api } = await start(4 * 1024 * 1024);
    // Bodies larger than the socket buffers hold: the answer comes while the client still writes.
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${api}/v1/raw-refuse`, {
        method: "POST",
        headers: { "content-type": "application/x-protobuf" },
        body: new Uint8Array(256 * 1024 * (1 + (i % 8))),
      });
      expect(res.status).toBe(415);
      expect((await res.json()).code).toBe("unsupported_media_type");
    }
  });

  it("close the connection when a refused body goes on past the limit", async () => {
    const { apiPort } = await start();
    const chunk = `400\r\n${"z".repeat(1024)}\r\n`;
    const { answer, closedBySidecar } = await new Promise<{ answer: string; closedBySidecar: boolean }>((resolve) => {
      const socket = connect(apiPort, "127.0.0.1");
      let text = "";
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({ answer: text, closedBySidecar: false });
      }, 5000);
      socket.on("data", (c) => (text += c.toString("latin1")));
      socket.on("error", () => {});
      socket.on("close", () => {
        clearTimeout(timer);
        resolve({ answer: text, closedBySidecar: true });
      });
      // A chunked body that never ends, 3 KiB of it against a 1 KiB limit.
      socket.write(
        `POST /v1/raw-refuse HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.repeat(3)}`,
      );
    });
    expect(answer).toMatch(/^HTTP\/1.1 415/);
    expect(closedBySidecar).toBe(true);
  });
});
