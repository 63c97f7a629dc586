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
});
