import { context, TraceFlags, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { traceMixin } from "@tandem/observability";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

describe("traceMixin", () => {
  const manager = new AsyncLocalStorageContextManager();
  beforeAll(() => {
    context.setGlobalContextManager(manager.enable());
  });
  afterAll(() => {
    context.disable();
  });

  it("puts the active span's trace and span ids on every line logged inside it, and none outside", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ mixin: traceMixin }, { write: (l: string) => lines.push(JSON.parse(l)) });
    const span = trace.wrapSpanContext({
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags: TraceFlags.SAMPLED,
    });
    await context.with(trace.setSpan(context.active(), span), async () => {
      await new Promise((r) => setTimeout(r, 1));
      logger.info("inside");
    });
    logger.info("outside");
    expect(lines[0]).toMatchObject({
      msg: "inside",
      trace_id: "0af7651916cd43dd8448eb211c80319c",
      span_id: "b7ad6b7169203331",
      trace_flags: "01",
    });
    expect(lines[1]).not.toHaveProperty("trace_id");
  });
});
