import { OtlpForwarder } from "@tandem/observability";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { OtlpPayload } from "../src/forward/otlp-body.js";
import { OtlpQueue } from "../src/forward/otlp-queue.js";
import { countSpans } from "../src/forward/otlp-wire.js";
import { retryAfterMs } from "../src/internal/otlp-post.js";
import { protobufRequest, recordingCounter, scriptedCollector } from "./helpers/otlp-fixtures.js";

const silent = pino({ level: "silent" });
const TRACES = { signal: "traces" };
let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  // Last made, first closed: a forwarder closes before the collector it sends to.
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

function payload(spans: number): OtlpPayload {
  return { encoding: "protobuf", bytes: protobufRequest(spans), spans };
}

async function collector(script?: Parameters<typeof scriptedCollector>[0]) {
  const c = await scriptedCollector(script);
  cleanups.push(() => c.close());
  return c;
}

function forwarder(url: string | undefined, options: Partial<ConstructorParameters<typeof OtlpForwarder>[0]> = {}) {
  const dropped = recordingCounter();
  const f = new OtlpForwarder({ endpoint: () => url, dropped, logger: silent, batchDelayMs: 10_000, ...options });
  cleanups.push(() => f.close());
  return { f, dropped };
}

describe("countSpans", () => {
  it("counts the spans of a request, and of requests concatenated into one", () => {
    const a = protobufRequest(3);
    const b = protobufRequest(2, "other");
    expect(countSpans(a)).toBe(3);
    expect(countSpans(Buffer.concat([a, b]))).toBe(5);
    expect(countSpans(new Uint8Array())).toBe(0);
  });

  it("refuses a body whose framing is broken at any level down to the spans", () => {
    const good = protobufRequest(2);
    expect(() => countSpans(good.subarray(0, good.length - 3))).toThrow(/cut short/);
    expect(() => countSpans(Buffer.from([0x08, 0x01]))).toThrow(/resource_spans is not a length-delimited/);
    expect(() => countSpans(Buffer.from([0x0b]))).toThrow(/wire type 3/);
    expect(() => countSpans(Buffer.from("not protobuf at all"))).toThrow(/OTLP ExportTraceServiceRequest/);
  });
});

describe("OtlpQueue", () => {
  it("refuses what would pass its byte or request bound, and takes batches of one encoding within a byte bound", () => {
    const one = payload(1);
    const size = one.bytes.length;
    const byCount = new OtlpQueue({ maxBytes: 1e9, maxRequests: 2 });
    expect([byCount.offer(one), byCount.offer(one), byCount.offer(one)]).toEqual([true, true, false]);
    const byBytes = new OtlpQueue({ maxBytes: size * 2 + 1, maxRequests: 100 });
    expect([byBytes.offer(one), byBytes.offer(one), byBytes.offer(one)]).toEqual([true, true, false]);
    expect(byBytes.bytes).toBe(size * 2);

    const mixed = new OtlpQueue({ maxBytes: 1e9, maxRequests: 100 });
    const json: OtlpPayload = { encoding: "json", bytes: Buffer.from("{}"), spans: 0 };
    for (const p of [one, one, one, json, one]) mixed.offer(p);
    expect(mixed.takeBatch(size * 2).length).toBe(2);
    expect(mixed.takeBatch(size * 10).map((p) => p.encoding)).toEqual(["protobuf"]);
    expect(mixed.takeBatch(size * 10).map((p) => p.encoding)).toEqual(["json"]);
    // A request larger than a batch still leaves, alone.
    expect(mixed.takeBatch(1).length).toBe(1);
    expect(mixed.length).toBe(0);
  });
});

describe("retryAfterMs", () => {
  it("reads delay-seconds and HTTP dates, and ignores what it cannot read", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(retryAfterMs("3", now)).toBe(3000);
    expect(retryAfterMs("Thu, 01 Jan 2026 00:00:02 GMT", now)).toBe(2000);
    expect(retryAfterMs("soon", now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});

describe("OtlpForwarder", () => {
  it("sends queued requests as one concatenated protobuf batch, with the configured headers", async () => {
    const c = await collector();
    const { f, dropped } = forwarder(c.url, { headers: { "x-api-key": "k" } });
    expect(f.offer(payload(2))).toBe("queued");
    expect(f.offer(payload(3))).toBe("queued");
    await f.flush();
    expect(c.seen).toHaveLength(1);
    expect(c.seen[0]?.headers["content-type"]).toBe("application/x-protobuf");
    expect(c.seen[0]?.headers["x-api-key"]).toBe("k");
    expect(countSpans(c.seen[0]?.body as Buffer)).toBe(5);
    expect(dropped.total()).toBe(0);
  });

  it("merges JSON requests into one resourceSpans array, keeping nanosecond integers exact", async () => {
    const c = await collector();
    const { f } = forwarder(c.url);
    f.offer({ encoding: "json", bytes: Buffer.from('{"a":1,"t":1700000000000000001}'), spans: 1 });
    f.offer({ encoding: "json", bytes: Buffer.from(""), spans: 0 });
    f.offer({ encoding: "json", bytes: Buffer.from('{"b":2}'), spans: 1 });
    await f.flush();
    expect(c.seen[0]?.body.toString()).toBe('{"resourceSpans":[{"a":1,"t":1700000000000000001},{"b":2}]}');
  });

  it("retries 503, 429 and 502 with backoff, honouring Retry-After, then delivers", async () => {
    const c = await collector([503, { status: 429, retryAfter: "1" }, 502]);
    const { f, dropped } = forwarder(c.url, { retry: { baseDelayMs: 10, maxDelayMs: 20 }, random: () => 1 });
    f.offer(payload(4));
    await f.flush();
    expect(c.seen).toHaveLength(4);
    const gaps = c.seen.slice(1).map((s, i) => s.at - (c.seen[i] as { at: number }).at);
    // Full jitter with random() = 1 waits the whole ceiling: 10 ms, then Retry-After's second, then 20 ms.
    expect(gaps[0]).toBeGreaterThanOrEqual(9);
    expect(gaps[1]).toBeGreaterThanOrEqual(990);
    expect(gaps[2]).toBeLessThan(900);
    expect(dropped.total()).toBe(0);
  });

  it("counts the spans of a batch refused for good, or out of attempts, as dropped", async () => {
    const refused = await collector([400]);
    const a = forwarder(refused.url);
    a.f.offer(payload(3));
    await a.f.flush();
    expect(refused.seen).toHaveLength(1);
    expect(a.dropped.total(TRACES)).toBe(3);

    const busy = await collector([503, 503, 503]);
    const b = forwarder(busy.url, { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 } });
    b.f.offer(payload(2));
    await b.f.flush();
    expect(busy.seen).toHaveLength(3);
    expect(b.dropped.total(TRACES)).toBe(2);
  });

  it("retries a refused connection, and drops what it could not deliver", async () => {
    const c = await collector();
    const url = c.url;
    await c.close();
    const { f, dropped } = forwarder(url, { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 } });
    f.offer(payload(1));
    const started = Date.now();
    await f.flush();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(dropped.total(TRACES)).toBe(1);
  });

  it("drops and counts when no endpoint is configured", async () => {
    const { f, dropped } = forwarder(undefined);
    expect(f.configured).toBe(false);
    f.offer(payload(2));
    await f.flush();
    expect(dropped.total(TRACES)).toBe(2);
  });

  it("flushes the queue on close, without waiting for the batch delay", async () => {
    const c = await collector();
    const { f, dropped } = forwarder(c.url, { batchDelayMs: 60_000 });
    f.offer(payload(1));
    f.offer(payload(1));
    expect(c.seen).toHaveLength(0);
    await f.close();
    expect(countSpans(c.seen[0]?.body as Buffer)).toBe(2);
    expect(f.offer(payload(1))).toBe("closed");
    expect(dropped.total()).toBe(0);
  });

  it("gives up at the drain bound when the collector hangs, counting what was left", async () => {
    const c = await collector();
    c.hang = true;
    const { f, dropped } = forwarder(c.url, { drainTimeoutMs: 300 });
    f.offer(payload(2));
    f.offer(payload(3));
    const started = Date.now();
    await f.close();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(dropped.total(TRACES)).toBe(5);
  });

  it("sends a full batch at once, without waiting for the batch delay", async () => {
    const c = await collector();
    const one = payload(1);
    const { f } = forwarder(c.url, { maxBatchBytes: one.bytes.length * 2, batchDelayMs: 60_000 });
    f.offer(one);
    f.offer(one);
    const deadline = Date.now() + 3000;
    while (c.seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(c.seen).toHaveLength(1);
  });
});
