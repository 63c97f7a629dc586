// Helpers of the bad-input and attack tests: raw HTTP over a socket (for what undici refuses to
// send), an upstream that records every request it gets, a tripwire listener, and the checks
// every answer of the sidecar must pass.
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from "node:net";
import { PROBLEM_CONTENT_TYPE } from "@tandem/core";
import { expect } from "vitest";

/** An answer read off a raw socket. `status` is 0 when the socket closed without one. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The bytes as they came, for searching. */
  raw: string;
  /** The socket was closed by the other side (not by our timeout). */
  closedByPeer: boolean;
}

/**
 * Writes `request` (bytes or text, sent as is) to `port` on 127.0.0.1 and reads until the other
 * side closes or `timeoutMs` passes. Parses the first answer: status line, headers, body.
 */
export function rawRequest(port: number, request: string | Buffer, timeoutMs = 5000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, "127.0.0.1");
    let closedByPeer = false;
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on("connect", () => socket.write(request));
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      // A complete answer of known length, or the head of an event stream: no need to wait for
      // the connection to close.
      const answer = parseAnswer(Buffer.concat(chunks).toString("latin1"), false);
      const length = answer.headers["content-length"];
      const stream = answer.headers["content-type"]?.startsWith("text/event-stream") === true;
      if (
        answer.status !== 0 &&
        (stream || (length !== undefined && Buffer.byteLength(answer.body) >= Number(length)))
      ) {
        socket.destroy();
      }
    });
    socket.on("end", () => {
      closedByPeer = true;
      socket.end();
    });
    socket.on("error", () => {
      closedByPeer = true;
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(parseAnswer(Buffer.concat(chunks).toString("latin1"), closedByPeer));
    });
  });
}

/** Parses one HTTP/1.1 answer (content-length or chunked body); status 0 if there is none. */
export function parseAnswer(raw: string, closedByPeer: boolean): RawAnswer {
  const end = raw.indexOf("\r\n\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  if (end === -1 || match === null) return { status: 0, headers: {}, body: "", raw, closedByPeer };
  const headers: Record<string, string> = {};
  for (const line of raw.slice(0, end).split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.slice(end + 4);
  if (headers["content-length"] !== undefined) body = body.slice(0, Number(headers["content-length"]));
  else if (headers["transfer-encoding"] === "chunked") body = dechunk(body);
  return { status: Number(match[1]), headers, body: Buffer.from(body, "latin1").toString("utf8"), raw, closedByPeer };
}

function dechunk(text: string): string {
  let out = "";
  let rest = text;
  for (;;) {
    const eol = rest.indexOf("\r\n");
    if (eol === -1) return out;
    const size = Number.parseInt(rest.slice(0, eol), 16);
    if (!(size > 0)) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

/** Opens a socket and keeps it open (for slow clients); resolves once connected or refused. */
export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Settles with how long the socket stayed open after this call, or `null` past `withinMs`. */
export function closedWithin(socket: Socket, withinMs: number): Promise<{ ms: number; data: string } | null> {
  const started = Date.now();
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  socket.on("error", () => {});
  return new Promise((resolve) => {
    if (socket.destroyed) {
      resolve({ ms: 0, data: "" });
      return;
    }
    const timer = setTimeout(() => resolve(null), withinMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve({ ms: Date.now() - started, data: Buffer.concat(chunks).toString("latin1") });
    });
  });
}

/** What a recording upstream received. */
export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Header names and values as they came, in pairs. */
  rawHeaders: string[];
  body: string;
}

/** An HTTP upstream that records every request and answers as `answer` says (default 200 JSON). */
export interface RecordingUpstream {
  url: string;
  port: number;
  received: Received[];
  answer: (req: Received) => { status: number; headers?: Record<string, string>; body?: string };
  close(): Promise<void>;
}

export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const received: Received[] = [];
  const upstream: RecordingUpstream = {
    url: "",
    port: 0,
    received,
    answer: () => ({ status: 200, headers: { "content-type": "application/json" }, body: '{"ok":true}' }),
    close: () => close(server),
  };
  // Headers of up to 64 KiB, four times the sidecar's limit: a request the sidecar lets through
  // never meets a limit of the upstream's own once the sidecar has added its forwarding headers,
  // so every 4xx a test sees is the sidecar's.
  const server = createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const seen: Received = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString("latin1"),
      };
      received.push(seen);
      const { status, headers, body } = upstream.answer(seen);
      res.writeHead(status, headers);
      res.end(body ?? "");
    });
    req.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  upstream.port = (server.address() as AddressInfo).port;
  upstream.url = `http://127.0.0.1:${upstream.port}`;
  return upstream;
}

/** A listener nothing should reach: it counts connections (and answers none). */
export interface Tripwire {
  port: number;
  hits: number;
  close(): Promise<void>;
}

export async function startTripwire(host = "127.0.0.1"): Promise<Tripwire> {
  const wire: Tripwire = { port: 0, hits: 0, close: async () => {} };
  const server = createNetServer((socket) => {
    wire.hits++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  wire.port = (server.address() as AddressInfo).port;
  wire.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
    });
  return wire;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Asserts an answer is an RFC 9457 problem document whose status matches the HTTP status. */
export function expectProblem(status: number, contentType: string | undefined, body: string, context = ""): void {
  expect((contentType ?? "").split(";")[0]?.trim(), `${context}: content-type of ${status}`).toBe(PROBLEM_CONTENT_TYPE);
  let problem: Record<string, unknown>;
  try {
    problem = JSON.parse(body) as Record<string, unknown>;
  } catch {
    throw new Error(`${context}: ${status} body is not JSON: ${body.slice(0, 200)}`);
  }
  expect(typeof problem.type, `${context}: problem.type`).toBe("string");
  expect(typeof problem.title, `${context}: problem.title`).toBe("string");
  expect(typeof problem.detail, `${context}: problem.detail`).toBe("string");
  expect(problem.status, `${context}: problem.status`).toBe(status);
}

/** Resident set size of a process, in KiB, from /proc. */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

/** A secret and the encodings it could leak under. */
export function leakForms(secret: string): string[] {
  return [
    secret,
    Buffer.from(secret).toString("base64"),
    Buffer.from(secret).toString("base64url"),
    encodeURIComponent(secret),
    Buffer.from(secret).toString("hex"),
  ];
}

/** The places among `texts` where any form of `secret` appears (each shortened for a message). */
export function leaks(secret: string, texts: Iterable<{ where: string; text: string }>): string[] {
  const forms = leakForms(secret);
  const found: string[] = [];
  for (const { where, text } of texts) {
    if (forms.some((f) => text.includes(f))) found.push(`${where}: ${text.slice(0, 300)}`);
  }
  return found;
}

/** `TANDEM_SOAK=long` runs many more cases per property. */
export function runs(ci: number, long: number): number {
  return process.env.TANDEM_SOAK === "long" ? long : ci;
}

/** The config of the attacked sidecar: two upstreams, flags, and secrets, one of them the canary. */
export function attackConfig(secretsDir: string, echoUrl: string, bouncerUrl: string, otlpUrl?: string): string {
  return `service: attacked
${otlpUrl === undefined ? "" : `telemetry: { traces: { export: { otlp: ${otlpUrl} } } }\n`}flags: { source: flags.json }
secrets: { dir: ${JSON.stringify(secretsDir)} }
app:
  dsn: "postgres://app:\${secret:db-password}@db/app"
upstreams:
  echo:
    endpoints: [${echoUrl}]
    timeout: { attempt: 2s, total: 4s }
  bouncer:
    endpoints: [${bouncerUrl}]
    timeout: { attempt: 2s, total: 4s }
`;
}
