import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { context, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { fastifyServerMetrics, httpServerMetrics, PodMetrics, traceMixin } from "@tandem/observability";
import Fastify from "fastify";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";
const traceparent = `00-${TRACE_ID}-${PARENT}-01`;

describe("inbound trace context", () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const tracer = provider.getTracer("tandem");
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ mixin: traceMixin }, { write: (l: string) => lines.push(JSON.parse(l)) });
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  });
  afterAll(() => {
    context.disable();
    propagation.disable();
  });

  async function serve(server: Server): Promise<string> {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it("node:http: the handler runs in a SERVER span under the incoming traceparent, and its log lines say so", async () => {
    const measure = httpServerMetrics(new PodMetrics({ self: "s" }).ownMetrics(), {
      tracer,
      route: () => "/orders/:id",
    });
    const server = createServer((req, res) =>
      measure(req, res, async () => {
        await new Promise((r) => setTimeout(r, 1));
        logger.info({ handler: "node" }, "handled");
        res.end("ok");
      }),
    );
    const base = await serve(server);
    await fetch(`${base}/orders/7?x=1`, { headers: { traceparent } });
    await new Promise((r) => setTimeout(r, 50));
    server.close();
    const line = lines.find((l) => l.handler === "node");
    const span = exporter.getFinishedSpans().find((s) => s.name === "GET /orders/:id");
    expect(span?.parentSpanContext?.spanId).toBe(PARENT);
    expect(span?.spanContext().traceId).toBe(TRACE_ID);
    expect(span?.kind).toBe(1); // SERVER
    expect(span?.attributes).toMatchObject({
      "http.request.method": "GET",
      "http.route": "/orders/:id",
      "url.path": "/orders/7",
      "http.response.status_code": 200,
    });
    expect(line).toMatchObject({ trace_id: TRACE_ID, span_id: span?.spanContext().spanId });
  });

  it("Fastify: an onRequest hook runs the handler in the request's span", async () => {
    const app = Fastify();
    await app.register(fastifyServerMetrics(new PodMetrics({ self: "s" }).ownMetrics(), { tracer }));
    app.get("/items/:id", async () => {
      await new Promise((r) => setTimeout(r, 1));
      logger.info({ handler: "fastify" }, "handled");
      return { ok: true };
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = app.server.address() as AddressInfo;
    await fetch(`http://127.0.0.1:${port}/items/3`, { headers: { traceparent } });
    await app.close();
    const line = lines.find((l) => l.handler === "fastify");
    const span = exporter.getFinishedSpans().find((s) => s.name === "GET /items/:id");
    expect(span?.parentSpanContext?.spanId).toBe(PARENT);
    expect(line).toMatchObject({ trace_id: TRACE_ID, span_id: span?.spanContext().spanId });
  });

  it("without a tracer SDK the handler still runs in the caller's trace", async () => {
    const measure = httpServerMetrics(new PodMetrics({ self: "s" }).ownMetrics(), { tracer: trace.getTracer("x") });
    const server = createServer((req, res) =>
      measure(req, res, () => {
        logger.info({ handler: "noop" }, "handled");
        res.end("ok");
      }),
    );
    const base = await serve(server);
    await fetch(base, { headers: { traceparent } });
    server.close();
    expect(lines.find((l) => l.handler === "noop")).toMatchObject({ trace_id: TRACE_ID, span_id: PARENT });
  });
});
