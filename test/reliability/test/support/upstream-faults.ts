import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";

/**
 * What the raw upstream does with each request, at the byte level where an HTTP library would
 * hide the fault:
 * - `ok`: a valid 200 with a small JSON body, connection kept alive;
 * - `ok-after-100ms`: the same, 100 ms later (to hold many connections at once);
 * - `reset-mid-body`: headers announcing 200 bytes, 100 of them, then a TCP reset;
 * - `slow-headers`: the status line and headers trickled one byte per second (slowloris);
 * - `slow-body`: complete headers, then the body one byte every 250 ms (never idle for long);
 * - `garbage`: `HELLO\r\n\r\n` instead of HTTP, then the connection closes;
 * - `bad-status`: a status line that is not one (`HTTP/1.1 abc nonsense`);
 * - `close-early`: the connection closes before any byte of an answer.
 */
export type RawFault =
  | "ok"
  | "ok-after-100ms"
  | "reset-mid-body"
  | "slow-headers"
  | "slow-body"
  | "garbage"
  | "bad-status"
  | "close-early";

/** A raw TCP upstream on a random loopback port whose fault a test switches. */
export interface RawUpstream {
  url: string;
  /** Requests whose head arrived since the start. */
  readonly requests: number;
  /** Connections open right now, from the upstream's side: the client's pool as it sees it. */
  readonly open: number;
  set(fault: RawFault): void;
  /** Closes every connection, as an upstream restarting would: the clients' pools start empty. */
  drop(): void;
  close(): Promise<void>;
}

const OK_BODY = '{"ok":true}';
const OK = `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${OK_BODY.length}\r\n\r\n${OK_BODY}`;
const SLOW_HEAD = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 10\r\n\r\n0123456789";

/** Starts a raw upstream; every timer it arms stops when its connection or the server closes. */
export async function startRawUpstream(): Promise<RawUpstream> {
  let fault: RawFault = "ok";
  let requests = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    const timers = new Set<NodeJS.Timeout>();
    socket.on("close", () => {
      sockets.delete(socket);
      for (const t of timers) clearInterval(t);
    });
    socket.on("error", () => {});
    let head = "";
    const trickle = (bytes: string, everyMs: number) => {
      let at = 0;
      const timer = setInterval(() => {
        if (at >= bytes.length || socket.destroyed) {
          clearInterval(timer);
          return;
        }
        socket.write(bytes[at++] as string);
      }, everyMs);
      timers.add(timer);
    };
    socket.on("data", (chunk: Buffer) => {
      head += chunk.toString("latin1");
      // GET requests without bodies: one request per blank line.
      while (head.includes("\r\n\r\n")) {
        head = head.slice(head.indexOf("\r\n\r\n") + 4);
        requests++;
        switch (fault) {
          case "ok":
            socket.write(OK);
            break;
          case "ok-after-100ms":
            timers.add(setTimeout(() => socket.write(OK), 100));
            break;
          case "reset-mid-body":
            socket.write(
              `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 200\r\n\r\n${"x".repeat(100)}`,
            );
            setImmediate(() => socket.resetAndDestroy());
            return;
          case "slow-headers":
            trickle(SLOW_HEAD, 1000);
            return;
          case "slow-body":
            socket.write("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 10000\r\n\r\n");
            trickle("y".repeat(10_000), 250);
            return;
          case "garbage":
            socket.end("HELLO\r\n\r\n");
            return;
          case "bad-status":
            socket.end("HTTP/1.1 abc nonsense\r\ncontent-length: 0\r\n\r\n");
            return;
          case "close-early":
            socket.end();
            return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    get open() {
      return sockets.size;
    },
    set(next) {
      fault = next;
    },
    drop() {
      for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * Open file descriptors of a process (sockets, pipes, files), from /proc, leaving out the
 * TCP connections accepted on `exceptPort`: a sidecar's connections from the app are the app's
 * keep-alive pool, which grows with concurrency up to its size, not with faults.
 */
export function openFds(pid: number | "self", exceptPort?: number): number {
  const fds = readdirSync(`/proc/${pid}/fd`);
  if (exceptPort === undefined) return fds.length;
  const accepted = new Set<string>();
  for (const table of ["tcp", "tcp6"]) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, "utf8").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1]?.split(":")[1];
      // State 01: established; the listening socket itself stays counted.
      if (local !== undefined && Number.parseInt(local, 16) === exceptPort && fields[3] === "01") {
        accepted.add(`socket:[${fields[9]}]`);
      }
    }
  }
  let count = 0;
  for (const fd of fds) {
    try {
      if (!accepted.has(readlinkSync(`/proc/${pid}/fd/${fd}`))) count++;
    } catch {
      // Closed while we looked.
    }
  }
  return count;
}

/** The sum of a metric's samples whose labels include every given one, from Prometheus text. */
export function sampleSum(exposition: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of exposition.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}
