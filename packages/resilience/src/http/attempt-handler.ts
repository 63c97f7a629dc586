import type { IncomingHttpHeaders } from "node:http";
import { FieldLines, TandemError } from "@tandem/core";

/** What an attempt asks of undici's per-request controller. */
export interface Controller {
  pause(): void;
  resume(): void;
  abort(reason?: Error): void;
}

/** An abort signal as the upstream pipeline hands one to an attempt (its `AttemptSignal`). */
export interface AttemptAbort {
  reason: unknown;
  addEventListener(type: "abort", listener: () => void): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/**
 * undici's handler of one attempt (its handler interface with controllers): settles the attempt's
 * promise when the answer's head arrives or the attempt fails, and follows the attempt's signal
 * until the answer's body is done. What the body is, and how it is fed, is the subclass's.
 *
 * The signal is followed through one plain listener of the handler's own, not undici's: undici's
 * request API adds its abort listener to the response body's `close` event, and V8 allocates a
 * stream's listener table in the old generation once it has seen most of them outlive a
 * young-generation collection. The whole attempt is then reachable from the old generation and
 * is promoted with it, every request, to die there (docs/benchmarks.md, scenario 2).
 */
export abstract class AttemptHandler<Answer> {
  readonly #resolve: (answer: Answer) => void;
  readonly #reject: (error: unknown) => void;
  readonly #signal: AttemptAbort;
  readonly #abort: () => void;
  #requestBody: unknown;
  #controller: Controller | undefined;
  #context: unknown;
  #reason: Error | undefined;
  #settled = false;
  #listening = false;

  constructor(
    resolve: (answer: Answer) => void,
    reject: (error: unknown) => void,
    signal: AttemptAbort,
    requestBody: unknown,
  ) {
    this.#resolve = resolve;
    this.#reject = reject;
    this.#signal = signal;
    this.#requestBody = requestBody;
    // Bound, not `this.#abort = () => ...`: V8 allocates a function literal assigned to a
    // property in the old generation (taking it for a long-lived method), where it keeps what it
    // captures, here the handler and through it the whole request, alive through young-generation
    // collections: every request was promoted to the old generation and died there.
    // `const f = () => ...` then `this.x = f`, or a bound function, is allocated young.
    this.#abort = this.#aborted.bind(this);
  }

  /**
   * Sends the attempt through `dispatch` once its signal is followed; nothing is sent when the
   * signal has aborted already (the promise is rejected then).
   */
  send(dispatch: (handler: this) => void): void {
    this.#listening = true;
    // A signal aborted already calls the listener at once, which settles the promise.
    this.#signal.addEventListener("abort", this.#abort);
    if (this.#settled) return;
    try {
      dispatch(this);
    } catch (error) {
      this.onResponseError(undefined, error as Error);
    }
  }

  /** The answer, made when its head arrives: its body fed by the subclass from here on. */
  protected abstract answer(
    controller: Controller,
    statusCode: number,
    head: FieldLines,
    statusText: string,
    context: unknown,
  ): Answer;

  /** The attempt failed after the answer was made: true when its body took the error. */
  protected abstract bodyFailed(error: Error): boolean;

  /** The attempt's signal aborted after the answer was made: true when its body was destroyed. */
  protected abstract bodyAborted(reason: Error): boolean;

  abstract onResponseData(controller: Controller, chunk: Buffer): void;

  abstract onResponseEnd(controller: Controller, trailers?: Record<string, string | string[]>): void;

  onRequestStart(controller: Controller, context: unknown): void {
    if (this.#reason !== undefined) {
      controller.abort(this.#reason);
      return;
    }
    this.#controller = controller;
    this.#context = context;
  }

  onResponseStart(controller: Controller, statusCode: number, headers: IncomingHttpHeaders, statusText: string): void {
    this.onResponseHead(controller, statusCode, FieldLines.of(headers), statusText);
  }

  /** tandem's client: the head as it came, its lines made into an object only when asked. */
  onResponseHead(controller: Controller, statusCode: number, head: FieldLines, statusText: string): void {
    // Informational answers (100 Continue, 103 Early Hints) are not the answer.
    if (statusCode < 200 || this.#settled) return;
    this.#settled = true;
    this.#resolve(this.answer(controller, statusCode, head, statusText, this.#context));
  }

  onResponseError(_controller: Controller | undefined, error: Error): void {
    const body = this.#requestBody as { destroy?: (error: Error) => void; on?: (e: string, f: () => void) => void };
    this.#requestBody = undefined;
    if (typeof body?.destroy === "function") {
      body.on?.("error", ignore);
      body.destroy(error);
    }
    if (this.bodyFailed(error)) return;
    this.release();
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(error);
  }

  /** The answer's body is done: the attempt's signal is let go. */
  protected release(): void {
    if (!this.#listening) return;
    this.#listening = false;
    this.#signal.removeEventListener("abort", this.#abort);
  }

  #aborted(): void {
    const reason = toError(this.#signal.reason);
    this.#reason = reason;
    if (this.bodyAborted(reason)) return;
    this.#controller?.abort(reason);
    // Rejected now, not when a connection frees up: an attempt waiting in the pool's queue still
    // times out on time (undici aborts it as soon as it starts).
    this.onResponseError(undefined, reason);
  }
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new TandemError("aborted", "the request was aborted");
}

export function ignore(): void {}
