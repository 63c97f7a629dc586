import { defineRoute, type RouteDefinition, readBody, TandemError } from "@tandem/core";
import { z } from "zod";
import { OTLP_CONTENT_TYPE, otlpEncoding, readOtlpTraces } from "./forward/otlp-body.js";
import type { OtlpForwarder } from "./forward/otlp-forwarder.js";
import type { LogSinks } from "./logs/log-sinks.js";
import type { PodMetrics } from "./metrics/pod-metrics.js";

const labels = z.array(z.string().max(1024)).max(32);

const Batch = z.object({
  process: z.string().min(1).max(128).describe("Identifies the sending process within the pod."),
  families: z
    .array(
      z.object({
        name: z.string().max(256),
        type: z.enum(["counter", "gauge", "histogram"]),
        help: z.string().max(4096),
        labelNames: z.array(z.string().max(128)).max(32),
        buckets: z.array(z.number()).max(64).optional(),
        aggregation: z.enum(["sum", "max", "min", "per-process"]).optional(),
        series: z
          .array(
            z.union([
              z.tuple([labels, z.number()]),
              z.tuple([labels, z.array(z.number()).max(65), z.number(), z.number()]),
            ]),
          )
          .max(10_000)
          .describe(
            "[labels, value] (counter delta, gauge value) or [labels, bucketCounts, sum, count] (histogram deltas).",
          ),
      }),
    )
    .max(1000),
});

/**
 * The sidecar's metrics routes: processes of the pod push what they recorded, and anyone with
 * the token can read the merged result (the admin `/metrics` serves it too, without a token).
 */
export function metricsRoutes(pod: PodMetrics): RouteDefinition[] {
  return [
    defineRoute({
      method: "POST",
      path: "/v1/metrics",
      tag: "metrics",
      summary: "Adds a process's metric deltas (counters, histograms) and values (gauges) to the pod's.",
      description:
        "Send every second or so. Families that clash with what the pod already has (another type or labels) are refused and named in `rejected`; the others apply.",
      body: Batch,
      responses: {
        200: {
          description: "Applied; any refused families are listed.",
          schema: z.object({ rejected: z.array(z.object({ name: z.string(), reason: z.string() })) }),
        },
      },
      handler: ({ body }) => ({ body: { rejected: pod.apply(body) } }),
    }),
    {
      method: "GET",
      path: "/v1/metrics",
      tag: "metrics",
      summary: "The pod's merged metrics, as Prometheus text or OpenMetrics (by Accept).",
      responses: { 200: { description: "The exposition.", contentType: "text/plain; version=0.0.4" } },
      handler: ({ req, res }) => {
        const { contentType, body } = pod.expose(req.headers.accept);
        res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
        res.end(body);
        return undefined;
      },
    },
  ];
}

/** Options of `tracesRoutes`. */
export interface TracesRouteOptions {
  /** Largest request once gunzipped. Default 4 MiB. */
  maxDecodedBytes?: number;
  /** Seconds a client is asked to wait when the queue is full. Default 1. */
  retryAfterSeconds?: number;
}

/**
 * The sidecar's OTLP/HTTP traces receiver: what the processes of the pod export is queued and
 * forwarded to the configured OTLP endpoint (see `OtlpForwarder`).
 */
export function tracesRoutes(forwarder: OtlpForwarder, options: TracesRouteOptions = {}): RouteDefinition[] {
  return [
    {
      method: "POST",
      path: "/v1/traces",
      tag: "traces",
      summary: "Receives OTLP/HTTP traces (protobuf or JSON) and forwards them to the configured OTLP endpoint.",
      description:
        "An OTLP/HTTP receiver: `application/x-protobuf` or `application/json`, optionally `Content-Encoding: gzip`. " +
        "Answers 200 with an empty ExportTraceServiceResponse once queued; 503 with Retry-After when the queue is full " +
        "(retryable); 501 `not_configured` when the sidecar has no OTLP endpoint (`telemetry.traces.export.otlp` or " +
        "its own `OTEL_EXPORTER_OTLP_ENDPOINT`).",
      rawBody: true,
      responses: {
        200: {
          description: "Queued for forwarding: an empty ExportTraceServiceResponse.",
          contentType: OTLP_CONTENT_TYPE.protobuf,
        },
        400: {
          description: "The body is not an OTLP ExportTraceServiceRequest.",
          contentType: "application/problem+json",
        },
        413: { description: "The body is over the size limit.", contentType: "application/problem+json" },
        415: {
          description: "Neither protobuf nor JSON, or an encoding other than gzip.",
          contentType: "application/problem+json",
        },
        501: {
          description: "The sidecar has no OTLP endpoint to forward to.",
          contentType: "application/problem+json",
        },
        503: { description: "The queue is full; retry after Retry-After.", contentType: "application/problem+json" },
      },
      handler: async ({ req, res, bodyLimit }) => {
        const encoding = otlpEncoding(req.headers["content-type"]);
        if (!forwarder.configured) {
          throw new TandemError(
            "not_configured",
            "the sidecar forwards traces nowhere: set telemetry.traces.export.otlp in tandem.yaml or OTEL_EXPORTER_OTLP_ENDPOINT for the sidecar",
            { status: 501, details: { setting: "telemetry.traces.export.otlp" } },
          );
        }
        const payload = await readOtlpTraces(req, encoding, {
          limit: bodyLimit,
          maxDecodedBytes: options.maxDecodedBytes ?? 4 * 1024 * 1024,
        });
        const offered = payload.spans === 0 ? "queued" : forwarder.offer(payload);
        if (offered !== "queued") {
          res.setHeader("retry-after", String(options.retryAfterSeconds ?? 1));
          throw new TandemError(
            offered === "full" ? "queue_full" : "shutting_down",
            offered === "full" ? "the traces queue is full; retry later" : "the sidecar is shutting down",
            { status: 503 },
          );
        }
        const body = encoding === "json" ? "{}" : "";
        res.writeHead(200, { "content-type": OTLP_CONTENT_TYPE[encoding], "content-length": Buffer.byteLength(body) });
        res.end(body);
        return undefined;
      },
    },
  ];
}

/** What `POST /v1/logs` needs from the sidecar: the sinks, and the redactor of the moment. */
export interface LogsRouteOptions {
  sinks: LogSinks;
  /** Gives the redactor for one batch (secret values as they are now). */
  redactor: () => (text: string) => string;
}

/** Process ids are short tokens; anything else is not added to the lines. */
const PROCESS_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** The sidecar's `POST /v1/logs`: pino lines of the pod's processes, written to the log sinks. */
export function logsRoutes(options: LogsRouteOptions): RouteDefinition[] {
  return [
    defineRoute({
      method: "POST",
      path: "/v1/logs",
      tag: "logs",
      summary: "Receives log lines (NDJSON of pino JSON lines) and writes them to the sidecar's log sinks.",
      description:
        "One JSON object per line. The sidecar adds `process` (from the `X-Tandem-Process` header), replaces every " +
        "secret value of its config with `[redacted]`, and writes the lines to the sinks of `telemetry.logs.sinks` " +
        "(`stdout`, `file`). A body with a line that is not a JSON object is refused whole (400).",
      rawBody: true,
      responses: {
        204: { description: "Written to the sinks." },
        400: { description: "A line is not a JSON object.", contentType: "application/problem+json" },
        413: { description: "The body is over the size limit.", contentType: "application/problem+json" },
      },
      handler: async ({ req, res, bodyLimit }) => {
        const text = (await readBody(req, bodyLimit)).toString("utf8");
        const header = req.headers["x-tandem-process"];
        const process = typeof header === "string" && PROCESS_ID.test(header) ? header : undefined;
        const lines: string[] = [];
        const raw = text.split("\n");
        for (let i = 0; i < raw.length; i++) {
          const line = (raw[i] as string).trim();
          if (line === "") continue;
          let parsed: unknown;
          try {
            parsed = JSON.parse(line);
          } catch {
            parsed = undefined;
          }
          if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
            throw new TandemError("bad_request", `line ${i + 1} of the body is not a JSON object`, {
              details: { line: i + 1 },
            });
          }
          lines.push(process === undefined ? line : JSON.stringify({ ...parsed, process }));
        }
        const redact = options.redactor();
        options.sinks.write(lines.map(redact));
        res.writeHead(204);
        res.end();
        return undefined;
      },
    }),
  ];
}
