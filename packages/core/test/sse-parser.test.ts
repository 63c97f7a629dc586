import { describe, expect, it } from "vitest";
import { type ServerSentEvent, SseParser } from "../src/internal/sse-parser.js";

function parse(chunks: string[], lastEventId?: string) {
  const events: ServerSentEvent[] = [];
  const retries: number[] = [];
  const parser = new SseParser(
    (e) => events.push(e),
    (ms) => retries.push(ms),
    lastEventId,
  );
  for (const chunk of chunks) parser.push(chunk);
  return { events, retries, parser };
}

describe("SseParser", () => {
  it("dispatches events on blank lines with type, data and id", () => {
    const { events } = parse(['id: 1\nevent: change\ndata: {"a":1}\n\n', "data: plain\n\n"]);
    expect(events).toEqual([
      { event: "change", data: '{"a":1}', id: "1" },
      { event: "message", data: "plain", id: "1" },
    ]);
  });

  it("joins multi-line data and ignores comments and unknown fields", () => {
    const { events } = parse([": keep-alive\n", "data: a\ndata:b\nfoo: bar\n\n"]);
    expect(events).toEqual([{ event: "message", data: "a\nb", id: undefined }]);
  });

  it("handles CRLF, CR and a CRLF split across chunks", () => {
    const { events } = parse(["data: one\r", "\n\r\n", "data: two\r\rdata: three\n\n"]);
    expect(events.map((e) => e.data)).toEqual(["one", "two", "three"]);
  });

  it("keeps partial lines until they complete", () => {
    const { events } = parse(["da", "ta: hel", "lo\n", "\n"]);
    expect(events).toEqual([{ event: "message", data: "hello", id: undefined }]);
  });

  it("reports retry in milliseconds and ignores ids with NUL", () => {
    const { retries, parser } = parse(["retry: 1500\nretry: soon\nid: 7\n\nid: a\u0000b\n\n"], "3");
    expect(retries).toEqual([1500]);
    expect(parser.lastEventId).toBe("7");
  });

  it("does not dispatch an event without data", () => {
    const { events } = parse(["event: x\n\n", "id: 9\n\n"]);
    expect(events).toEqual([]);
  });

  it("takes an id as the last event id only once its event is whole, and starts clean after reset", () => {
    const { events, parser } = parse(["id: ab-4\ndata: four\n\nid: ab-5\nevent: con"]);
    expect(events.map((e) => e.data)).toEqual(["four"]);
    // The connection broke inside event 5: resuming must ask for it again.
    expect(parser.lastEventId).toBe("ab-4");
    parser.reset();
    parser.push('retry: 1000\n\ndata: {"g":1}\n\n');
    expect(events.map((e) => e.data)).toEqual(["four", '{"g":1}']);
  });

  it("refuses an event larger than its bound instead of growing without end", () => {
    const { parser } = parse([]);
    expect(() => parser.push(`data: ${"x".repeat(5 * 1024 * 1024)}`)).toThrow(/larger than/);
  });
});
