import type { FieldLines } from "@tandem/core";
import { AbortedError, TandemError, TimeoutError } from "@tandem/core";
import { BodyReadable } from "@tandem/core/undici";
import type { Dispatcher } from "undici";
import { UpstreamError } from "../errors.js";
import type { Deadline, DeadlineWheel } from "../policies/deadline-wheel.js";
import { type AttemptAbort, AttemptHandler, type Controller, ignore } from "./attempt-handler.js";

type Body = Dispatcher.ResponseData["body"];

/**
 * Sends one request through undici's dispatcher as undici's `request()` does, and resolves with
 * the same answer (a body with `text()`, `json()`, ...) once its head arrives. `signal` aborts it,
 * before the answer (the promise rejects at once, even while the request waits for a connection)
 * or while the body arrives (the body fails with the signal's reason).
 */
export function dispatchForResponse(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  signal: AttemptAbort,
): Promise<Dispatcher.ResponseData> {
  if (BodyReadable === undefined) {
    return dispatcher.request({ ...options, signal: signal as unknown as AbortSignal });
  }
  return new Promise((resolve, reject) => {
    new ResponseHandler(resolve, reject, signal, options).send((handler) =>
      dispatcher.dispatch(options, handler as unknown as Dispatcher.DispatchHandler),
    );
  });
}

/** undici's handler of one request read through a stream: its body is undici's own body class. */
class ResponseHandler extends AttemptHandler<Dispatcher.ResponseData> {
  readonly #head: boolean;
  readonly #trailers: Record<string, string | string[]> = {};
  #body: Body | undefined;
  #link: BodyLink | undefined;

  constructor(
    resolve: (answer: Dispatcher.ResponseData) => void,
    reject: (error: unknown) => void,
    signal: AttemptAbort,
    options: Dispatcher.DispatchOptions,
  ) {
    super(resolve, reject, signal, options.body);
    this.#head = options.method === "HEAD";
  }

  protected answer(
    controller: Controller,
    statusCode: number,
    head: FieldLines,
    statusText: string,
    context: unknown,
  ): Dispatcher.ResponseData {
    const headers = head.headers;
    // The body reaches the request only through `link`, which lets go of it once the body is
    // done: a body kept (read late, or held by a listener table in the old generation) does not
    // keep the request's objects, the pipeline's included, alive with it.
    const link = new BodyLink(controller);
    this.#link = link;
    const resume = (): void => link.controller?.resume();
    const abort = (reason?: Error): void => link.controller?.abort(reason);
    const contentLength = headers["content-length"];
    const body = new (BodyReadable as NonNullable<typeof BodyReadable>)({
      resume,
      abort,
      contentType: headers["content-type"],
      contentLength: !this.#head && contentLength !== undefined ? Number(contentLength) : null,
    });
    this.#body = body;
    return {
      statusCode,
      statusText,
      headers,
      trailers: this.#trailers,
      opaque: null,
      body,
      context: context as object,
    } as Dispatcher.ResponseData;
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.#body !== undefined && !this.#body.push(chunk)) controller.pause();
  }

  onResponseEnd(_controller: Controller, trailers?: Record<string, string | string[]>): void {
    if (trailers !== undefined && trailers !== null) {
      for (const key of Object.keys(trailers)) {
        Object.defineProperty(this.#trailers, key, {
          value: trailers[key],
          enumerable: true,
          configurable: true,
          writable: true,
        });
      }
    }
    this.release();
    this.#unlink();
    this.#body?.push(null);
  }

  protected bodyFailed(error: Error): boolean {
    const body = this.#body;
    if (body === undefined) return false;
    this.#body = undefined;
    this.release();
    this.#unlink();
    // As undici does: a tick later (this may run inside the body's own destroy), and with a
    // listener, so that a body nobody reads fails without an unhandled error.
    queueMicrotask(() => {
      if (!body.destroyed) body.on("error", ignore).destroy(error);
    });
    return true;
  }

  protected bodyAborted(reason: Error): boolean {
    const body = this.#body;
    if (body === undefined) return false;
    this.#body = undefined;
    if (!body.destroyed) body.on("error", ignore).destroy(reason);
    return true;
  }

  #unlink(): void {
    if (this.#link !== undefined) this.#link.controller = undefined;
    this.#link = undefined;
  }
}

/** How a body asks for more of itself or stops its request, until it is done. */
class BodyLink {
  controller: Controller | undefined;

  constructor(controller: Controller) {
    this.controller = controller;
  }
}

/** How to explain the failures of one response body: one object per response, no closures. */
export interface BodyGuard {
  /** The error when the body's time ran out before it ended. */
  timedOut(): TandemError;
  /** What a transport failure while reading the body (a reset, an idle timeout) becomes. */
  failed(error: unknown): TandemError;
}

/** The body's time limit: `timeoutMs` from now, on the runtime's shared wheel. */
export interface BodyBound {
  wheel: DeadlineWheel;
  timeoutMs: number;
}

/**
 * A body's deadline is kept to this many ms (rounded up, never early): bodies that started within
 * the same window share a lane of the wheel, where exact remaining times would each make one.
 */
const BOUND_GRANULARITY_MS = 10;

const WATCH = Symbol("tandem.responseBody");

type Guarded = Body & { [WATCH]: BodyWatch };

/**
 * Holds an upstream's response body to the request's total timeout, as Envoy's route timeout
 * covers the whole response, so a body trickled slowly enough never to look idle fails instead
 * of hanging; and turns a transport failure while the body is read into an error that names the
 * upstream, not a bare socket error. The body keeps its undici helpers (`text()`, `json()`, ...).
 * Per response that is one small object and a slot on the shared deadline wheel: no timer, no
 * listener, no closure.
 */
export function guardBody(body: Body, guard: BodyGuard, bound?: BodyBound): void {
  const watch = new BodyWatch(body, guard);
  (body as Guarded)[WATCH] = watch;
  // undici ends a body through destroy(): with the error that gets its name here, or with none
  // once it was read to the end (auto-destroy), which is when its deadline is let go.
  body.destroy = guardedDestroy as Body["destroy"];
  if (bound !== undefined) watch.deadline = bound.wheel.arm(bodyDeadlineMs(bound.timeoutMs), watch);
}

/** A body's time limit as armed on the wheel: whole multiples of the granularity, at least 1 ms. */
export function bodyDeadlineMs(timeoutMs: number): number {
  return Math.max(1, Math.ceil(timeoutMs / BOUND_GRANULARITY_MS) * BOUND_GRANULARITY_MS);
}

class BodyWatch {
  readonly body: Body;
  readonly guard: BodyGuard;
  deadline: Deadline | undefined;

  constructor(body: Body, guard: BodyGuard) {
    this.body = body;
    this.guard = guard;
  }

  /**
   * The bound is on the upstream, not on the caller: a body that arrived whole is kept for a
   * caller that reads it late. One still arriving is cut off; without a reader its error has no
   * listener, so one that ignores it is added, as undici does for the errors it raises.
   */
  expire(): void {
    this.deadline = undefined;
    const body = this.body;
    if (body.destroyed || arrived(body)) return;
    body.on("error", ignore);
    body.destroy(this.guard.timedOut());
  }
}

function guardedDestroy(this: Guarded, error?: Error | null): Body {
  const watch = this[WATCH];
  watch.deadline?.cancel();
  watch.deadline = undefined;
  const named =
    error === undefined || error === null ? undefined : TandemError.is(error) ? error : watch.guard.failed(error);
  // The prototype's destroy: undici's own, which this one stands in front of.
  return (Object.getPrototypeOf(this) as Body).destroy.call(this, named);
}

/** Whether the upstream sent the whole body (ended), read by the caller or not. */
function arrived(body: Body): boolean {
  return (body as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended === true;
}

/**
 * The errors a body fails with in both modes, naming the upstream and the endpoint it came from;
 * `where` starts the message (`payments (10.0.0.7:8080)`, or just the upstream's name).
 */
export const bodyErrors = {
  aborted(upstream: string, endpoint: string, cause: unknown): TandemError {
    return new AbortedError(`${upstream}: the request was aborted by the caller`, {
      cause,
      details: { upstream, endpoint },
    });
  },

  totalTimeout(where: string, upstream: string, endpoint: string, totalMs: number): TandemError {
    return new TimeoutError(`${where}: the total timeout of ${totalMs} ms passed while the response body was read`, {
      details: { upstream, endpoint, bound: "total", timeoutMs: totalMs },
    });
  },

  cutOff(where: string, upstream: string, endpoint: string, cause: unknown): TandemError {
    const why = (cause as { code?: string }).code ?? (cause as Error).message;
    return new UpstreamError(upstream, endpoint, "reset", cause, `${where}: the response body was cut off (${why})`);
  },
};
