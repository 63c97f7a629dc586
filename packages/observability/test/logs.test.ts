import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseSidecarAddress, SidecarClient, TandemError } from "@tandem/core";
import {
  LogShipper,
  LogSinks,
  logsRoutes,
  OtlpLogSink,
  PodMetrics,
  RotatingFile,
  secretRedactor,
} from "@tandem/observability";
import { pino } from "pino";
import { describe, expect, it } from "vitest";

const silent = pino({ level: "silent" });

describe("RotatingFile", () => {
  it("rotates by size and keeps maxFiles rotated files", () => {
    const path = join(mkdtempSync(join(tmpdir(), "tandem-rot-")), "app.log");
    const file = new RotatingFile({ path, maxSize: 100, maxFiles: 2 });
    for (let i = 0; i < 10; i++) file.write(`${JSON.stringify({ i, pad: "x".repeat(30) })}\n`);
    file.close();
    // Two 45-byte lines fit in 100 bytes: lines 8-9 now, 6-7 in .1, 4-5 in .2, older ones gone.
    const indexes = (p: string) =>
      readFileSync(p, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l).i);
    expect(indexes(path)).toEqual([8, 9]);
    expect(indexes(`${path}.1`)).toEqual([6, 7]);
    expect(indexes(`${path}.2`)).toEqual([4, 5]);
    expect(existsSync(`${path}.3`)).toBe(false);
  });
});

describe("secretRedactor", () => {
  it("replaces every current secret value, raw and JSON-escaped, and skips very short ones", () => {
    const values: Record<string, string> = { a: "s3cr3t-value", b: 'quo"te-secret', c: "ab" };
    const redactor = secretRedactor(() => ({
      get: async (n) => values[n] as string,
      names: () => Object.keys(values),
      lookup: (n) => values[n],
    }));
    const line = JSON.stringify({ msg: 's3cr3t-value and quo"te-secret', c: "ab" });
    expect(redactor()(line)).toBe(JSON.stringify({ msg: "[redacted] and [redacted]", c: "ab" }));
    expect(secretRedactor(() => undefined)()("s3cr3t-value")).toBe("s3cr3t-value");
  });
});

describe("LogShipper", () => {
  it("never blocks, keeps at most maxLines while the sidecar is away (dropped counted), and sends the rest once it is back", async () => {
    const received: string[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        received.push(...body.split("\n").filter(Boolean));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    server.close();
    const pod = new PodMetrics({ self: "s" });
    const metrics = pod.ownMetrics();
    const client = new SidecarClient({ address: parseSidecarAddress(`http://127.0.0.1:${port}`) });
    const shipper = new LogShipper({
      client,
      logger: silent,
      dropped: metrics.counter("tandem_telemetry_dropped_total", { help: "h", labelNames: ["signal"] }),
      process: "p1",
      maxLines: 3,
      intervalMs: 50,
    });
    for (let i = 0; i < 5; i++) shipper.write(`${JSON.stringify({ i })}\n`);
    await shipper.flush();
    expect(shipper.pending).toBe(3);
    expect(pod.text(false)).toContain('tandem_telemetry_dropped_total{signal="logs"} 2');
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    await shipper.flush();
    expect(received.map((l) => JSON.parse(l).i)).toEqual([2, 3, 4]);
    await shipper.close();
    await client.close();
    server.close();
  });
});

describe("LogShipper and a small body limit", () => {
  it("halves its batches while the sidecar answers 413, and drops (counting) only a line too large alone", async () => {
    const received: string[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        if (body.length > 100) {
          res.writeHead(413).end();
          return;
        }
        received.push(...body.split("\n").filter(Boolean));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const pod = new PodMetrics({ self: "s" });
    const client = new SidecarClient({
      address: parseSidecarAddress(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    });
    const shipper = new LogShipper({
      client,
      logger: silent,
      dropped: pod.ownMetrics().counter("tandem_telemetry_dropped_total", { help: "h", labelNames: ["signal"] }),
      process: "p1",
      intervalMs: 60_000,
    });
    for (let i = 0; i < 10; i++) shipper.write(`${JSON.stringify({ i })}\n`);
    shipper.write(`${JSON.stringify({ big: "x".repeat(200) })}\n`);
    await shipper.flush();
    expect(received.map((l) => JSON.parse(l).i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(shipper.pending).toBe(0);
    expect(pod.text(false)).toContain('tandem_telemetry_dropped_total{signal="logs"} 1');
    await shipper.close();
    await client.close();
    server.closeAllConnections();
    server.close();
  });
});

describe("OtlpLogSink", () => {
  it("exports pino lines as OTLP/JSON log records with severity, body, trace ids and attributes", async () => {
    const bodies: { path: string; body: Record<string, unknown> }[] = [];
    const server = createServer((req, res) => {
      let text = "";
      req.on("data", (c) => {
        text += c;
      });
      req.on("end", () => {
        bodies.push({ path: req.url ?? "", body: JSON.parse(text) });
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const pod = new PodMetrics({ self: "s" });
    const sink = new OtlpLogSink({
      endpoint: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/logs`,
      service: () => "orders",
      dropped: pod.ownMetrics().counter("tandem_telemetry_dropped_total", { help: "h", labelNames: ["signal"] }),
      logger: silent,
      intervalMs: 60_000,
    });
    const sinks = new LogSinks(
      () => ({ get: () => ({ sinks: ["otlp"] }) }) as never,
      tmpdir(),
      () => {},
      sink,
    );
    sinks.write([
      JSON.stringify({
        level: 40,
        time: 1_700_000_000_123,
        msg: "slow",
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
        span_id: "00f067aa0ba902b7",
        trace_flags: "01",
        orderId: 7,
        process: "p1",
      }),
    ]);
    await sink.flush();
    await sinks.close();
    server.close();
    expect(bodies[0]?.path).toBe("/v1/logs");
    type Export = { resourceLogs: { resource: unknown; scopeLogs: { logRecords: unknown[] }[] }[] };
    const resourceLogs = (bodies[0]?.body as Export | undefined)?.resourceLogs[0];
    expect(resourceLogs?.resource).toEqual({ attributes: [{ key: "service.name", value: { stringValue: "orders" } }] });
    expect(resourceLogs?.scopeLogs[0]?.logRecords[0]).toEqual({
      timeUnixNano: "1700000000123000000",
      severityNumber: 13,
      severityText: "WARN",
      body: { stringValue: "slow" },
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      flags: 1,
      attributes: [
        { key: "orderId", value: { intValue: "7" } },
        { key: "process", value: { stringValue: "p1" } },
      ],
    });
    expect(pod.text(false)).not.toContain('signal="logs"} 1');
  });
});

describe("POST /v1/logs", () => {
  it("adds the sender's process id, redacts secrets, refuses a line that is not JSON (400) and a body over the limit (413)", async () => {
    const out: string[] = [];
    const sinks = new LogSinks(
      () => undefined,
      tmpdir(),
      (t) => out.push(t),
    );
    const [route] = logsRoutes({ sinks, redactor: () => (t) => t.replaceAll("hunter22", "[redacted]") });
    const server = createServer((req, res) => {
      Promise.resolve(
        route?.handler({
          req,
          res,
          bodyLimit: 1024,
          params: {},
          query: new URLSearchParams(),
          body: undefined,
          signal: new AbortController().signal,
          log: silent,
        }),
      ).catch((error: unknown) => {
        res.writeHead(TandemError.is(error) ? error.status : 500, { connection: "close" }).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/logs`;
    const post = (body: string) =>
      fetch(url, { method: "POST", body, headers: { "x-tandem-process": "123-abc" } }).then((r) => r.status);
    expect(await post('{"msg":"a hunter22"}\n{"msg":"b"}\n')).toBe(204);
    expect(out.join("")).toBe('{"msg":"a [redacted]","process":"123-abc"}\n{"msg":"b","process":"123-abc"}\n');
    expect(await post('{"msg":"ok"}\nnot json\n')).toBe(400);
    expect(await post(`{"msg":"${"x".repeat(2000)}"}\n`)).toBe(413);
    expect(out).toHaveLength(1);
    server.closeAllConnections();
    server.close();
  });
});
