import { context, propagation, ROOT_CONTEXT, SpanKind, TraceFlags, trace } from "@opentelemetry/api";
import { ExportResultCode, suppressTracing, TraceState, W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  InMemorySpanExporter,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  TracerProvider as SdkTracerProvider,
  SimpleSpanProcessor,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace";
import { CHILD_TRACE_LINES, type ChildTraceLines, type Config, ConfigError, type Facets } from "@tandem/core";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { PooledIdGenerator } from "../src/traces/pooled-ids.js";
import * as own from "../src/traces/samplers.js";
import { readTraceEnv } from "../src/traces/trace-env.js";
import { resolveTraceSettings } from "../src/traces/trace-settings.js";
import { startTracing } from "../src/traces/tracing.js";
import { recordingCounter } from "./helpers/otlp-fixtures.js";

const silent = pino({ level: "silent" });

function config(values: Record<string, unknown>): Config {
  return {
    get: <T>(path: string) => values[path] as T | undefined,
    snapshot: () => ({ generation: 1, values }),
    onChange: () => () => {},
  };
}

function metrics() {
  const dropped = recordingCounter();
  const unused = () => {
    throw new Error("only the dropped counter is used");
  };
  return {
    dropped,
    metrics: {
      counter: () => dropped,
      gauge: unused,
      histogram: unused,
      expose: unused,
    } as unknown as Facets["metrics"],
  };
}

/** An exporter that keeps what it is given (InMemorySpanExporter forgets its spans on shutdown). */
function keepingExporter(): { finished: ReadableSpan[]; exported: SpanExporter } {
  const finished: ReadableSpan[] = [];
  const exported: SpanExporter = {
    export: (spans, done) => {
      finished.push(...spans);
      done({ code: ExportResultCode.SUCCESS });
    },
    shutdown: async () => {},
  };
  return { finished, exported };
}

afterEach(() => {
  trace.disable();
  context.disable();
  propagation.disable();
});

describe("readTraceEnv", () => {
  it("reads the standard variables: endpoint with /v1/traces appended, headers, sampler, batch bounds", () => {
    const env = readTraceEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318/",
      OTEL_EXPORTER_OTLP_HEADERS: "api-key=a%20b,x=1",
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x=2",
      OTEL_TRACES_SAMPLER: "traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "0.25",
      OTEL_BSP_SCHEDULE_DELAY: "100",
      OTEL_SERVICE_NAME: "orders",
    });
    expect(env).toMatchObject({
      endpoint: "http://127.0.0.1:4318/v1/traces",
      headers: { "api-key": "a b", x: "2" },
      sampler: "traceidratio",
      samplerArg: 0.25,
      batch: { scheduledDelayMillis: 100 },
      serviceName: "orders",
      timeoutMs: 10_000,
    });
    expect(readTraceEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://127.0.0.1:1/custom" }).endpoint).toBe(
      "http://127.0.0.1:1/custom",
    );
  });

  it("refuses a value it cannot honour with a ConfigError naming the variable", () => {
    const cases: Record<string, string> = {
      OTEL_TRACES_SAMPLER: "jaeger_remote",
      OTEL_TRACES_SAMPLER_ARG: "2",
      OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318",
      OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
      OTEL_TRACES_EXPORTER: "zipkin",
      OTEL_BSP_MAX_QUEUE_SIZE: "-1",
    };
    for (const [variable, value] of Object.entries(cases)) {
      let thrown: unknown;
      try {
        readTraceEnv({ [variable]: value });
      } catch (error) {
        thrown = error;
      }
      expect(thrown, variable).toBeInstanceOf(ConfigError);
      expect((thrown as ConfigError).details.variable).toBe(variable);
    }
  });
});

describe("resolveTraceSettings", () => {
  it("takes each OTEL_* variable over tandem.yaml, and tandem.yaml over the defaults", () => {
    const file = config({
      service: "from-file",
      "telemetry.traces.sampler": "always_off",
      "telemetry.traces.ratio": 1,
      "telemetry.traces.export.otlp": "http://127.0.0.1:9/",
    });
    const fromFile = resolveTraceSettings(readTraceEnv({}), file);
    expect(fromFile.serviceName).toBe("from-file");
    expect(fromFile.endpoint).toBe("http://127.0.0.1:9/v1/traces");
    expect(fromFile.sampler.toString()).toBe("AlwaysOffSampler");
    const fromEnv = resolveTraceSettings(
      readTraceEnv({
        OTEL_SERVICE_NAME: "from-env",
        OTEL_TRACES_SAMPLER: "always_on",
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:8",
      }),
      file,
    );
    expect(fromEnv).toMatchObject({ serviceName: "from-env", endpoint: "http://127.0.0.1:8/v1/traces" });
    expect(fromEnv.sampler.toString()).toBe("AlwaysOnSampler");
    const none = resolveTraceSettings(readTraceEnv({}), undefined);
    expect(none.endpoint).toBeUndefined();
    expect(none.serviceName).toMatch(/^unknown_service:/);
  });
});

describe("startTracing", () => {
  /** Tracing with no exporter, under the given sampler. */
  const start = (sampler = "parentbased_always_on") =>
    startTracing({
      env: readTraceEnv({ OTEL_TRACES_SAMPLER: sampler }),
      facets: {},
      logger: silent,
      metrics: metrics().metrics,
      exporter: () => undefined,
    });
  it("leaves a TracerProvider the application registered in place, and uses it", async () => {
    const theirs = new InMemorySpanExporter();
    const provider = new SdkTracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: theirs })] });
    trace.setGlobalTracerProvider(provider);
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: "info" }, { write: (l: string) => lines.push(JSON.parse(l)) });
    let asked = false;
    const tracing = startTracing({
      env: readTraceEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" }),
      facets: {},
      logger,
      metrics: metrics().metrics,
      exporter: () => {
        asked = true;
        return undefined;
      },
    });
    tracing.tracer.startSpan("in-their-provider").end();
    expect(theirs.getFinishedSpans().map((s) => s.name)).toEqual(["in-their-provider"]);
    expect(asked).toBe(false);
    expect(lines.some((l) => l.event === "tracing_external")).toBe(true);
    await tracing.close();
    trace.getTracer("app").startSpan("still-theirs").end();
    expect(theirs.getFinishedSpans().map((s) => s.name)).toContain("still-theirs");
  });

  it("settles the service name at the first span from the config facet that started after it, and flushes on close", async () => {
    const { finished, exported } = keepingExporter();
    const facets: Partial<Facets> = {};
    const tracing = startTracing({
      env: readTraceEnv({ OTEL_BSP_SCHEDULE_DELAY: "60000" }),
      facets,
      logger: silent,
      metrics: metrics().metrics,
      exporter: () => exported,
    });
    // The config concern starts after the observability concern.
    facets.config = config({ service: "orders" });
    await tracing.tracer.startActiveSpan("parent", async (parent) => {
      await new Promise((r) => setTimeout(r, 1));
      trace.getTracer("instrumentation").startSpan("child").end();
      parent.end();
    });
    expect(finished).toHaveLength(0);
    await tracing.close();
    const [child, parent] = finished;
    expect(parent?.resource.attributes["service.name"]).toBe("orders");
    expect(child?.parentSpanContext?.spanId).toBe(parent?.spanContext().spanId);
    // What tandem registered is unregistered, so a later runtime can register again.
    expect(trace.getTracer("after").startSpan("noop").isRecording()).toBe(false);
  });

  it("counts spans lost to a full queue or a failed export in tandem_telemetry_dropped_total{signal=traces}", async () => {
    const { metrics: m, dropped } = metrics();
    const tracing = startTracing({
      env: readTraceEnv({ OTEL_BSP_MAX_QUEUE_SIZE: "2", OTEL_BSP_SCHEDULE_DELAY: "60000" }),
      facets: {},
      logger: silent,
      metrics: m,
      exporter: () => ({
        export: (_spans, done) => done({ code: ExportResultCode.FAILED, error: new Error("collector down") }),
        shutdown: async () => {},
      }),
    });
    for (let i = 0; i < 5; i++) tracing.tracer.startSpan(`s${i}`).end();
    expect(dropped.total({ signal: "traces" })).toBe(3);
    await tracing.close();
    expect(dropped.total({ signal: "traces" })).toBe(5);
  });

  it("without an exporter records no span but still propagates the trace and the sampler's decision", async () => {
    const tracing = start("parentbased_always_on");
    const root = tracing.tracer.startSpan("root");
    expect(root.isRecording()).toBe(false);
    expect(trace.isSpanContextValid(root.spanContext())).toBe(true);
    expect(root.spanContext().traceFlags).toBe(1);
    const child = tracing.tracer.startActiveSpan("child", {}, trace.setSpan(context.active(), root), (span) => {
      const headers: Record<string, string> = {};
      propagation.inject(context.active(), headers);
      return { span, headers };
    });
    expect(child.span.spanContext().traceId).toBe(root.spanContext().traceId);
    expect(child.span.spanContext().spanId).not.toBe(root.spanContext().spanId);
    expect(child.headers.traceparent).toBe(`00-${root.spanContext().traceId}-${child.span.spanContext().spanId}-01`);
    await tracing.close();
    trace.disable();
    context.disable();
    propagation.disable();
    const off = start("always_off");
    const unsampled = off.tracer.startSpan("x");
    expect(trace.isSpanContextValid(unsampled.spanContext())).toBe(true);
    expect(unsampled.spanContext().traceFlags).toBe(0);
    await off.close();
  });

  it("without an exporter writes a child's trace header lines itself, as the span and the W3C propagator would", async () => {
    const tracing = start();
    const writer = tracing.tracer as unknown as ChildTraceLines;
    /** The lines written for a child of `parent`, as the headers they are. */
    const write = (parent = ROOT_CONTEXT): Record<string, string> | undefined => {
      const lines = writer[CHILD_TRACE_LINES](parent, "GET", SpanKind.CLIENT);
      if (lines === undefined) return undefined;
      expect(lines === "" || lines.endsWith("\r\n")).toBe(true);
      const fields: Record<string, string> = {};
      for (const line of lines.split("\r\n").slice(0, -1)) {
        const colon = line.indexOf(": ");
        fields[line.slice(0, colon)] = line.slice(colon + 2);
      }
      return fields;
    };
    const viaSpan = (parent = ROOT_CONTEXT) => {
      const headers: Record<string, string> = {};
      propagation.inject(trace.setSpan(parent, tracing.tracer.startSpan("GET", {}, parent)), headers);
      return headers;
    };
    const traceparent = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

    // No parent: a new trace, sampled, exactly the shape the propagator writes.
    const root = write() as Record<string, string>;
    expect(Object.keys(root).sort()).toEqual(Object.keys(viaSpan()).sort());
    expect(root.traceparent).toMatch(traceparent);
    expect(root.traceparent?.endsWith("-01")).toBe(true);
    expect(write()?.traceparent?.slice(3, 35)).not.toBe(root.traceparent?.slice(3, 35));

    // A parent: its trace, a new span id, its flags and trace state.
    const parent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags: TraceFlags.NONE,
      traceState: new TraceState("vendor=abc,other=1"),
      isRemote: true,
    });
    const child = write(parent) as Record<string, string>;
    const reference = viaSpan(parent);
    expect(Object.keys(child).sort()).toEqual(["traceparent", "tracestate"]);
    expect(child.traceparent).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-00$/);
    expect(child.traceparent?.slice(36, 52)).not.toBe("b7ad6b7169203331");
    expect(child.traceparent?.slice(0, 36)).toBe(reference.traceparent?.slice(0, 36));
    expect(child.tracestate).toBe("vendor=abc,other=1");
    expect(child.tracestate).toBe(reference.tracestate);

    // Suppressed tracing sends nothing.
    expect(writer[CHILD_TRACE_LINES](suppressTracing(ROOT_CONTEXT), "GET", SpanKind.CLIENT)).toBe("");
    // Baggage is the propagator's to write: the caller is told to go through it.
    const bagged = propagation.setBaggage(parent, propagation.createBaggage({ user: { value: "7" } }));
    expect(write(bagged)).toBeUndefined();
    await tracing.close();
    // Closed: the propagator is gone, and so is the shortcut.
    expect(write()).toBeUndefined();

    // Another propagator than tandem's W3C pair: never written around it.
    trace.disable();
    context.disable();
    propagation.disable();
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const theirs = start();
    expect(
      (theirs.tracer as unknown as ChildTraceLines)[CHILD_TRACE_LINES](ROOT_CONTEXT, "GET", SpanKind.CLIENT),
    ).toBeUndefined();
    await theirs.close();
  });

  it("draws trace and span ids as lowercase hex of the right length, distinct across pool refills", () => {
    const ids = new PooledIdGenerator();
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const traceId = ids.generateTraceId();
      const spanId = ids.generateSpanId();
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(trace.isSpanContextValid({ traceId, spanId, traceFlags: 0 })).toBe(true);
      seen.add(traceId).add(spanId);
    }
    expect(seen.size).toBe(2000);
    // All zeros is no id: drawn again (here, from the pool's next fill).
    let fills = 0;
    const zerosFirst = new PooledIdGenerator((pool) => {
      pool.fill(fills++ === 0 ? 0 : 0xab);
    });
    expect(zerosFirst.generateSpanId()).toBe("abababababababab");
    expect(zerosFirst.generateTraceId()).toBe("ab".repeat(16));
    expect(fills).toBe(2);
  });

  it("once every concern has started, settles the settings and builds the exporting provider before any span", async () => {
    const { finished, exported } = keepingExporter();
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: "info" }, { write: (l: string) => lines.push(JSON.parse(l)) });
    const facets: Partial<Facets> = {};
    let asked = 0;
    const tracing = startTracing({
      env: readTraceEnv({ OTEL_BSP_SCHEDULE_DELAY: "60000" }),
      facets,
      logger,
      metrics: metrics().metrics,
      exporter: () => {
        asked++;
        return exported;
      },
    });
    facets.config = config({ service: "orders" });
    await tracing.prepare();
    expect(lines.filter((l) => l.event === "tracing_started")).toMatchObject([{ service: "orders", export: "otlp" }]);
    const span = tracing.tracer.startSpan("after-start");
    expect(span.isRecording()).toBe(true);
    span.end();
    await tracing.prepare();
    await tracing.close();
    expect(asked).toBe(1);
    expect(finished.map((s) => [s.name, s.resource.attributes["service.name"]])).toEqual([["after-start", "orders"]]);
  });

  it("sets up nothing when OTEL_SDK_DISABLED=true", async () => {
    let asked = false;
    const tracing = startTracing({
      env: readTraceEnv({ OTEL_SDK_DISABLED: "true" }),
      facets: {},
      logger: silent,
      metrics: metrics().metrics,
      exporter: () => {
        asked = true;
        return undefined;
      },
    });
    expect(tracing.tracer.startSpan("x").isRecording()).toBe(false);
    expect(asked).toBe(false);
    await tracing.close();
  });
});

describe("samplers", () => {
  /** Random lowercase hex of `length` characters. */
  const hex = (length: number) =>
    Array.from({ length }, () => "0123456789abcdef"[Math.floor(Math.random() * 16)]).join("");
  const decide = (sampler: Sampler, parent: ReturnType<typeof context.active>, traceId: string) =>
    sampler.shouldSample(parent, traceId, "span", SpanKind.CLIENT, {}, []).decision;

  it("decide as the SDK's do for the same trace id, parent and ratio", () => {
    const parents = [
      ROOT_CONTEXT,
      ...[true, false].flatMap((isRemote) =>
        [TraceFlags.SAMPLED, TraceFlags.NONE].map((traceFlags) =>
          trace.setSpanContext(ROOT_CONTEXT, { traceId: hex(32), spanId: hex(16), traceFlags, isRemote }),
        ),
      ),
    ];
    const ids = [...Array.from({ length: 2000 }, () => hex(32)), "0".repeat(32), "not-a-trace-id", "f".repeat(32)];
    for (const ratio of [0, 0.001, 0.1, 0.5, 0.999, 1]) {
      const pairs: [Sampler, Sampler][] = [
        [new own.TraceIdRatioBasedSampler(ratio), new TraceIdRatioBasedSampler(ratio)],
        [
          new own.ParentBasedSampler(new own.TraceIdRatioBasedSampler(ratio)),
          new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }),
        ],
      ];
      for (const [ours, sdks] of pairs) {
        expect(ours.toString()).toBe(sdks.toString());
        for (const parent of parents) {
          for (const id of ids) expect(decide(ours, parent, id), `${ours} ${id}`).toBe(decide(sdks, parent, id));
        }
      }
    }
    // A ratio of a half samples about half.
    const half = new own.TraceIdRatioBasedSampler(0.5);
    const sampled = ids.filter((id) => decide(half, ROOT_CONTEXT, id) === 2).length;
    expect(sampled).toBeGreaterThan(800);
    expect(sampled).toBeLessThan(1200);
    expect(new own.TraceIdRatioBasedSampler(Number.NaN).toString()).toBe("TraceIdRatioBased{0}");
    expect(decide(new own.AlwaysOnSampler(), ROOT_CONTEXT, hex(32))).toBe(2);
    expect(decide(new own.AlwaysOffSampler(), ROOT_CONTEXT, hex(32))).toBe(0);
  });
});
