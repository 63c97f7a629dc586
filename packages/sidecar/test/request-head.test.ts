import { describe, expect, it } from "vitest";
import { type RequestHead, readRequestHead } from "../src/internal/front/request-head.js";

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
});
