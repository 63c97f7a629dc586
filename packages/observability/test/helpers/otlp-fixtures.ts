import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { SpanKind, TraceFlags } from "@opentelemetry/api";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import type { ReadableSpan } from "@opentelemetry/sdk-trace";
import type { Counter, Labels } from "@tandem/core";

/** `n` finished spans of one trace, as the SDK hands them to an exporter. */
export function spans(n: number, service = "fixture"): ReadableSpan[] {
  const resource = resourceFromAttributes({ "service.name": service });
  return Array.from({ length: n }, (_, i) => {
    const spanId = (i + 1).toString(16).padStart(16, "0");
    return {
      name: `span-${i}`,
      kind: SpanKind.INTERNAL,
      spanContext: () => ({ traceId: "0af7651916cd43dd8448eb211c80319c", spanId, traceFlags: TraceFlags.SAMPLED }),
      parentSpanContext: undefined,
      startTime: [1_700_000_000, 0],
      endTime: [1_700_000_001, 0],
      status: { code: 0 },
      attributes: {},
      links: [],
      events: [],
      duration: [1, 0],
      ended: true,
      resource,
      instrumentationScope: { name: "test" },
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    } as unknown as ReadableSpan;
  });
}

/** A protobuf ExportTraceServiceRequest with `n` spans, serialized by OpenTelemetry's own code. */
export function protobufRequest(n: number, service?: string): Buffer {
  return Buffer.from(ProtobufTraceSerializer.serializeRequest(spans(n, service)) as Uint8Array);
}

/** A counter that remembers what it was given. */
export function recordingCounter(): Counter & { total(labels?: Labels): number } {
  const incs: { labels: Labels | undefined; value: number }[] = [];
  return {
    inc: (labels, value = 1) => void incs.push({ labels, value }),
    total: (labels) =>
      incs
        .filter((i) => labels === undefined || JSON.stringify(i.labels) === JSON.stringify(labels))
        .reduce((sum, i) => sum + i.value, 0),
  };
}

/** What the scripted collector saw of one request. */
export interface Seen {
  at: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A collector on 127.0.0.1 that answers each request with the next scripted answer (then 200),
 * or never answers while `hang` is set.
 */
export async function scriptedCollector(
  script: ({ status: number; retryAfter?: string } | number)[] = [],
): Promise<{ url: string; seen: Seen[]; hang: boolean; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const state = { hang: false };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({ at: Date.now(), headers: req.headers, body: Buffer.concat(chunks) });
      if (state.hang) return;
      const next = script.shift() ?? 200;
      const answer = typeof next === "number" ? { status: next } : next;
      res.writeHead(answer.status, answer.retryAfter === undefined ? {} : { "retry-after": answer.retryAfter });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    seen,
    get hang() {
      return state.hang;
    },
    set hang(value: boolean) {
      state.hang = value;
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
