import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import type { Exchange } from "../src/http/h1/exchange.js";
import { Http1Pool } from "../src/http/h1/http1-pool.js";

interface Answer {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: string;
  trailers: Record<string, string | string[]>;
}

type Options = Parameters<Http1Pool["dispatch"]>[0];

/** Sends one request through `pool`; `onStart` gets the exchange (the handler's controller). */
function send(
  pool: Http1Pool,
  options: Partial<Options>,
  hooks: { onHead?: (c: Exchange) => void; onData?: (c: Exchange) => void } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let answer: Answer | undefined;
    const chunks: Buffer[] = [];
    pool.dispatch(
      { method: "GET", path: "/", headers: {}, ...options } as Options,
      {
        onResponseStart(controller: Exchange, statusCode: number, headers: IncomingHttpHeaders) {
          answer = { statusCode, headers, body: "", trailers: {} };
          hooks.onHead?.(controller);
        },
        onResponseData(controller: Exchange, chunk: Buffer) {
          chunks.push(chunk);
          hooks.onData?.(controller);
        },
        onResponseEnd(_c: Exchange, trailers: Record<string, string | string[]>) {
          if (answer === undefined) return reject(new Error("ended without a head"));
          resolve({ ...answer, body: Buffer.concat(chunks).toString(), trailers });
        },
        onResponseError(_c: Exchange | undefined, error: Error) {
          reject(error);
        },
      } as never,
    );
  });
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A raw TCP upstream: `serve` gets each connection and its requests' heads as they arrive. */
async function rawServer(serve: (socket: Socket, request: string, index: number) => void) {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    let buffered = "";
    let index = 0;
    socket.on("data", (bytes) => {
      buffered += bytes.toString("latin1");
      for (let end = buffered.indexOf("\r\n\r\n"); end >= 0; end = buffered.indexOf("\r\n\r\n")) {
        const request = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        serve(socket, request, index++);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return { origin, sockets };
}

async function httpServer(
  handler: Parameters<typeof createHttpServer>[1],
): Promise<{ origin: string; server: Server; connections: () => number }> {
  let connections = 0;
  const server = createHttpServer(handler);
  server.on("connection", () => connections++);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return {
    origin: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    server,
    connections: () => connections,
  };
}

function pool(origin: string, options?: ConstructorParameters<typeof Http1Pool>[1]): Http1Pool {
  const p = new Http1Pool(origin, options);
  cleanups.push(() => p.destroy());
  return p;
}

const OK = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

describe("Http1Pool", () => {
  it("keeps connections alive: one connection serves requests sent one after another", async () => {
    const upstream = await httpServer((req, res) => res.end(`${req.method} ${req.url} ${req.headers.host}`));
    const p = pool(upstream.origin);
    for (let i = 0; i < 5; i++) {
      const answer = await send(p, { path: `/n/${i}?q=1` });
      expect(answer.statusCode).toBe(200);
      expect(answer.body).toBe(`GET /n/${i}?q=1 ${upstream.origin.slice(7)}`);
    }
    expect(upstream.connections()).toBe(1);
  });

  it("keeps each piece of the answers it reads, on several connections at once", async () => {
    // Every plain connection reads into one buffer: a piece kept must be a copy of it. Each body
    // numbers its 8-byte blocks, so that a piece overwritten by any later read shows.
    const body = (letter: string) =>
      Array.from({ length: 32 * 1024 }, (_, i) => `${letter}${String(i).padStart(7, "0")}`).join("");
    const upstream = await httpServer((req, res) => res.end(body(req.url?.slice(1) ?? "?")));
    const p = pool(upstream.origin, { connections: 4 });
    const letters = ["a", "b", "c", "d"];
    const answers = await Promise.all(letters.map((letter) => send(p, { path: `/${letter}` })));
    expect(answers.map((a, i) => a.body === body(letters[i] as string))).toEqual([true, true, true, true]);
  });

  it("opens at most `connections` and queues the rest in order", async () => {
    const held: (() => void)[] = [];
    const upstream = await httpServer((req, res) => held.push(() => res.end(req.url)));
    const p = pool(upstream.origin, { connections: 2 });
    let settled = 0;
    const answers = [1, 2, 3, 4, 5].map((i) => send(p, { path: `/${i}` }).finally(() => settled++));
    await until(() => held.length === 2);
    expect(upstream.connections()).toBe(2);
    while (settled < 5) {
      held.shift()?.();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect((await Promise.all(answers)).map((a) => a.body)).toEqual(["/1", "/2", "/3", "/4", "/5"]);
    expect(upstream.connections()).toBe(2);
  });

  it("sends a byte body with its length, a stream chunked or with the length given", async () => {
    const upstream = await httpServer((req, res) => {
      const parts: Buffer[] = [];
      req.on("data", (c: Buffer) => parts.push(c));
      req.on("end", () =>
        res.end(
          JSON.stringify({
            te: req.headers["transfer-encoding"] ?? null,
            cl: req.headers["content-length"] ?? null,
            body: Buffer.concat(parts).toString(),
          }),
        ),
      );
    });
    const p = pool(upstream.origin);
    expect(JSON.parse((await send(p, { method: "POST", body: "héllo" })).body)).toEqual({
      te: null,
      cl: "6",
      body: "héllo",
    });
    expect(
      JSON.parse((await send(p, { method: "POST", body: Readable.from([Buffer.from("a"), Buffer.from("bc")]) })).body),
    ).toEqual({
      te: "chunked",
      cl: null,
      body: "abc",
    });
    expect(
      JSON.parse(
        (
          await send(p, {
            method: "PUT",
            headers: { "content-length": "3" },
            body: Readable.from([Buffer.from("xyz")]),
          })
        ).body,
      ),
    ).toEqual({ te: null, cl: "3", body: "xyz" });
    expect(JSON.parse((await send(p, { method: "POST" })).body)).toEqual({ te: null, cl: "0", body: "" });
    expect(upstream.connections()).toBe(1);
  });

  it("fails a stream body longer or shorter than its declared length, and drops that connection", async () => {
    const upstream = await httpServer((req, res) => {
      req.resume();
      req.on("end", () => res.end("ok"));
    });
    const p = pool(upstream.origin);
    await expect(
      send(p, { method: "PUT", headers: { "content-length": "2" }, body: Readable.from([Buffer.from("xyz")]) }),
    ).rejects.toMatchObject({
      code: "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH",
      message: "the request body is 3 bytes long, but its content-length header says 2",
    });
    await expect(send(p, { method: "PUT", headers: { "content-length": "5" }, body: "abc" })).rejects.toMatchObject({
      code: "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH",
    });
    expect((await send(p, {})).body).toBe("ok");
  });

  it("reads HEAD, 204, chunked and close-delimited answers, and reuses only the connections that allow it", async () => {
    const { origin, sockets } = await rawServer((socket, request) => {
      if (request.startsWith("HEAD")) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n");
      else if (request.includes("/empty")) socket.write("HTTP/1.1 204 No Content\r\n\r\n");
      else if (request.includes("/chunked"))
        socket.write(
          "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nx-sum: 5\r\n\r\n",
        );
      else socket.end("HTTP/1.0 200 OK\r\n\r\nuntil the end");
    });
    const p = pool(origin);
    expect(await send(p, { method: "HEAD" })).toMatchObject({ statusCode: 200, body: "" });
    expect(await send(p, { path: "/empty" })).toMatchObject({ statusCode: 204, body: "" });
    expect(await send(p, { path: "/chunked" })).toMatchObject({ body: "abcde", trailers: { "x-sum": "5" } });
    expect(sockets).toHaveLength(1);
    expect((await send(p, { path: "/old" })).body).toBe("until the end");
    expect((await send(p, { path: "/chunked" })).body).toBe("abcde");
    expect(sockets).toHaveLength(2);
  });

  it("takes an answer that comes before the request body is sent, stops sending, and drops the connection", async () => {
    const { origin, sockets } = await rawServer((socket, request) => {
      if (request.includes("/upload")) socket.write("HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n");
      else socket.write(OK);
    });
    const p = pool(origin);
    let pulled = 0;
    async function* endless() {
      for (;;) {
        pulled++;
        yield Buffer.alloc(16 * 1024, 1);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    expect((await send(p, { method: "POST", path: "/upload", body: endless() })).statusCode).toBe(413);
    const pulledThen = pulled;
    await new Promise((r) => setTimeout(r, 50));
    expect(pulled - pulledThen).toBeLessThanOrEqual(1);
    expect((await send(p, {})).body).toBe("ok");
    expect(sockets).toHaveLength(2);
  });

  it("refuses a request that would smuggle another one, before writing a byte", async () => {
    const { origin, sockets } = await rawServer((socket) => socket.write(OK));
    const p = pool(origin);
    await expect(send(p, { headers: { "x-a": "1\r\nx-b: 2" } })).rejects.toMatchObject({
      code: "UND_ERR_INVALID_ARG",
      message: expect.stringMatching(/x-a header/),
    });
    await expect(send(p, { path: "/a b" })).rejects.toMatchObject({
      code: "UND_ERR_INVALID_ARG",
      message: expect.stringMatching(/request path/),
    });
    await expect(send(p, { method: "GE T" })).rejects.toMatchObject({ code: "UND_ERR_INVALID_ARG" });
    await expect(send(p, { headers: { "bad name": "1" } })).rejects.toMatchObject({ code: "UND_ERR_INVALID_ARG" });
    await expect(send(p, { headers: { "transfer-encoding": "chunked" } })).rejects.toMatchObject({
      code: "UND_ERR_INVALID_ARG",
    });
    expect(sockets).toHaveLength(0);
  });

  it("sends a GET again on a new connection when a kept-alive one turns out closed, but never a POST", async () => {
    // The upstream answers the first request of each connection, then drops the connection as the next one arrives.
    const { origin, sockets } = await rawServer((socket, _request, index) => {
      if (index === 0) socket.write(OK);
      else socket.destroy();
    });
    const p = pool(origin);
    expect((await send(p, {})).body).toBe("ok");
    expect((await send(p, {})).body).toBe("ok");
    expect(sockets).toHaveLength(2);
    await expect(send(p, { method: "POST", body: "x" })).rejects.toMatchObject({ code: "UND_ERR_SOCKET" });
    expect(sockets).toHaveLength(2);
  });

  it("does not reuse a connection the upstream closes or keeps too briefly", async () => {
    const { origin, sockets } = await rawServer((socket, request) => {
      if (request.includes("/close"))
        socket.write("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok");
      else if (request.includes("/brief"))
        socket.write("HTTP/1.1 200 OK\r\nkeep-alive: timeout=1\r\ncontent-length: 2\r\n\r\nok");
      else socket.write(OK);
    });
    const p = pool(origin);
    await send(p, { path: "/close" });
    await send(p, { path: "/brief" });
    await send(p, { path: "/" });
    await send(p, { path: "/" });
    expect(sockets).toHaveLength(3);
  });

  it("does not reuse a connection that sent bytes nobody asked for", async () => {
    const { origin, sockets } = await rawServer((socket) => socket.write(`${OK}HTTP/1.1 200 OK\r\n\r\n`));
    const p = pool(origin);
    await send(p, {});
    await send(p, {});
    expect(sockets).toHaveLength(2);
  });

  it("fails with a protocol error on an answer that is not HTTP/1.1, and does not reuse its connection", async () => {
    const { origin, sockets } = await rawServer((socket, _r, index) =>
      socket.write(index === 0 && sockets.length === 1 ? "HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n" : OK),
    );
    const p = pool(origin);
    await expect(send(p, {})).rejects.toMatchObject({
      code: "HPE_INVALID_RESPONSE",
      message: expect.stringMatching(/Content-Length "x"/),
    });
    expect((await send(p, {})).body).toBe("ok");
    expect(sockets).toHaveLength(2);
  });

  it("times out an answer whose head does not come, or whose body stops", async () => {
    const { origin } = await rawServer((socket, request) => {
      if (request.includes("/body")) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc");
    });
    const p = pool(origin);
    const started = performance.now();
    await expect(send(p, { path: "/head", headersTimeout: 300 })).rejects.toMatchObject({
      code: "UND_ERR_HEADERS_TIMEOUT",
      message: "no answer came within 300 ms",
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    await expect(send(p, { path: "/body", bodyTimeout: 300 })).rejects.toMatchObject({ code: "UND_ERR_BODY_TIMEOUT" });
  });

  it("fails a connection refused with the socket's error", async () => {
    const { origin } = await rawServer(() => {});
    const closedPort = origin.replace(/:\d+$/, ":1");
    await expect(send(pool(closedPort), {})).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  it("aborts an exchange: the handler hears it once, the connection is dropped, the pool goes on", async () => {
    const { origin, sockets } = await rawServer((socket, request) => {
      if (request.includes("/slow")) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc");
      else socket.write(OK);
    });
    const p = pool(origin);
    const reason = new Error("caller gave up");
    await expect(send(p, { path: "/slow" }, { onData: (c) => c.abort(reason) })).rejects.toBe(reason);
    expect((await send(p, {})).body).toBe("ok");
    await until(() => sockets[0]?.destroyed === true);
    expect(sockets).toHaveLength(2);
  });

  it("pauses and resumes the answer's body for a handler that pushes back", async () => {
    const big = "x".repeat(2 * 1024 * 1024);
    const upstream = await httpServer((_req, res) => res.end(big));
    const p = pool(upstream.origin);
    let paused = 0;
    const answer = await send(
      p,
      {},
      {
        onData: (c) => {
          if (c.paused) return;
          paused++;
          c.pause();
          setTimeout(() => c.resume(), 1);
        },
      },
    );
    expect(answer.body.length).toBe(big.length);
    expect(paused).toBeGreaterThan(1);
  });

  it("closes gracefully: requests under way finish, new ones are refused", async () => {
    const held: (() => void)[] = [];
    const upstream = await httpServer((_req, res) => held.push(() => res.end("late")));
    const p = pool(upstream.origin);
    const pending = send(p, {});
    await until(() => held.length === 1);
    const closed = p.close();
    await expect(send(p, {})).rejects.toMatchObject({ code: "UND_ERR_CLOSED" });
    held[0]?.();
    expect((await pending).body).toBe("late");
    await closed;
  });

  it("speaks TLS to an https origin", async (context) => {
    const dir = mkdtempSync(join(tmpdir(), "tandem-h1-tls-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    try {
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-keyout",
          join(dir, "key.pem"),
          "-out",
          join(dir, "cert.pem"),
          "-days",
          "1",
          "-subj",
          "/CN=localhost",
          "-addext",
          "subjectAltName=DNS:localhost",
        ],
        { stdio: "ignore" },
      );
    } catch {
      context.skip("needs openssl to make a certificate");
    }
    const cert = readFileSync(join(dir, "cert.pem"));
    const server = createHttpsServer({ key: readFileSync(join(dir, "key.pem")), cert }, (req, res) =>
      res.end(`tls ${req.url}`),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });
    const port = (server.address() as { port: number }).port;
    const p = pool(`https://localhost:${port}`, { tls: { ca: cert } });
    expect((await send(p, { path: "/x" })).body).toBe("tls /x");
    await expect(send(pool(`https://localhost:${port}`), {})).rejects.toMatchObject({
      code: "DEPTH_ZERO_SELF_SIGNED_CERT",
    });
  });
});

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(condition()).toBe(true);
}
