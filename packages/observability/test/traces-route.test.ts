import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { TandemError } from "@tandem/core";
import { OtlpForwarder, tracesRoutes } from "@tandem/observability";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { countSpans } from "../src/forward/otlp-wire.js";
import { protobufRequest, recordingCounter, scriptedCollector } from "./helpers/otlp-fixtures.js";

const silent = pino({ level: "silent" });
let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  // Last made, first closed: a forwarder closes before the collector it sends to.
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

/** Serves the route the way the sidecar does for a rawBody route: errors become their status. */
async function serve(forwarder: OtlpForwarder, bodyLimit = 64 * 1024): Promise<string> {
  const [route] = tracesRoutes(forwarder, { maxDecodedBytes: 128 * 1024 });
  const server = createServer((req, res) => {
    Promise.resolve(
      route?.handler({
        req,
        res,
        bodyLimit,
        params: {},
        query: new URLSearchParams(),
        body: undefined,
        signal: new AbortController().signal,
        log: silent,
      }),
    ).catch((error: unknown) => {
      const status = TandemError.is(error) ? error.status : 500;
      res.writeHead(status, { "content-type": "application/problem+json", connection: "close" });
      res.end(JSON.stringify({ code: TandemError.is(error) ? error.code : "internal", detail: String(error) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
}

async function setup(options: Partial<ConstructorParameters<typeof OtlpForwarder>[0]> = {}, configured = true) {
  const collector = await scriptedCollector();
  cleanups.push(() => collector.close());
  const dropped = recordingCounter();
  const forwarder = new OtlpForwarder({
    endpoint: () => (configured ? collector.url : undefined),
    dropped,
    logger: silent,
    batchDelayMs: 60_000,
    ...options,
  });
  cleanups.push(() => forwarder.close());
  return { url: await serve(forwarder), forwarder, collector, dropped };
}

const post = (url: string, body: BodyInit, headers: Record<string, string>) =>
  fetch(url, { method: "POST", body, headers });

describe("POST /v1/traces", () => {
  it("answers protobuf with an empty protobuf response and JSON with {}, and forwards both", async () => {
    const { url, forwarder, collector } = await setup();
    const proto = await post(url, protobufRequest(2), { "content-type": "application/x-protobuf" });
    expect(proto.status).toBe(200);
    expect(proto.headers.get("content-type")).toBe("application/x-protobuf");
    expect((await proto.arrayBuffer()).byteLength).toBe(0);
    const json = await post(url, JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: "x" }] }] }] }), {
      "content-type": "application/json; charset=utf-8",
    });
    expect(json.status).toBe(200);
    expect(await json.text()).toBe("{}");
    const gzipped = await post(url, gzipSync(protobufRequest(1)), {
      "content-type": "application/x-protobuf",
      "content-encoding": "gzip",
    });
    expect(gzipped.status).toBe(200);
    expect(forwarder.queued.requests).toBe(3);
    await forwarder.flush();
    expect(collector.seen.map((s) => s.headers["content-type"])).toEqual([
      "application/x-protobuf",
      "application/json",
      "application/x-protobuf",
    ]);
    expect(countSpans(collector.seen[0]?.body as Buffer)).toBe(2);
  });

  it("answers 400 to a body that is not an OTLP request, and queues nothing", async () => {
    const { url, forwarder } = await setup();
    const badProto = await post(url, Buffer.from([0x0a, 0x05, 0x01]), { "content-type": "application/x-protobuf" });
    expect(badProto.status).toBe(400);
    const badJson = await post(url, "{", { "content-type": "application/json" });
    expect(badJson.status).toBe(400);
    const wrongShape = await post(url, '{"resourceSpans":{}}', { "content-type": "application/json" });
    expect(wrongShape.status).toBe(400);
    const badGzip = await post(url, "nope", { "content-type": "application/x-protobuf", "content-encoding": "gzip" });
    expect(badGzip.status).toBe(400);
    expect(forwarder.queued.requests).toBe(0);
  });

  it("answers 415 to other media types and encodings", async () => {
    const { url } = await setup();
    expect((await post(url, "x", { "content-type": "text/plain" })).status).toBe(415);
    expect(
      (await post(url, protobufRequest(1), { "content-type": "application/x-protobuf", "content-encoding": "br" }))
        .status,
    ).toBe(415);
  });

  it("answers 413 past the body limit, on the wire and once gunzipped", async () => {
    const { url } = await setup();
    expect((await post(url, Buffer.alloc(70 * 1024), { "content-type": "application/x-protobuf" })).status).toBe(413);
    const bomb = gzipSync(Buffer.alloc(1024 * 1024));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const inflated = await post(url, bomb, { "content-type": "application/x-protobuf", "content-encoding": "gzip" });
    expect(inflated.status).toBe(413);
  });

  it("answers 503 with Retry-After when the queue is full, counting nothing (the client keeps its spans)", async () => {
    const one = protobufRequest(1);
    const { url, dropped } = await setup({ queue: { maxRequests: 1 } });
    expect((await post(url, one, { "content-type": "application/x-protobuf" })).status).toBe(200);
    const full = await post(url, one, { "content-type": "application/x-protobuf" });
    expect(full.status).toBe(503);
    expect(full.headers.get("retry-after")).toBe("1");
    expect(((await full.json()) as { code: string }).code).toBe("queue_full");
    expect(dropped.total()).toBe(0);
  });

  it("refuses with 501 not_configured when there is nowhere to forward to", async () => {
    const { url } = await setup({}, false);
    const res = await post(url, protobufRequest(1), { "content-type": "application/x-protobuf" });
    expect(res.status).toBe(501);
    expect(((await res.json()) as { code: string }).code).toBe("not_configured");
  });
});
