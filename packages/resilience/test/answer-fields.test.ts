import { FieldLines, type SeenNames } from "@tandem/core";
import { describe, expect, it } from "vitest";
import { readAnswerFields } from "../src/http/h1/answer-fields.js";

const STATUS = "HTTP/1.1 200 OK\r\n";

/** The head of `lines` after a status line, as the parser hands it on. */
function read(...lines: string[]): FieldLines {
  return readAnswerFields(`${STATUS}${lines.map((line) => `${line}\r\n`).join("")}`, STATUS.length);
}

describe("an answer's field lines", () => {
  it("gives the fields as undici does: names lower-cased, values trimmed, a repeated name as an array", () => {
    const head = read("Content-Type:  text/plain \t", "Set-Cookie: a=1", "set-cookie: b=2", "X-Empty:");
    expect(head.headers).toEqual({ "content-type": "text/plain", "set-cookie": ["a=1", "b=2"], "x-empty": "" });
    expect(head.get("content-type")).toBe("text/plain");
    expect(head.get("set-cookie")).toEqual(["a=1", "b=2"]);
    expect(head.get("content-length")).toBeUndefined();
    // Asked before and after the object is made: the same answers.
    expect(read("Set-Cookie: a=1", "Set-Cookie: b=2").get("set-cookie")).toEqual(["a=1", "b=2"]);
  });

  it("says whether a field is given as `get` finds it, from lines or an object, an empty value included", () => {
    const lines = ["X-Empty:", "Set-Cookie: a=1", "set-cookie: b=2", "Content-Type: text/plain"];
    for (const head of [read(...lines), FieldLines.of(read(...lines).headers)]) {
      for (const name of ["x-empty", "set-cookie", "content-type", "content-typ", "x-emptys", "cookie", ""]) {
        expect(head.has(name), name).toBe(head.get(name) !== undefined);
      }
      expect(head.has("x-empty")).toBe(true);
      expect(head.has("content-length")).toBe(false);
    }
  });

  it("finds the fields that frame the answer in one pass, as `get` finds each, from lines or an object", () => {
    const lines = [
      "Connection: keep-alive, Upgrade",
      "Keep-Alive: timeout=5",
      "Transfer-Encoding: gzip",
      "transfer-encoding: chunked",
      "Content-Length: 2",
      "X-Connection: no",
      "Connection-Length: 10",
      "Keep-Alives: no",
    ];
    for (const head of [
      read(...lines),
      FieldLines.of(read(...lines).headers),
      read("Content-Type: text/plain"),
      read(),
    ]) {
      const framing = head.framing();
      expect(framing).toEqual({
        connection: head.get("connection"),
        keepAlive: head.get("keep-alive"),
        transferEncoding: head.get("transfer-encoding"),
        contentLength: head.get("content-length"),
      });
      // Found once: asked again, the same object.
      expect(head.framing()).toBe(framing);
    }
    expect(read(...lines).framing()).toEqual({
      connection: "keep-alive, Upgrade",
      keepAlive: "timeout=5",
      transferEncoding: ["gzip", "chunked"],
      contentLength: "2",
    });
  });

  it("reads each head alike whatever names the heads before it gave", () => {
    const seen: SeenNames = [];
    const next = (...lines: string[]) =>
      readAnswerFields(`${STATUS}${lines.map((line) => `${line}\r\n`).join("")}`, STATUS.length, "header", seen);
    expect(next("Content-Type: a", "X: 1").headers).toEqual({ "content-type": "a", x: "1" });
    expect(next("Content-Type: b", "X: 2").headers).toEqual({ "content-type": "b", x: "2" });
    // Other names at the same lines, a name the last one starts with, another case.
    expect(next("X: 3", "X-Longer: 4", "content-TYPE: c").headers).toEqual({
      x: "3",
      "x-longer": "4",
      "content-type": "c",
    });
    expect(next("X-Longer: 5", "X: 6").headers).toEqual({ "x-longer": "5", x: "6" });
    expect(() => next("X-Longer 7")).toThrow(/has no valid name/);
    expect(() => next("X-Longer: 8\u0000")).toThrow(/X-Longer has a CR, LF or NUL/);
    // A name found where the last head had it: its value still ends only at a CRLF.
    expect(next("X-Longer: 9", "X: 10").headers).toEqual({ "x-longer": "9", x: "10" });
    expect(() => next("X-Longer: 9\r1", "X: 10")).toThrow(/X-Longer has a CR, LF or NUL/);
    expect(() => next("X-Longer: 9\n1", "X: 10")).toThrow(/X-Longer has a CR, LF or NUL/);
    expect(() => next("X-Longer: 9\r\r", "X: 10")).toThrow(/X-Longer has a CR, LF or NUL/);
    const last = next("X-Longer: 11", "X:  12 ");
    expect(last.forwarded(new Set())?.text).toBe("X-Longer: 11\r\nX:  12 \r\n");
    expect(last.get("x")).toBe("12");
    // The last line without its CRLF ends with the text.
    expect(readAnswerFields("X-Longer: 13\r\nX: 14", 0, "header", seen).headers).toEqual({ "x-longer": "13", x: "14" });
  });

  it("reads the lines in the bytes given with the text, up to the text's end, and keeps no view of them", () => {
    const seen: SeenNames = [];
    const socket = Buffer.from("X-A: 1\r\n\r\n", "latin1");
    expect(readAnswerFields("X-A: 1\r\n", 0, "header", seen, socket).headers).toEqual({ "x-a": "1" });
    // The socket's buffer is written over by the next read: the names noted are copies.
    socket.write("X-B: 2\r\n\r\n", "latin1");
    expect(readAnswerFields("X-B: 2\r\n", 0, "header", seen, socket).headers).toEqual({ "x-b": "2" });
    // A CR that ends the text is no line end, whatever byte follows it.
    expect(() => readAnswerFields("X: 1\r", 0, "header", undefined, Buffer.from("X: 1\r\n"))).toThrow(
      /X has a CR, LF or NUL/,
    );
  });

  it("makes fields of names a plain object's prototype has", () => {
    const headers = read("Constructor: a", "__proto__: b", "__proto__: c").headers;
    expect(Object.entries(headers)).toEqual([
      ["constructor", "a"],
      ["__proto__", ["b", "c"]],
    ]);
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
  });

  it("refuses a line that is not a valid field, naming it", () => {
    expect(() => read("Bad Name: x")).toThrow(/the header line "Bad Name: x" has no valid name/);
    expect(() => read("no colon")).toThrow(/has no valid name/);
    expect(() => read("X-A: 1", " folded")).toThrow(/folded over two lines/);
    expect(() => read("X-A: 1\r2")).toThrow(/X-A has a CR, LF or NUL/);
    expect(() => read("X-A: 1\0")).toThrow(/X-A has a CR, LF or NUL/);
    expect(() => readAnswerFields("X-T: 1\r\n", 0, "trailer")).not.toThrow();
    expect(() => readAnswerFields("X T: 1\r\n", 0, "trailer")).toThrow(/the trailer line/);
  });

  it("passes its lines on as they came, less those dropped and those its Connection header names", () => {
    const head = read(
      "X-Kept:  as it came ",
      "Connection: keep-alive, X-Hop",
      "x-hop: 1",
      "Keep-Alive: timeout=5",
      "Content-Length: 2",
      "X-Last: z",
    );
    expect(head.forwarded(new Set(["connection", "keep-alive"]))).toEqual({
      text: "X-Kept:  as it came \r\nContent-Length: 2\r\nX-Last: z\r\n",
      contentLength: true,
      date: false,
    });
    // Nothing dropped: the lines whole; the last dropped: nothing after it.
    expect(read("Date: x", "X-A: 1").forwarded(new Set())).toEqual({
      text: "Date: x\r\nX-A: 1\r\n",
      contentLength: false,
      date: true,
    });
    expect(read("X-A: 1", "Connection: close").forwarded(new Set(["connection"]))?.text).toBe("X-A: 1\r\n");
    expect(read().forwarded(new Set())?.text).toBe("");
  });

  it("has no lines to pass on when a value holds a character a writer refuses, or when it came as an object", () => {
    expect(read("X-Bad: a\u0001b").forwarded(new Set())).toBeUndefined();
    expect(read("X-Bad: a\u007fb").forwarded(new Set())).toBeUndefined();
    expect(read("X-Tab: a\tb", "X-Latin: caf\u00e9").forwarded(new Set())?.text).toBe(
      "X-Tab: a\tb\r\nX-Latin: caf\u00e9\r\n",
    );
    const known = FieldLines.of({ "content-length": "2" });
    expect(known.forwarded(new Set())).toBeUndefined();
    expect(known.get("content-length")).toBe("2");
  });
});
