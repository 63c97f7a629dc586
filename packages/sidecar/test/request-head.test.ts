import type { SeenNames } from "@tandem/core";
import { describe, expect, it } from "vitest";
import { headEnd, MORE, NOT_PLAIN, type RequestHead, readRequestHead } from "../src/internal/front/request-head.js";

const bytes = (...lines: string[]) => Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1");

function read(...lines: string[]): RequestHead {
  const head = readRequestHead(bytes(...lines));
  if (head === undefined || head === "more") throw new Error(`the front did not read ${JSON.stringify(lines)}`);
  return head;
}

describe("the proxy front's request reader", () => {
  it("reads a forward-proxy request's head: method, target, fields, the lengths of head and body", () => {
    const head = read("POST http://payments/charge HTTP/1.1", "Host: payments", "X-Note:  a b \t", "Content-Length: 3");
    expect(head).toMatchObject({ method: "POST", url: "http://payments/charge", bodyBytes: 3 });
    expect(head.headBytes).toBe(
      bytes("POST http://payments/charge HTTP/1.1", "Host: payments", "X-Note:  a b \t", "Content-Length: 3").length,
    );
    expect(head.headers).toEqual({ host: "payments", "x-note": "a b", "content-length": "3" });
  });

  it("keeps the header lines as they came, and notes what the sidecar's checks read", () => {
    const head = read(
      "GET http://a/ HTTP/1.1",
      "Host: a",
      "Proxy-Authorization: Bearer t",
      "X-Case:  As Sent ",
      "Connection: keep-alive",
      "X-Last: z",
    );
    expect(head).toMatchObject({ hasHost: true, authorization: "Bearer t", browser: false });
    // Passed on less the names dropped, each kept line byte for byte with its CRLF.
    expect(head.lines.forwarded(new Set(["host", "proxy-authorization", "connection"]))?.text).toBe(
      "X-Case:  As Sent \r\nX-Last: z\r\n",
    );
    expect(head.lines.has("x-case")).toBe(true);
    expect(head.lines.has("x-other")).toBe(false);
    expect(head.lines.framing().connection).toBe("keep-alive");
    for (const browser of ["Origin: https://a", "Sec-Fetch-Site: cross-site"]) {
      expect(read("GET http://a/ HTTP/1.1", "Host: a", browser)).toMatchObject({ browser: true });
    }
    expect(read("GET http://a/ HTTP/1.1", "X-A: 1")).toMatchObject({ hasHost: false, authorization: undefined });
    expect(read("GET http://a/ HTTP/1.1").lines.forwarded(new Set())?.text).toBe("");
  });

  it("reads each line whole: no header line, a colon in a value, an empty value, a hundred lines", () => {
    expect(read("GET http://a/ HTTP/1.1")).toMatchObject({ url: "http://a/", headers: {} });
    expect(read("GET http://a/ HTTP/1.1", "X-Url: http://b:80/c", "X-Empty:", "X-Last: z").headers).toEqual({
      "x-url": "http://b:80/c",
      "x-empty": "",
      "x-last": "z",
    });
    const hundred = Array.from({ length: 100 }, (_, i) => `X-${i}: ${i}`);
    const headers = read("GET http://a/ HTTP/1.1", ...hundred).headers;
    expect(Object.keys(headers)).toHaveLength(100);
    expect(headers["x-99"]).toBe("99");
    // A head cut short after many lines, then a shorter one: each read on its own.
    expect(readRequestHead(Buffer.from(`GET http://a/ HTTP/1.1\r\n${hundred.join("\r\n")}\r\n`))).toBe("more");
    expect(read("GET http://a/ HTTP/1.1", "Host: a").headers).toEqual({ host: "a" });
  });

  it("reads each head of a connection alike whatever names the heads before it gave", () => {
    const seen: SeenNames = [];
    const next = (...lines: string[]) => readRequestHead(bytes(...lines), seen);
    const first = next("GET http://a/ HTTP/1.1", "Host: a", "X-Id: 1");
    expect(first).toMatchObject({ headers: { host: "a", "x-id": "1" } });
    expect(next("GET http://a/ HTTP/1.1", "Host: b", "X-Id: 2")).toMatchObject({ headers: { host: "b", "x-id": "2" } });
    // Other names where the last head had these: longer, shorter, another case, no colon after.
    expect(next("GET http://a/ HTTP/1.1", "Hostname: c", "X-I: 3")).toMatchObject({
      headers: { hostname: "c", "x-i": "3" },
    });
    expect(next("GET http://a/ HTTP/1.1", "HOSTNAME: d", "x-i: 4", "X-More: 5")).toMatchObject({
      headers: { hostname: "d", "x-i": "4", "x-more": "5" },
    });
    expect(next("GET http://a/ HTTP/1.1", "HOSTNAMES: e")).toMatchObject({ headers: { hostnames: "e" } });
    expect(next("GET http://a/ HTTP/1.1", "HOSTNAMES e")).toBeUndefined();
    // A name noted is still refused given twice, and one given as the noted one with a blank.
    expect(next("GET http://a/ HTTP/1.1", "HOSTNAMES: f", "hostnames: g")).toBeUndefined();
    expect(next("GET http://a/ HTTP/1.1", "HOSTNAMES : h")).toBeUndefined();
    expect(next("GET http://a/ HTTP/1.1", "HOSTNAMES: i")).toMatchObject({ headers: { hostnames: "i" } });
  });

  it("leaves to Node what it does not read the way Node reads it", () => {
    for (const lines of [
      ["GET http://a/ HTTP/1.1", "X-Id: 1", "x-id: 2"],
      // A target with a blank, a tab, DEL or obs-text in it; one not in absolute form.
      ["GET http://a/b c HTTP/1.1"],
      ["GET http://a/b\tc HTTP/1.1"],
      ["GET http://a/b\x7fc HTTP/1.1"],
      ["GET http://a/\u00e9 HTTP/1.1"],
      ["GET /a HTTP/1.1"],
      ["GET http://a/ HTTP/1.1", "Constructor: x"],
      ["GET http://a/ HTTP/1.1", "__proto__: x"],
      ["GET http://a/ HTTP/1.1", "Bad Name: x"],
      ["GET http://a/ HTTP/1.1", "No colon"],
      ["GET http://a/ HTTP/1.1", ": no name"],
      ["GET http://a/ HTTP/1.1", "Connection: close"],
      ["GET http://a/ HTTP/1.1", "Transfer-Encoding: chunked"],
      ["GET http://a/ HTTP/1.1", "Content-Length: 1\t"],
      ["GET http://a/ HTTP/1.1", "Content-Length: x"],
      ["GET http://a/ HTTP/1.1", ...Array.from({ length: 101 }, (_, i) => `X-${i}: ${i}`)],
    ]) {
      expect(readRequestHead(bytes(...lines)), JSON.stringify(lines)).toBeUndefined();
    }
    expect(readRequestHead(Buffer.from("GET http://a/ HTTP/1.1\r\nHost: a\r\n"))).toBe("more");
    expect(read("GET http://a/!~%7E?q=x HTTP/1.1").url).toBe("http://a/!~%7E?q=x");
  });

  it("reads the request line as its parts read as strings would: method, absolute target, HTTP/1.1", () => {
    // The request line as it was read in its string: kept as the measure of the byte reader.
    const known = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];
    const reference = (line: string) => {
      const space = line.indexOf(" ");
      const method = line.slice(0, space);
      const versionAt = line.lastIndexOf(" ");
      if (space <= 0 || !known.includes(method) || versionAt <= space || line.slice(versionAt + 1) !== "HTTP/1.1")
        return undefined;
      const url = line.slice(space + 1, versionAt);
      if (!url.startsWith("http://") || /[^\x21-\x7e]/.test(url)) return undefined;
      return { method, url };
    };
    const methods = [...known, "TRACE", "CONNECT", "GE", "GETS", "PATC", "OPTION", "DELETES", "get", ""];
    const targets = [
      "http://a/",
      "http://a/b?c=d",
      "https://a/",
      "/a",
      "http://",
      "http:/a",
      "http://a/b\tc",
      "http://a/\u00e9",
      "",
    ];
    const versions = ["HTTP/1.1", "HTTP/1.0", "HTTP/1.1 ", "HTTP/2", "http/1.1", "HTTP/1.11", "XHTTP/1.1", ""];
    let served = 0;
    for (const method of methods) {
      for (const first of [" ", "  ", "\t"]) {
        for (const target of targets) {
          for (const second of [" ", "  ", ""]) {
            for (const version of versions) {
              const line = `${method}${first}${target}${second}${version}`;
              const head = readRequestHead(bytes(line, "Host: a"));
              const expected = reference(line);
              expect(head === undefined ? undefined : head, JSON.stringify(line)).toEqual(
                expected === undefined ? undefined : expect.objectContaining(expected),
              );
              if (expected !== undefined) served++;
            }
          }
        }
      }
    }
    // Every method of the front's, with the three targets in absolute form (the target's own checks
    // come after: \`http://\` names no host).
    expect(served).toBe(known.length * 3);
  });

  it("finds the head's end in its bytes: before a body, split anywhere, and not past 8 KiB", () => {
    const text = "POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody";
    const whole = readRequestHead(Buffer.from(text, "latin1"));
    expect(whole).toMatchObject({ headBytes: text.length - 4, bodyBytes: 4 });
    // Cut anywhere before the blank line ends, it waits for more; a body's bytes are not the head's.
    for (let cut = 5; cut < text.length - 4; cut++) {
      expect(readRequestHead(Buffer.from(text.slice(0, cut), "latin1")), JSON.stringify(text.slice(0, cut))).toBe(
        "more",
      );
    }
    expect(readRequestHead(Buffer.from(`${text.slice(0, -4)}\u0001\u0000`, "latin1"))).toMatchObject({ bodyBytes: 4 });
    // A bare CR or LF, a control character: Node's, at once, even before the end.
    for (const bad of ["Host: a\rb", "Host: a\nb", "Host: a\u0001", "Host: \u007f"]) {
      expect(readRequestHead(Buffer.from(`GET http://a/ HTTP/1.1\r\n${bad}`, "latin1")), bad).toBeUndefined();
    }
    const long = `GET http://a/ HTTP/1.1\r\nX-Long: ${"x".repeat(8 * 1024)}`;
    expect(readRequestHead(Buffer.from(long, "latin1"))).toBeUndefined();
    expect(readRequestHead(Buffer.from(`${long}\r\n\r\n`, "latin1"))).toBeUndefined();
  });

  it("finds the head's end as a byte-at-a-time reading does, whatever the bytes", () => {
    // The reference: each byte in turn, as the scanner read them before its inner loop.
    const reference = (bytes: Buffer): number => {
      for (let i = 0; i < bytes.length; i++) {
        if (i >= 8 * 1024) return NOT_PLAIN;
        const c = bytes[i] as number;
        if ((c >= 0x20 && c !== 0x7f) || c === 0x09) continue;
        if (c !== 0x0d) return NOT_PLAIN;
        if (i + 1 === bytes.length) return MORE;
        if (bytes[i + 1] !== 0x0a) return NOT_PLAIN;
        if (i + 3 < bytes.length && bytes[i + 2] === 0x0d && bytes[i + 3] === 0x0a) return i;
        i++;
      }
      return MORE;
    };
    // Pieces rather than single bytes, so that line ends and heads' ends come often.
    const pieces = [
      "\r\n",
      "\r\n",
      "\r\n\r\n",
      "a",
      "ab:",
      "\t",
      " ",
      "\r",
      "\n",
      "\u007f",
      "\u0000",
      "\u001f",
      "\u0080\u00ff",
    ];
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    let found = 0;
    for (let t = 0; t < 50_000; t++) {
      let text = "";
      for (let n = 1 + (next() % 8); n > 0; n--) text += pieces[next() % pieces.length];
      const bytes = Buffer.from(text, "latin1");
      const end = headEnd(bytes);
      expect(end, JSON.stringify([...bytes])).toBe(reference(bytes));
      if (end >= 0) found++;
    }
    expect(found).toBeGreaterThan(100);
    // Around the 8 KiB bound: a line end across it, the bound itself, a head that ends just before.
    for (const at of [8 * 1024 - 5, 8 * 1024 - 4, 8 * 1024 - 3, 8 * 1024 - 2, 8 * 1024 - 1, 8 * 1024]) {
      for (const tail of ["\r\n", "\r\n\r\n", "\r\nx", "\r\n\r\nxx"]) {
        const bytes = Buffer.from(`${"x".repeat(at)}${tail}`, "latin1");
        expect(headEnd(bytes), `${at} ${JSON.stringify(tail)}`).toBe(reference(bytes));
      }
    }
  });
});
