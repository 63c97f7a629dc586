import { Agent, IncomingMessage, request } from "node:http";
import { connect, type Socket } from "node:net";
import { type Concern, type ProxyRequest, TandemError } from "@tandem/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawRequest, startInProcess } from "./helpers.js";

/** What the forward proxy was handed, and by whom: the front, or Node's server. */
interface Seen {
  byFront: boolean;
  method: string | undefined;
  path: string;
  headers: Record<string, unknown>;
  body: string;
}

/**
 * A concern whose forward proxy answers from the target's path, and notes each request. The
 * request's class tells who read it: Node's server hands an `IncomingMessage`, the front its own.
 */
function echoProxy(seen: Seen[], aborted: string[]): Concern {
  const forwardProxy = async ({ req, res, target, signal }: ProxyRequest) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString();
    seen.push({
      byFront: !(req instanceof IncomingMessage),
      method: req.method,
      path: target.path,
      headers: { ...req.headers },
      body,
    });
    const path = target.path;
    if (path === "/fail") throw new TandemError("timeout", "the upstream did not answer in time");
    if (path === "/hang") {
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
      aborted.push(path);
      return;
    }
    if (path === "/big") {
      // 8 MiB in 64 KiB chunks, waiting for `drain` whenever the client's connection is full.
      res.writeHead(200, { "content-length": String(128 * 65536) });
      const chunk = Buffer.alloc(65536, 0x61);
      let full = 0;
      for (let i = 0; i < 128; i++) {
        if (!res.write(chunk)) {
          full++;
          await new Promise<void>((resolve) => res.once("drain", resolve));
        }
      }
      res.end();
      aborted.push(`big: full ${full} times`);
      return;
    }
    if (path === "/bad-header") {
      res.writeHead(200, { "x-bad": "a\u0001b" });
      res.end();
      return;
    }
    if (path === "/slow") await new Promise((resolve) => setTimeout(resolve, 200));
    if (path === "/empty") {
      res.writeHead(204, { "x-kind": "empty" });
      res.end();
      return;
    }
    if (path === "/chunked") {
      res.writeHead(200, { "content-type": "text/plain", "set-cookie": ["a=1", "b=2"] });
      res.write(Buffer.from("abc"));
      // An empty chunk is nothing to send, not the end of the body.
      res.write(Buffer.alloc(0));
      res.write(Buffer.from("de"));
      res.end();
      return;
    }
    const text = JSON.stringify({ method: req.method, path, body });
    res.writeHead(200, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
    res.write(Buffer.from(text));
    res.end();
  };
  return {
    name: "echo",
    local: async () => ({ facets: {}, forwardProxy }),
    remote: () => Promise.reject(new Error("not used")),
  };
}

/** Answers read from one connection, in order: status, headers and body of each. */
class Conversation {
  readonly socket: Socket;
  #text = "";
  #waiters: (() => void)[] = [];

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.on("data", (chunk: Buffer) => {
      this.#text += chunk.toString("latin1");
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.socket.on("close", () => {
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** Waits until `count` whole answers (Content-Length or chunked, or bodiless) arrived. */
  async answers(count: number, timeoutMs = 3000): Promise<Answer[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = parseAnswers(this.#text);
      if (parsed.length >= count || this.socket.destroyed || Date.now() > deadline) return parsed;
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

interface Answer {
  status: number;
  headers: [string, string][];
  body: string;
}

function header(answer: Answer | undefined, name: string): string | undefined {
  return answer?.headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

function parseAnswers(text: string): Answer[] {
  const answers: Answer[] = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf("\r\n\r\n", at);
    if (end === -1) break;
    const lines = text.slice(at, end).split("\r\n");
    const status = Number(lines[0]?.split(" ")[1]);
    const headers = lines.slice(1).map((line): [string, string] => {
      const colon = line.indexOf(":");
      return [line.slice(0, colon), line.slice(colon + 1).trim()];
    });
    let body = "";
    let next = end + 4;
    const length = headers.find(([n]) => n.toLowerCase() === "content-length")?.[1];
    const chunked = headers.some(([n, v]) => n.toLowerCase() === "transfer-encoding" && v === "chunked");
    if (status === 204 || status === 304) {
      // bodiless
    } else if (length !== undefined) {
      if (text.length < next + Number(length)) break;
      body = text.slice(next, next + Number(length));
      next += Number(length);
    } else if (chunked) {
      let complete = false;
      for (;;) {
        const lineEnd = text.indexOf("\r\n", next);
        if (lineEnd === -1) break;
        const size = Number.parseInt(text.slice(next, lineEnd), 16);
        if (size === 0) {
          if (text.length < lineEnd + 4) break;
          next = lineEnd + 4;
          complete = true;
          break;
        }
        if (text.length < lineEnd + 2 + size + 2) break;
        body += text.slice(lineEnd + 2, lineEnd + 2 + size);
        if (text.slice(lineEnd + 2 + size, lineEnd + 4 + size) !== "\r\n") {
          throw new Error(`a chunk of ${size} bytes is not followed by CRLF in ${JSON.stringify(text.slice(at))}`);
        }
        next = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
    }
    answers.push({ status, headers, body });
    at = next;
  }
  return answers;
}

const TOKEN = "s3cret";
const GET = (path: string, extra = "") =>
  `GET http://echo${path} HTTP/1.1\r\nHost: echo\r\nProxy-Authorization: Bearer ${TOKEN}\r\n${extra}\r\n`;

describe("the proxy front", () => {
  const seen: Seen[] = [];
  const aborted: string[] = [];
  let harness: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    harness = await startInProcess({ token: TOKEN, headersTimeoutMs: 300, requestTimeoutMs: 600 }, [
      echoProxy(seen, aborted),
    ]);
  });
  afterAll(async () => {
    await harness.sidecar.stop("test over");
  });

  /** What the proxy saw of the requests sent since `from`. */
  const since = (from: number) => seen.slice(from);

  it("serves a proxied request itself and answers as Node's server does", async () => {
    const from = seen.length;
    const talk = new Conversation(harness.apiPort);
    talk.send(GET("/echo?x=1", "X-Custom:  spaced value \t\r\n"));
    const [answer] = await talk.answers(1);
    talk.close();
    expect(answer?.status).toBe(200);
    expect(JSON.parse(answer?.body ?? "")).toEqual({ method: "GET", path: "/echo?x=1", body: "" });
    expect(header(answer, "connection")).toBe("keep-alive");
    expect(header(answer, "keep-alive")).toBe("timeout=60");
    expect(Date.parse(header(answer, "date") ?? "")).not.toBeNaN();
    expect(since(from)).toEqual([
      {
        byFront: true,
        method: "GET",
        path: "/echo?x=1",
        headers: { host: "echo", "proxy-authorization": `Bearer ${TOKEN}`, "x-custom": "spaced value" },
        body: "",
      },
    ]);
  });

  it("keeps a connection alive across requests, pipelined ones included, and answers in order", async () => {
    const from = seen.length;
    const talk = new Conversation(harness.apiPort);
    talk.send(GET("/one"));
    await talk.answers(1);
    talk.send(GET("/two") + GET("/chunked") + GET("/empty"));
    const answers = await talk.answers(4);
    talk.close();
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 204]);
    expect(JSON.parse(answers[1]?.body ?? "").path).toBe("/two");
    // No Content-Length: chunked, each header line of an array value written, as Node writes them.
    expect(answers[2]?.body).toBe("abcde");
    expect(header(answers[2], "transfer-encoding")).toBe("chunked");
    expect(answers[2]?.headers.filter(([n]) => n === "set-cookie").map(([, v]) => v)).toEqual(["a=1", "b=2"]);
    expect(header(answers[3], "x-kind")).toBe("empty");
    expect(since(from).map((s) => [s.path, s.byFront])).toEqual([
      ["/one", true],
      ["/two", true],
      ["/chunked", true],
      ["/empty", true],
    ]);
  });

  it("waits for a body that comes in pieces and hands it whole to the proxy", async () => {
    const from = seen.length;
    const talk = new Conversation(harness.apiPort);
    const body = "x".repeat(3000);
    talk.send(
      `POST http://echo/echo HTTP/1.1\r\nHost: echo\r\nProxy-Authorization: Bearer ${TOKEN}\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 1000)}`,
    );
    await new Promise((r) => setTimeout(r, 50));
    talk.send(body.slice(1000));
    const [answer] = await talk.answers(1);
    talk.close();
    expect(JSON.parse(answer?.body ?? "").body).toBe(body);
    expect(since(from)[0]?.byFront).toBe(true);
  });

  it("leaves every request it does not read in one way with Node to Node's server, which answers it as before", async () => {
    const cases: { name: string; text: string; status: number; byFront?: boolean }[] = [
      {
        name: "chunked body",
        text: GET("/echo", "Transfer-Encoding: chunked\r\n").replace(/\r\n$/, "\r\n3\r\nabc\r\n0\r\n\r\n"),
        status: 200,
        byFront: false,
      },
      { name: "a header twice", text: GET("/echo", "X-A: 1\r\nX-A: 2\r\n"), status: 200, byFront: false },
      { name: "a backslash in the target", text: GET("\\charge"), status: 400 },
      { name: "a fragment in the target", text: GET("#x"), status: 400 },
      { name: "a tab after the Content-Length", text: GET("/echo", "Content-Length: 0\t\r\n"), status: 400 },
      {
        name: "a header the object prototype has",
        text: GET("/echo", "Constructor: x\r\n"),
        status: 200,
        byFront: false,
      },
      { name: "Connection: close", text: GET("/echo", "Connection: close\r\n"), status: 200, byFront: false },
      { name: "wrong token", text: GET("/echo").replace(TOKEN, "nope"), status: 407 },
      { name: "two Hosts", text: GET("/echo", "Host: other\r\n"), status: 400 },
      { name: "Origin", text: GET("/echo", "Origin: http://evil.example\r\n"), status: 403 },
      { name: "folded header", text: GET("/echo", "X-A: 1\r\n 2\r\n"), status: 400 },
      { name: "a control character in a value", text: GET("/echo", "X-A: a\x01b\r\n"), status: 400 },
      { name: "DEL in a value", text: GET("/echo", "X-A: a\x7fb\r\n"), status: 400 },
      { name: "a bare CR in a value", text: GET("/echo", "X-A: a\rb\r\n"), status: 400 },
      { name: "a bare LF in a value", text: GET("/echo", "X-A: a\nb\r\n"), status: 400 },
      { name: "space before colon", text: GET("/echo", "X-A : 1\r\n"), status: 400 },
      { name: "unknown method", text: GET("/echo").replace("GET", "FETCH"), status: 400 },
      { name: "HTTP/1.0", text: GET("/echo").replace("HTTP/1.1", "HTTP/1.0"), status: 200, byFront: false },
      {
        name: "the sidecar's own API",
        text: "GET /v1/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer s3cret\r\n\r\n",
        status: 200,
      },
    ];
    for (const c of cases) {
      const from = seen.length;
      const talk = new Conversation(harness.apiPort);
      talk.send(c.text);
      const [answer] = await talk.answers(1);
      talk.close();
      expect(answer?.status, c.name).toBe(c.status);
      if (c.byFront !== undefined)
        expect(
          since(from).map((s) => s.byFront),
          c.name,
        ).toEqual([c.byFront]);
      else expect(since(from), c.name).toEqual([]);
    }
  });

  it("hands a connection to Node's server at a request the front does not serve, pipelined bytes and all", async () => {
    const from = seen.length;
    const talk = new Conversation(harness.apiPort);
    talk.send(GET("/first"));
    await talk.answers(1);
    talk.send("GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + GET("/after") + GET("/chunked"));
    const answers = await talk.answers(4);
    talk.close();
    expect(answers.map((a) => a.status)).toEqual([200, 404, 200, 200]);
    expect(answers[3]?.body).toBe("abcde");
    expect(since(from).map((s) => [s.path, s.byFront])).toEqual([
      ["/first", true],
      ["/after", false],
      ["/chunked", false],
    ]);
  });

  it("answers an upstream failure as the sidecar's problem document, and keeps the connection", async () => {
    const talk = new Conversation(harness.apiPort);
    talk.send(GET("/fail") + GET("/echo"));
    const answers = await talk.answers(2);
    talk.close();
    expect(answers[0]?.status).toBe(504);
    expect(header(answers[0], "x-tandem-error")).toBe("timeout");
    expect(header(answers[0], "content-type")).toBe("application/problem+json");
    expect(JSON.parse(answers[0]?.body ?? "")).toMatchObject({
      status: 504,
      detail: "the upstream did not answer in time",
    });
    expect(answers[1]?.status).toBe(200);
  });

  it("refuses, as Node's server does, an answer header with a character HTTP does not allow", async () => {
    const talk = new Conversation(harness.apiPort);
    talk.send(GET("/bad-header"));
    const [answer] = await talk.answers(1);
    talk.close();
    expect(answer?.status).toBe(500);
    expect(header(answer, "x-tandem-error")).toBe("internal");
    expect(answer?.headers.some(([n]) => n === "x-bad")).toBe(false);
  });

  it("answers 408 to a request whose head or body is too slow", async () => {
    const head = await rawRequest(harness.apiPort, "GET http://echo/echo HTTP/1.1\r\nHost: echo\r\n", 2500);
    expect(head).toMatch(/^HTTP\/1\.1 408 /);
    expect(head).toContain("x-tandem-error: request_timeout");
    const body = await rawRequest(harness.apiPort, `${GET("/echo", "Content-Length: 10\r\n")}abc`, 2500);
    expect(body).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("closes a connection that sends nothing in time, and hands bytes that are not HTTP to Node at once", async () => {
    const started = Date.now();
    const silent = await rawRequest(harness.apiPort, "", 2500);
    // Closed by the sidecar at the headers timeout (300 ms here), not by the helper at 2.5 s.
    expect(Date.now() - started).toBeLessThan(2000);
    expect(silent === "" || silent.startsWith("HTTP/1.1 408 ")).toBe(true);
    // A TLS hello: Node's parser refuses it, with the problem answer of a malformed request.
    const tls = await rawRequest(harness.apiPort, "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 2500);
    expect(tls).toMatch(/^HTTP\/1\.1 400 /);
    expect(tls).toContain("x-tandem-error: bad_request");
  });

  it("hands a head that cannot be served to Node as soon as its bytes show it, not at the end of the head", async () => {
    const started = Date.now();
    // A NUL in a header line, and no blank line after it: Node refuses it at once.
    const answer = await rawRequest(
      harness.apiPort,
      "GET http://echo/echo HTTP/1.1\r\nHost: echo\r\nX-A: a\u0000b\r\n",
      2500,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("answers 400 to a request its connection cuts short", async () => {
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(harness.apiPort, "127.0.0.1");
      let text = "";
      socket.on("data", (c: Buffer) => (text += c.toString("latin1")));
      socket.on("close", () => resolve(text));
      socket.end(`${GET("/echo", "Content-Length: 10\r\n")}abc`);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
  });

  it("gives up a request whose client goes away before the answer", async () => {
    const talk = new Conversation(harness.apiPort);
    talk.send(GET("/hang"));
    const started = seen.length;
    while (seen.length === started || seen.at(-1)?.path !== "/hang") await new Promise((r) => setTimeout(r, 10));
    talk.close();
    const deadline = Date.now() + 2000;
    while (!aborted.includes("/hang") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(aborted).toContain("/hang");
  });

  it("holds a large answer to the pace of a client that reads slowly", async () => {
    const talk = new Conversation(harness.apiPort);
    talk.socket.pause();
    talk.send(GET("/big") + GET("/echo"));
    await new Promise((r) => setTimeout(r, 300));
    talk.socket.resume();
    const answers = await talk.answers(2, 10_000);
    talk.close();
    expect(answers[0]?.body.length).toBe(128 * 65536);
    expect(answers[1]?.status).toBe(200);
    const note = aborted.find((a) => a.startsWith("big:"));
    expect(note).toBeDefined();
    expect(note).not.toBe("big: full 0 times");
  });

  it("serves a standard proxy client over one kept-alive connection", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const from = seen.length;
    const reused: boolean[] = [];
    for (const path of ["/a", "/b", "/c"]) {
      const body = await new Promise<string>((resolve, reject) => {
        const req = request(
          {
            agent,
            host: "127.0.0.1",
            port: harness.apiPort,
            path: `http://echo${path}`,
            method: "POST",
            headers: { host: "echo", "proxy-authorization": `Bearer ${TOKEN}`, "content-type": "text/plain" },
          },
          (res) => {
            let text = "";
            res.on("data", (c: Buffer) => (text += c));
            res.on("end", () => resolve(text));
          },
        );
        req.on("error", reject);
        reused.push(req.reusedSocket);
        req.end(`body of ${path}`);
      });
      expect(JSON.parse(body)).toEqual({ method: "POST", path, body: `body of ${path}` });
    }
    agent.destroy();
    expect(reused).toEqual([false, true, true]);
    expect(since(from).every((s) => s.byFront)).toBe(true);
  });
});

describe("the proxy front while the sidecar drains", () => {
  it("stops even while a client that was answered 408 keeps its end of the connection open", async () => {
    const harness = await startInProcess({ token: TOKEN, headersTimeoutMs: 200 }, [echoProxy([], [])]);
    // Half-open: the client does not end its side when the sidecar ends its own.
    const socket = connect({ port: harness.apiPort, host: "127.0.0.1", allowHalfOpen: true });
    socket.on("error", () => {});
    const answer = await new Promise<string>((resolve) => socket.once("data", (c: Buffer) => resolve(c.toString())));
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    const outcome = await Promise.race([
      harness.sidecar.stop("test").then(() => "stopped"),
      new Promise((r) => setTimeout(() => r("still stopping after 3 s"), 3000)),
    ]);
    socket.destroy();
    expect(outcome).toBe("stopped");
  });

  it("closes its idle connections, and tells a request in flight its connection closes", async () => {
    const seen: Seen[] = [];
    const harness = await startInProcess({ token: TOKEN }, [echoProxy(seen, [])]);
    const idle = new Conversation(harness.apiPort);
    idle.send(GET("/echo"));
    await idle.answers(1);
    const busy = new Conversation(harness.apiPort);
    busy.send(GET("/slow"));
    while (seen.length < 2) await new Promise((r) => setTimeout(r, 10));
    const idleClosed = new Promise((resolve) => idle.socket.once("close", resolve));
    const stopping = harness.sidecar.stop("test");
    await idleClosed;
    const [answer] = await busy.answers(1);
    expect(answer?.status).toBe(200);
    expect(header(answer, "connection")).toBe("close");
    await new Promise((resolve) => (busy.socket.destroyed ? resolve(null) : busy.socket.once("close", resolve)));
    await stopping;
    expect(seen.map((s) => s.byFront)).toEqual([true, true]);
  });
});
