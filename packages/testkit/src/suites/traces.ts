import { context as otelContext, propagation, type SpanContext } from "@opentelemetry/api";
import { expect, it } from "vitest";
import type { ConformanceContext } from "../conformance.js";
import type { OtlpReceiver } from "../otlp-receiver.js";

/**
 * Traces: spans made with `rt.tracer` reach the OTLP endpoint with their names, ids, parentage
 * and `service.name`, whether the service exports them itself (library mode) or the sidecar
 * forwards them (sidecar mode). `receiver` is where both are configured to send; `service` is
 * the `service` of the config file.
 */
export function tracesSuite(context: ConformanceContext, receiver: OtlpReceiver, service: string): void {
  it("exports a parent and its child with their trace id, parentage, scope and service.name", async () => {
    const tracer = context.runtime.tracer;
    const parentName = `conformance-parent-${context.mode}`;
    const childName = `conformance-child-${context.mode}`;
    let parentIds: SpanContext | undefined;
    let childIds: SpanContext | undefined;
    await tracer.startActiveSpan(parentName, async (parent) => {
      // Across an await, as real work is: the active span must survive it.
      await new Promise((resolve) => setTimeout(resolve, 1));
      const child = tracer.startSpan(childName);
      childIds = child.spanContext();
      child.end();
      parentIds = parent.spanContext();
      parent.end();
    });
    const spans = await receiver.waitFor(
      (all) => all.some((s) => s.name === parentName) && all.some((s) => s.name === childName),
    );
    const parent = spans.find((s) => s.name === parentName);
    const child = spans.find((s) => s.name === childName);
    expect(parent).toMatchObject({ traceId: parentIds?.traceId, spanId: parentIds?.spanId, parentSpanId: undefined });
    expect(child).toMatchObject({
      traceId: parentIds?.traceId,
      spanId: childIds?.spanId,
      parentSpanId: parentIds?.spanId,
    });
    expect(parent?.resource["service.name"]).toBe(service);
    expect(parent?.scope).toBe("tandem");
  });

  it("continues a trace from an incoming W3C traceparent", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const remoteParent = "00f067aa0ba902b7";
    const incoming = propagation.extract(otelContext.active(), { traceparent: `00-${traceId}-${remoteParent}-01` });
    const name = `conformance-continued-${context.mode}`;
    context.runtime.tracer.startSpan(name, {}, incoming).end();
    const spans = await receiver.waitFor((all) => all.some((s) => s.name === name));
    expect(spans.find((s) => s.name === name)).toMatchObject({ traceId, parentSpanId: remoteParent });
  });
}
