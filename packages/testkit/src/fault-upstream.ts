import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** What an instance does to the requests it gets. Every field is optional; none: answer 200. */
export interface Fault {
  /** Share of requests that fail, 0..1, spread evenly (a rate of 0.5 fails every other one). */
  rate?: number;
  /** The first this many requests fail, whatever the rate. */
  failFirst?: number;
  /** The status a failing request gets. Default 503. */
  status?: number;
  /** `Retry-After` sent with a failing answer. */
  retryAfter?: string;
  /** Delay before answering, in ms (every request, failing or not). */
  latencyMs?: number;
  /** Failing requests get their connection reset instead of an answer. */
  reset?: boolean;
  /** Failing requests get bytes that are not HTTP. */
  garbage?: boolean;
  /** The body of a successful answer trickles out over this many ms. */
  slowBodyMs?: number;
  /** Extra headers on every answer. */
  headers?: Record<string, string>;
}

/** One instance of the fault-injecting upstream. */
export interface UpstreamInstance {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Requests received by this instance since it started or since the last `set`. */
  readonly requests: number;
  /** The headers of the last request received. */
  readonly lastHeaders: IncomingMessage["headers"] | undefined;
  /** Changes what the instance does from now on. */
  set(fault: Fault): void;
}

/** A set of upstream instances for tests, on random loopback ports. */
export interface FaultyUpstream {
  instances: UpstreamInstance[];
  /** Requests received by all instances. */
  total(): number;
  close(): Promise<void>;
}

/**
 * Starts `count` HTTP instances whose faults tests control per instance: error rate and status,
 * `Retry-After`, latency, connection resets, garbage instead of HTTP, slow bodies. A successful
 * answer is JSON: `{ instance, method, path, body }`.
 */
export async function startFaultyUpstream(count = 3): Promise<FaultyUpstream> {
  const servers: Server[] = [];
  const instances: UpstreamInstance[] = [];
  for (let index = 0; index < count; index++) {
    let fault: Fault = {};
    let requests = 0;
    let failures = 0;
    let lastHeaders: IncomingMessage["headers"] | undefined;
    const server = createServer((req, res) => {
      requests++;
      lastHeaders = req.headers;
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const f = fault;
        // Fail when the running share of failures falls below the rate: even spacing.
        const fail =
          (f.failFirst !== undefined && requests <= f.failFirst) ||
          (f.rate !== undefined && f.rate > 0 && failures < Math.floor(requests * f.rate + 1e-9));
        if (fail) failures++;
        const answer = () => {
          if (fail && f.reset === true) {
            req.socket.destroy();
            return;
          }
          if (fail && f.garbage === true) {
            req.socket.end("NOT-HTTP garbage\r\n\r\n");
            return;
          }
          if (fail) {
            res.writeHead(f.status ?? 503, {
              "content-type": "text/plain",
              ...(f.retryAfter === undefined ? {} : { "retry-after": f.retryAfter }),
            });
            res.end(`instance ${index} failing`);
            return;
          }
          const body = JSON.stringify({
            instance: index,
            method: req.method,
            path: req.url,
            body: Buffer.concat(chunks).toString(),
          });
          res.writeHead(200, { ...f.headers, "content-type": "application/json" });
          if (f.slowBodyMs === undefined) {
            res.end(body);
            return;
          }
          const half = Math.floor(body.length / 2);
          res.write(body.slice(0, half));
          setTimeout(() => res.end(body.slice(half)), f.slowBodyMs);
        };
        if (f.latencyMs === undefined) answer();
        else setTimeout(answer, f.latencyMs);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    servers.push(server);
    instances.push({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      get requests() {
        return requests;
      },
      get lastHeaders() {
        return lastHeaders;
      },
      set(next) {
        fault = next;
        failures = 0;
        requests = 0;
      },
    });
  }
  return {
    instances,
    total: () => instances.reduce((n, i) => n + i.requests, 0),
    close: async () => {
      for (const server of servers) server.closeAllConnections();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}
