import { describe, expect, it } from "vitest";
import { requestHead } from "../src/http/h1/request-head.js";

describe("a request's head", () => {
  it("refuses a method or path that is not valid, whatever valid ones came before it", () => {
    for (const [method, path] of [
      ["GET", "/a"],
      ["PATCH", "/a?b=c"],
      ["GET", "/a"],
    ] as const) {
      expect(requestHead(method, path, {}, "h", undefined).text).toBe(
        `${method} ${path} HTTP/1.1\r\nhost: h\r\nconnection: keep-alive\r\n${method === "PATCH" ? "content-length: 0\r\n" : ""}\r\n`,
      );
      // The same path with a blank or a CR in it, the same method with one: refused each time.
      expect(() => requestHead(method, `${path} x`, {}, "h", undefined)).toThrow(/request path/);
      expect(() => requestHead(method, `${path}\r\nx: y`, {}, "h", undefined)).toThrow(/request path/);
      expect(() => requestHead(`${method} `, path, {}, "h", undefined)).toThrow(/not an HTTP token/);
      expect(() => requestHead("", path, {}, "h", undefined)).toThrow(/not an HTTP token/);
      expect(() => requestHead(method, "", {}, "h", undefined)).toThrow(/request path/);
    }
  });

  it("writes a tracer's trace lines as they are, in place of the trace headers the caller gave", () => {
    const lines = "traceparent: 00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01\r\ntracestate: a=1\r\n";
    const given = {
      accept: "text/plain",
      traceparent: "00-11111111111111111111111111111111-2222222222222222-01",
      tracestate: "b=2",
    };
    expect(requestHead("GET", "/", given, "h", undefined, lines).text).toBe(
      `GET / HTTP/1.1\r\naccept: text/plain\r\n${lines}host: h\r\nconnection: keep-alive\r\n\r\n`,
    );
    // Without lines the caller's trace headers go as given.
    expect(requestHead("GET", "/", given, "h", undefined).text).toBe(
      `GET / HTTP/1.1\r\naccept: text/plain\r\ntraceparent: ${given.traceparent}\r\ntracestate: b=2\r\nhost: h\r\nconnection: keep-alive\r\n\r\n`,
    );
  });
});
