import type { Context, Span, SpanKind, SpanOptions, Tracer, TracerOptions, TracerProvider } from "@opentelemetry/api";
import { CHILD_TRACE_LINES, type ChildTraceLines } from "@tandem/core";

/**
 * A tracer that finds the tracer it stands for at its first span, so a tracer can be handed out
 * before the settings it needs (the config file) are known. Afterwards each call costs one
 * indirection: no closure or timer per span.
 */
export class DeferredTracer implements Tracer, ChildTraceLines {
  #tracer: Tracer | undefined;
  readonly #resolve: () => Tracer;

  constructor(resolve: () => Tracer) {
    this.#resolve = resolve;
  }

  startSpan(name: string, options?: SpanOptions, context?: Context): Span {
    this.#tracer ??= this.#resolve();
    return this.#tracer.startSpan(name, options, context);
  }

  /** The tracer's own, when it has one (see `CHILD_TRACE_LINES`). */
  [CHILD_TRACE_LINES](parent: Context, name: string, kind: SpanKind): string | undefined {
    this.#tracer ??= this.#resolve();
    return (this.#tracer as Partial<ChildTraceLines>)[CHILD_TRACE_LINES]?.(parent, name, kind);
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    options: SpanOptions,
    context: Context,
    fn: F,
  ): ReturnType<F>;
  startActiveSpan(name: string, ...rest: unknown[]): unknown {
    this.#tracer ??= this.#resolve();
    return (this.#tracer.startActiveSpan as (name: string, ...rest: unknown[]) => unknown)(name, ...rest);
  }
}

/**
 * A tracer provider that builds the real one at the first span of any of its tracers. It is
 * what tandem registers globally, so instrumentation that asks `trace.getTracer()` early gets
 * tracers that work once the runtime has started.
 */
export class DeferredTracerProvider implements TracerProvider {
  readonly #tracers = new Map<string, DeferredTracer>();
  readonly #build: () => TracerProvider;
  #provider: TracerProvider | undefined;

  constructor(build: () => TracerProvider) {
    this.#build = build;
  }

  /** Builds the real provider now rather than at the first span. */
  build(): void {
    this.#provider ??= this.#build();
  }

  getTracer(name: string, version?: string, options?: TracerOptions): Tracer {
    const key = `${name}@${version ?? ""}:${options?.schemaUrl ?? ""}`;
    let tracer = this.#tracers.get(key);
    if (tracer === undefined) {
      tracer = new DeferredTracer(() => {
        this.#provider ??= this.#build();
        return this.#provider.getTracer(name, version, options);
      });
      this.#tracers.set(key, tracer);
    }
    return tracer;
  }
}
