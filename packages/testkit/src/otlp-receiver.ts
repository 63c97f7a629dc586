import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import { decodeJsonTraces, decodeProtobufTraces, type ReceivedSpan } from "./otlp-decode.js";

/** One request the receiver answered. */
export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  /** The status it was answered with: 200, or a fault it was told to inject. */
  status: number;
  /** The spans it carried (also for a request answered with a fault). */
  spans: ReceivedSpan[];
}

/** An answer to inject instead of 200: a status and, if given, a `Retry-After` in seconds. */
export interface InjectedFault {
  status: number;
  retryAfter?: number;
}

/** An OTLP/HTTP traces receiver for tests, on a random loopback port. */
export interface OtlpReceiver {
  /** The base endpoint, as `OTEL_EXPORTER_OTLP_ENDPOINT` or `telemetry.traces.export.otlp` take it. */
  readonly url: string;
  /** Every request so far, in arrival order. */
  readonly requests: readonly ReceivedRequest[];
  /** The spans of the requests answered 200. */
  spans(): ReceivedSpan[];
  /** Answers the next requests with these faults, in order, before going back to 200. */
  fail(...faults: (number | InjectedFault)[]): void;
  /** Resolves with the accepted spans once `check` passes on them; rejects after `timeoutMs`. */
  waitFor(check: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

/**
 * Starts an OTLP/HTTP receiver on 127.0.0.1 that records `POST /v1/traces` requests, protobuf
 * (decoded by a reader independent of tandem's code) or JSON, gzipped or not, and answers them
 * as a collector does: 200 with an empty response, or the faults it is told to inject.
 *
 * @example
 * const receiver = await startOtlpReceiver();
 * receiver.fail(503, { status: 429, retryAfter: 1 }); // the next two requests fail
 */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const requests: ReceivedRequest[] = [];
  const faults: InjectedFault[] = [];
  const waiters = new Set<() => void>();
  const accepted = () => requests.filter((r) => r.status === 200).flatMap((r) => r.spans);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let body = Buffer.concat(chunks);
      const json = (req.headers["content-type"] ?? "").startsWith("application/json");
      let spans: ReceivedSpan[];
      try {
        if (req.headers["content-encoding"] === "gzip") body = gunzipSync(body);
        spans = json ? decodeJsonTraces(JSON.parse(body.toString("utf8"))) : decodeProtobufTraces(body);
      } catch (error) {
        res.writeHead(400, { "content-type": "text/plain" }).end(String(error));
        requests.push({ path: req.url ?? "", headers: req.headers, status: 400, spans: [] });
        return;
      }
      const fault = faults.shift();
      const status = req.url === "/v1/traces" ? (fault?.status ?? 200) : 404;
      requests.push({ path: req.url ?? "", headers: req.headers, status, spans });
      const headers: Record<string, string> = { "content-type": json ? "application/json" : "application/x-protobuf" };
      if (fault?.retryAfter !== undefined) headers["retry-after"] = String(fault.retryAfter);
      res.writeHead(status, headers).end(json && status === 200 ? "{}" : "");
      for (const wake of waiters) wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    spans: accepted,
    fail: (...list) => {
      for (const f of list) faults.push(typeof f === "number" ? { status: f } : f);
    },
    waitFor: (check, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const wake = () => {
          if (!check(accepted())) return;
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(accepted());
        };
        const timer = setTimeout(() => {
          waiters.delete(wake);
          reject(
            new Error(
              `the OTLP receiver did not get the expected spans in ${timeoutMs} ms; got ${JSON.stringify(accepted().map((s) => s.name))}`,
            ),
          );
        }, timeoutMs);
        waiters.add(wake);
        wake();
      }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
