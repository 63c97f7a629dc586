import type { IncomingHttpHeaders } from "node:http";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { headEnd, ResponseParser, statusLine } from "../src/http/h1/response-parser.js";

interface Seen {
  heads: { statusCode: number; headers: IncomingHttpHeaders; statusText: string }[];
  body: string;
  ended: Record<string, string | string[]> | undefined;
  leftover: number;
}

/** Feeds `text` to a parser in the pieces `cuts` splits it into; returns what the sink saw. */
function parse(
  text: string | Buffer,
  options: { head?: boolean; cuts?: number[]; close?: boolean } = {},
): Seen & { parser: ResponseParser } {
  const bytes = typeof text === "string" ? Buffer.from(text, "latin1") : text;
  const seen: Seen = { heads: [], body: "", ended: undefined, leftover: 0 };
  const parser = new ResponseParser();
  parser.expect(
    {
      head: (statusCode, head, statusText) => seen.heads.push({ statusCode, headers: head.headers, statusText }),
      data: (chunk) => {
        seen.body += chunk.toString("latin1");
      },
      end: (trailers) => {
        seen.ended = trailers;
      },
    },
    options.head ?? false,
  );
  const cuts = [...new Set(options.cuts ?? [])].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b);
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    // A copy per piece: the parser must not rely on a piece staying as it was.
    seen.leftover += parser.feed(Buffer.from(bytes.subarray(from, cut)));
    from = cut;
  }
  if (options.close) parser.close();
  return { ...seen, parser };
}

describe("ResponseParser", () => {
  it("reads a Content-Length body, whatever pieces it arrives in", () => {
    const text = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nContent-Length: 11\r\n\r\nhello world";
    for (let cut = 1; cut < text.length; cut++) {
      const seen = parse(text, { cuts: [cut, cut + 3] });
      expect(seen.heads).toEqual([
        { statusCode: 200, headers: { "content-type": "text/plain", "content-length": "11" }, statusText: "OK" },
      ]);
      expect(seen.body).toBe("hello world");
      expect(seen.ended).toEqual({});
      expect(seen.parser.keepAlive).toBe(true);
    }
  });

  it("decodes a chunked body with extensions and hands on its trailers", () => {
    const text =
      "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nx-checksum: abc\r\n\r\n";
    for (let cut = 1; cut < text.length; cut++) {
      const seen = parse(text, { cuts: [cut] });
      expect(seen.body).toBe("hello 0123456789");
      expect(seen.ended).toEqual({ "x-checksum": "abc" });
      expect(seen.leftover).toBe(0);
    }
  });

  it("reads every framing the same in any pieces (property)", () => {
    const framing = fc.constantFrom("length", "chunked", "close");
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        framing,
        fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 600 }), { maxLength: 6 }),
        (body, frame, chunkSizes, cuts) => {
          let head = "HTTP/1.1 201 Created\r\nx-a: 1\r\nX-A: 2\r\n";
          let wire: Buffer;
          if (frame === "length") {
            wire = Buffer.concat([Buffer.from(`${head}content-length: ${body.length}\r\n\r\n`), body]);
          } else if (frame === "chunked") {
            head += "transfer-encoding: chunked\r\n\r\n";
            const parts: Buffer[] = [Buffer.from(head)];
            let at = 0;
            for (let i = 0; at < body.length; i++) {
              const size = Math.min(chunkSizes[i % Math.max(1, chunkSizes.length)] ?? 7, body.length - at);
              parts.push(
                Buffer.from(`${size.toString(16)}\r\n`),
                Buffer.from(body.subarray(at, at + size)),
                Buffer.from("\r\n"),
              );
              at += size;
            }
            parts.push(Buffer.from("0\r\n\r\n"));
            wire = Buffer.concat(parts);
          } else {
            wire = Buffer.concat([Buffer.from(`${head}\r\n`), body]);
          }
          const seen = parse(wire, { cuts, close: frame === "close" });
          expect(seen.heads).toHaveLength(1);
          expect(seen.heads[0]?.headers["x-a"]).toEqual(["1", "2"]);
          expect(Buffer.from(seen.body, "latin1").equals(Buffer.from(body))).toBe(true);
          expect(seen.ended).toBeDefined();
          expect(seen.parser.keepAlive).toBe(frame !== "close");
        },
      ),
    );
  });

  it("reads no body for HEAD, 204 and 304, whatever Content-Length says", () => {
    expect(parse("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", { head: true }).ended).toEqual({});
    expect(parse("HTTP/1.1 204 No Content\r\n\r\n").ended).toEqual({});
    const notModified = parse("HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n");
    expect(notModified.ended).toEqual({});
    expect(notModified.parser.keepAlive).toBe(true);
  });

  it("skips 100 Continue and 103 Early Hints before the answer", () => {
    const seen = parse(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
      { cuts: [10, 30, 60] },
    );
    expect(seen.heads.map((h) => h.statusCode)).toEqual([200]);
    expect(seen.body).toBe("ok");
  });

  it("reads a body framed by the end of the connection, and never keeps that connection", () => {
    const seen = parse("HTTP/1.1 200 OK\r\n\r\nuntil the end", { close: true });
    expect(seen.body).toBe("until the end");
    expect(seen.ended).toEqual({});
    expect(seen.parser.keepAlive).toBe(false);
  });

  it("follows Connection and the HTTP version to tell whether the connection is kept", () => {
    expect(parse("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").parser.keepAlive).toBe(false);
    expect(parse("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n").parser.keepAlive).toBe(false);
    expect(parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\ncontent-length: 0\r\n\r\n").parser.keepAlive).toBe(true);
    const both = parse(
      "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    );
    expect(both.body).toBe("ok");
    expect(both.parser.keepAlive).toBe(false);
  });

  it("counts the bytes after the answer ends", () => {
    expect(parse("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA").leftover).toBe(5);
  });

  it("finds a head's end where Buffer.indexOf finds CRLF CRLF, among runs of CRs and LFs (property)", () => {
    const CRLF2 = Buffer.from("\r\n\r\n");
    fc.assert(
      fc.property(fc.array(fc.constantFrom(0x0d, 0x0a, 0x61, 0x3a), { maxLength: 64 }), fc.nat(70), (codes, from) => {
        const bytes = Buffer.from(codes);
        expect(headEnd(bytes, from)).toBe(bytes.indexOf(CRLF2, from));
      }),
      { numRuns: 5000 },
    );
    expect(headEnd(Buffer.from("\r\n\n\r\n\r\r\n\r\n"), 0)).toBe(6);
    expect(headEnd(Buffer.from("ab\r\n\r\n"), 3)).toBe(-1);
  });

  it("reads a status line as RFC 9112's grammar does, checked against a regular expression of it", () => {
    const GRAMMAR = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r\n]*))?$/;
    const part = (...choices: string[]) => fc.constantFrom(...choices);
    const lines = fc
      .tuple(
        part("HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/2", "http/1.1", "HTTP/1.1 ", ""),
        part(" ", "", "  ", "\t"),
        fc.array(part("0", "2", "9", ":", "/", "x", " "), { maxLength: 4 }),
        part("", " ", "\t", "\r"),
        fc.array(part("OK", " ", "\r", "\n", "\t", "\u00e9", "x"), { maxLength: 4 }),
      )
      .map(
        ([version, blank, digits, separator, text]) =>
          `${version}${blank}${digits.join("")}${separator}${text.join("")}`,
      );
    fc.assert(
      fc.property(lines, (line) => {
        const match = GRAMMAR.exec(line);
        const read = statusLine(Buffer.from(line, "latin1"), line, line.length);
        expect(read).toEqual(match === null ? undefined : { code: Number(match[2]), text: match[3] ?? "" });
      }),
      { numRuns: 20000 },
    );
    for (const [line, code] of [
      ["HTTP/1.1 200 OK", 200],
      ["HTTP/1.0 404", 404],
      ["HTTP/1.1 599 ", 599],
      ["HTTP/1.1 200 200 OK", 200],
    ] as const) {
      expect(statusLine(Buffer.from(line), line, line.length)?.code, line).toBe(code);
    }
    for (const line of ["HTTP/1.1 20 OK", "HTTP/1.1 2000", "HTTP/1.1  200 OK", "HTTP/1.2 200 OK", "HTTP/1.1 200\tOK"]) {
      expect(statusLine(Buffer.from(line), line, line.length), line).toBeUndefined();
    }
  });

  it("keeps the status text and takes a status line without one", () => {
    expect(parse("HTTP/1.1 418 I'm a teapot\r\ncontent-length: 0\r\n\r\n").heads[0]?.statusText).toBe("I'm a teapot");
    expect(parse("HTTP/1.1 200\r\ncontent-length: 0\r\n\r\n").heads[0]).toMatchObject({
      statusCode: 200,
      statusText: "",
    });
  });

  it.each([
    ["a status line that is not HTTP/1.x", "HTTP/2 200 OK\r\n\r\n", /the status line "HTTP\/2 200 OK"/],
    ["a folded header", "HTTP/1.1 200 OK\r\nx-a: 1\r\n  2\r\ncontent-length: 0\r\n\r\n", /folded over two lines/],
    ["a header without a name", "HTTP/1.1 200 OK\r\n: x\r\n\r\n", /has no valid name/],
    ["a header with a space in its name", "HTTP/1.1 200 OK\r\nx a: 1\r\n\r\n", /has no valid name/],
    ["a bare LF in a value", "HTTP/1.1 200 OK\r\nx-a: 1\n2\r\n\r\n", /CR, LF or NUL/],
    ["a bare CR in a value", "HTTP/1.1 200 OK\r\nx-a: 1\r2\r\n\r\n", /x-a has a CR, LF or NUL/],
    ["a NUL in a value", "HTTP/1.1 200 OK\r\nx-a: 1\u00002\r\ncontent-length: 0\r\n\r\n", /x-a has a CR, LF or NUL/],
    ["a CR before a line's CRLF", "HTTP/1.1 200 OK\r\nx-a: 1\r\r\n\r\n", /x-a has a CR, LF or NUL/],
    ["a Content-Length that is not a number", "HTTP/1.1 200 OK\r\ncontent-length: 1x\r\n\r\n", /not a number of bytes/],
    [
      "two Content-Lengths",
      "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
      /two Content-Lengths/,
    ],
    [
      "a chunk size that is not hexadecimal",
      "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
      /not hexadecimal/,
    ],
    [
      "a chunk longer than its size",
      "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n",
      /longer than its size/,
    ],
    [
      "a chunk line ending in a bare LF",
      "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\nok\r\n",
      /does not end with CRLF/,
    ],
    ["a 101 nobody asked for", "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n", /switched protocols/],
  ])("refuses %s with a protocol error saying what is wrong", (_what, text, message) => {
    let error: { code?: string; message?: string } | undefined;
    try {
      parse(text);
    } catch (e) {
      error = e as typeof error;
    }
    expect(error?.code).toBe("HPE_INVALID_RESPONSE");
    expect(error?.message).toMatch(/^the upstream's answer is not valid HTTP\/1\.1: /);
    expect(error?.message).toMatch(message);
  });

  it("refuses a head larger than 64 KiB, even when it never ends", () => {
    const huge = `HTTP/1.1 200 OK\r\nx-big: ${"a".repeat(70 * 1024)}`;
    expect(() => parse(huge, { cuts: [1000, 30_000] })).toThrow(/larger than 65536 bytes/);
  });

  it("says an answer was cut short when the connection ends before it does", () => {
    expect(() => parse("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", { close: true })).toThrow(
      /closed the connection before the answer's body ended/,
    );
    expect(() => parse("HTTP/1.1 200 O", { close: true })).toThrow(/closed the connection before it answered/);
  });
});
