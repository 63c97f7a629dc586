import type { UpstreamRequest } from "@tandem/core";
import { Dispatcher as UndiciDispatcher } from "@tandem/core/undici";
import type { Dispatcher } from "undici";

type Send = (request: UpstreamRequest) => Promise<Dispatcher.ResponseData>;

/** The controller handed to a handler: abort, and pause/resume of the response body. */
class Controller implements Dispatcher.DispatchController {
  readonly #abort = new AbortController();
  #paused = false;
  #resume: (() => void) | undefined;

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get aborted(): boolean {
    return this.#abort.signal.aborted;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get reason(): Error | null {
    return this.aborted ? (this.#abort.signal.reason as Error) : null;
  }

  abort(reason: Error): void {
    this.#abort.abort(reason);
    this.resume();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#resume?.();
    this.#resume = undefined;
  }

  /** Resolves when the handler wants more body. */
  ready(): Promise<void> | undefined {
    if (!this.#paused) return undefined;
    return new Promise((resolve) => {
      this.#resume = resolve;
    });
  }
}

/**
 * An undici dispatcher that sends every request through an upstream's pipeline, whatever
 * origin the URL names, so `fetch(url, { dispatcher })` and undici's `request` get the same
 * balancing, retries, breaker and timeouts as `rt.http.request`. Speaks undici's handler API.
 */
export class UpstreamDispatcher extends UndiciDispatcher {
  readonly #send: Send;

  constructor(send: Send) {
    super();
    this.#send = send;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const controller = new Controller();
    const legacy = handler as unknown as LegacyHandler;
    if (typeof handler.onRequestStart !== "function" && typeof legacy.onConnect === "function") {
      // The handler API of older undici releases, which Node's own fetch still speaks.
      legacy.onConnect((reason) => controller.abort(reason as Error), {});
      if (!controller.aborted) void this.#pump(options, fromLegacy(legacy), controller);
      return true;
    }
    handler.onRequestStart?.(controller, {});
    if (controller.aborted) return true;
    const signal = (options as { signal?: AbortSignal }).signal;
    signal?.addEventListener("abort", () => controller.abort(signal.reason as Error), { once: true });
    void this.#pump(options, handler, controller);
    return true;
  }

  async #pump(
    options: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
    controller: Controller,
  ): Promise<void> {
    try {
      const response = await this.#send({
        method: options.method,
        path: options.path,
        headers: headersOf(options.headers),
        ...(options.body === undefined || options.body === null ? {} : { body: options.body }),
        signal: controller.signal,
      });
      handler.onResponseStart?.(controller, response.statusCode, response.headers, "");
      for await (const chunk of response.body) {
        if (controller.aborted) {
          response.body.destroy();
          break;
        }
        handler.onResponseData?.(controller, chunk as Buffer);
        await controller.ready();
      }
      if (controller.aborted) handler.onResponseError?.(controller, controller.reason ?? new Error("aborted"));
      else handler.onResponseEnd?.(controller, response.trailers ?? {});
    } catch (error) {
      handler.onResponseError?.(controller, error as Error);
    }
  }

  override close(): Promise<void> {
    return Promise.resolve();
  }

  override destroy(): Promise<void> {
    return Promise.resolve();
  }
}

/** The callbacks of undici's earlier handler API. */
interface LegacyHandler {
  onConnect(abort: (reason?: unknown) => void, context?: object): void;
  onHeaders?(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
  onData?(chunk: Buffer): boolean;
  onComplete?(rawTrailers: Buffer[]): void;
  onError?(error: Error): void;
}

/** The current handler API on top of an earlier-style handler. */
function fromLegacy(handler: LegacyHandler): Dispatcher.DispatchHandler {
  const raw = (headers: Record<string, string | string[] | undefined>) => {
    const out: Buffer[] = [];
    for (const [key, value] of Object.entries(headers)) {
      for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value])
        out.push(Buffer.from(key), Buffer.from(v));
    }
    return out;
  };
  return {
    onResponseStart(controller, statusCode, headers, statusMessage) {
      const more = handler.onHeaders?.(
        statusCode,
        raw(headers as Record<string, string | string[]>),
        () => controller.resume(),
        statusMessage ?? "",
      );
      if (more === false) controller.pause();
    },
    onResponseData(controller, chunk) {
      if (handler.onData?.(chunk) === false) controller.pause();
    },
    onResponseEnd(_controller, trailers) {
      handler.onComplete?.(raw(trailers as Record<string, string | string[]>));
    },
    onResponseError(_controller, error) {
      handler.onError?.(error);
    },
  };
}

/** undici's headers come as an object, a flat array or pairs: one plain object for the pipeline. */
function headersOf(headers: Dispatcher.DispatchOptions["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers === undefined || headers === null) return out;
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const [k, v] of headers as unknown as [string, string][]) out[k.toLowerCase()] = v;
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2) out[String(headers[i]).toLowerCase()] = String(headers[i + 1]);
    }
    return out;
  }
  for (const [k, v] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}
