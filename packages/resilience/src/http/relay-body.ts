import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { TandemError } from "@tandem/core";
import type { Dispatcher } from "undici";
import type { Deadline, DeadlineWheel } from "../policies/deadline-wheel.js";
import { type BodyGuard, bodyDeadlineMs } from "./response-body.js";

/** What the relay asks of undici's per-request controller. */
interface Controller {
  pause(): void;
  resume(): void;
  abort(reason: Error): void;
}

/** An answer whose body goes on to a client as it arrives: what `Upstream.relay` resolves to. */
export interface RelayResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: RelayBody;
}

/** An abort signal as the upstream pipeline hands one to an attempt (its `AttemptSignal`). */
interface AttemptAbort {
  reason: unknown;
  addEventListener(type: "abort", listener: () => void): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/** Bytes held for a consumer that has not attached yet before the upstream is paused. */
const HIGH_WATER_BYTES = 64 * 1024;
/** A body thrown away (`dump`) is read up to this much; beyond it the connection is closed instead, as undici does. */
const DUMP_LIMIT_BYTES = 128 * 1024;

/**
 * Sends one request through undici's dispatcher for the forward proxy: resolves with the answer's
 * status and headers once they arrive, its body a `RelayBody` that writes each chunk to the client
 * as it comes, with no Readable stream, no pipe and none of their ticks and listeners in between.
 * `signal` aborts it, before the answer (the promise rejects at once, even while the request waits
 * for a connection) or while the body is relayed.
 */
export function dispatchForRelay(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  signal: AttemptAbort,
): Promise<RelayResponse> {
  return new Promise((resolve, reject) => {
    const handler = new RelayHandler(resolve, reject, signal, options.body);
    // Aborted already (the caller gave up before this attempt): nothing is sent.
    if (handler.settled) return;
    try {
      dispatcher.dispatch(options, handler as unknown as Dispatcher.DispatchHandler);
    } catch (error) {
      handler.onResponseError(undefined, error as Error);
    }
  });
}

/** undici's handler of one relayed request (its handler interface with controllers). */
class RelayHandler {
  readonly #resolve: (response: RelayResponse) => void;
  readonly #reject: (error: unknown) => void;
  readonly #signal: AttemptAbort;
  readonly #abort: () => void;
  #requestBody: unknown;
  #controller: Controller | undefined;
  #body: RelayBody | undefined;
  #reason: Error | undefined;
  #settled = false;
  #listening = true;

  constructor(
    resolve: (response: RelayResponse) => void,
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
    // collections: every relayed request was promoted to the old generation and died there.
    // `const f = () => ...` then `this.x = f`, or a bound function, is allocated young.
    this.#abort = this.#aborted.bind(this);
    signal.addEventListener("abort", this.#abort);
  }

  /** The answer's promise is settled: resolved with the answer, or rejected. */
  get settled(): boolean {
    return this.#settled;
  }

  onRequestStart(controller: Controller): void {
    if (this.#reason !== undefined) {
      controller.abort(this.#reason);
      return;
    }
    this.#controller = controller;
  }

  onResponseStart(controller: Controller, statusCode: number, headers: IncomingHttpHeaders): void {
    // Informational answers (100 Continue, 103 Early Hints) are not the answer.
    if (statusCode < 200 || this.#settled) return;
    this.#settled = true;
    this.#body = new RelayBody(controller, () => this.#release());
    this.#resolve({ statusCode, headers, body: this.#body });
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
    this.#body?.data(chunk);
  }

  onResponseEnd(): void {
    this.#body?.end();
  }

  onResponseError(_controller: Controller | undefined, error: Error): void {
    const body = this.#requestBody as { destroy?: (error: Error) => void; on?: (e: string, f: () => void) => void };
    this.#requestBody = undefined;
    if (typeof body?.destroy === "function") {
      body.on?.("error", ignore);
      body.destroy(error);
    }
    if (this.#body !== undefined) {
      this.#body.fail(error);
      return;
    }
    this.#release();
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(error);
  }

  #aborted(): void {
    const reason = toError(this.#signal.reason);
    this.#reason = reason;
    if (this.#body !== undefined) {
      this.#body.destroy(reason);
      return;
    }
    this.#controller?.abort(reason);
    // Rejected now, not when a connection frees up: an attempt waiting in the pool's queue still
    // times out on time (undici aborts it as soon as it starts).
    this.onResponseError(undefined, reason);
  }

  #release(): void {
    if (!this.#listening) return;
    this.#listening = false;
    this.#signal.removeEventListener("abort", this.#abort);
  }
}

/**
 * The body of a relayed answer. Chunks that arrive before a consumer attaches are held (the
 * upstream is paused past 64 KiB); `pipeTo` writes them and every later chunk to the client,
 * pausing the upstream while the client pushes back; `dump` throws the body away (a retried
 * answer, a hedge that lost). A transport failure reaches the consumer as the guard names it, and
 * a body still arriving when its deadline passes is cut off with the guard's timeout error.
 */
export class RelayBody {
  readonly #controller: Controller;
  readonly #done: () => void;
  #held: Buffer[] | undefined;
  #heldBytes = 0;
  #ended = false;
  #error: Error | undefined;
  #destroyed = false;
  #sink: ServerResponse | undefined;
  #settle: ((error?: Error) => void) | undefined;
  #dumped: (() => void) | undefined;
  #dumpedBytes = 0;
  #guard: BodyGuard | undefined;
  #deadline: Deadline | undefined;
  #resume: (() => void) | undefined;

  constructor(controller: Controller, done: () => void) {
    this.#controller = controller;
    this.#done = done;
  }

  /** Whether the body ended, failed or was destroyed: nothing more comes. */
  get destroyed(): boolean {
    return this.#destroyed || this.#ended;
  }

  /**
   * Names this body's failures with `guard`, and holds it to `timeoutMs` (rounded up to the
   * wheel's granularity) on `wheel`: one slot on the shared wheel, no timer.
   */
  guard(guard: BodyGuard, wheel: DeadlineWheel, timeoutMs: number): void {
    this.#guard = guard;
    if (!this.destroyed) this.#deadline = wheel.arm(bodyDeadlineMs(timeoutMs), this);
  }

  /** The deadline passed: a body still arriving is cut off; one that arrived is left alone. */
  expire(): void {
    this.#deadline = undefined;
    if (this.destroyed || this.#guard === undefined) return;
    this.destroy(this.#guard.timedOut());
  }

  /** Writes the body to `res` as it arrives; resolves once the client has it all. */
  pipeTo(res: ServerResponse): Promise<void> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        this.#settle = undefined;
        if (error !== undefined) {
          this.destroy(error);
          res.destroy(error);
          reject(error);
        } else {
          resolve();
        }
      };
      res.on("error", settle);
      res.once("close", () => settle(res.writableFinished ? undefined : prematureClose("the client's connection")));
      if (this.#error !== undefined) {
        settle(this.#error);
        return;
      }
      this.#settle = settle;
      this.#sink = res;
      const held = this.#held;
      this.#held = undefined;
      let flowing = true;
      if (held !== undefined) for (const chunk of held) flowing = res.write(chunk);
      if (this.#ended) res.end();
      else if (!flowing) this.#waitForDrain(res);
      else if (this.#heldBytes >= HIGH_WATER_BYTES) this.#controller.resume();
      this.#heldBytes = 0;
    });
  }

  /** Throws the rest of the body away; resolves once it ended or failed (never rejects). */
  dump(): Promise<void> {
    this.#held = undefined;
    if (this.destroyed) return Promise.resolve();
    if (this.#heldBytes >= HIGH_WATER_BYTES) this.#controller.resume();
    this.#dumpedBytes = this.#heldBytes;
    this.#heldBytes = 0;
    return new Promise((resolve) => {
      this.#dumped = resolve;
    });
  }

  /** Stops the body: the upstream request is aborted with `error` (or a plain abort). */
  destroy(error?: Error): void {
    if (this.destroyed) return;
    this.#destroyed = true;
    const reason = error ?? new TandemError("aborted", "the response body was destroyed");
    this.#error = reason;
    this.#held = undefined;
    this.#finish();
    this.#controller.abort(reason);
    this.#settle?.(reason);
  }

  /** undici: a chunk of the body. */
  data(chunk: Buffer): void {
    if (this.destroyed) return;
    if (this.#dumped !== undefined) {
      this.#dumpedBytes += chunk.length;
      if (this.#dumpedBytes > DUMP_LIMIT_BYTES) this.destroy();
      return;
    }
    const sink = this.#sink;
    if (sink !== undefined) {
      if (!sink.write(chunk)) this.#waitForDrain(sink);
      return;
    }
    if (this.#held === undefined) this.#held = [chunk];
    else this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    if (this.#heldBytes >= HIGH_WATER_BYTES) this.#controller.pause();
  }

  /** undici: the body ended. */
  end(): void {
    if (this.destroyed) return;
    this.#ended = true;
    this.#finish();
    this.#sink?.end();
  }

  /** undici: the body failed (a reset, an idle timeout, an abort). */
  fail(error: Error): void {
    if (this.destroyed) {
      // Destroyed here: the abort comes back as the error; the consumer has heard already.
      return;
    }
    this.#destroyed = true;
    const named = TandemError.is(error) || this.#guard === undefined ? error : this.#guard.failed(error);
    this.#error = named;
    this.#held = undefined;
    this.#finish();
    this.#settle?.(named);
  }

  #waitForDrain(sink: ServerResponse): void {
    this.#controller.pause();
    // Bound, not an arrow assigned to the field (see the constructor of `RelayHandler`).
    this.#resume ??= this.#controller.resume.bind(this.#controller);
    sink.once("drain", this.#resume);
  }

  /** Nothing more comes: the deadline and the caller's signal are let go, a dump resolves. */
  #finish(): void {
    this.#deadline?.cancel();
    this.#deadline = undefined;
    this.#done();
    const dumped = this.#dumped;
    this.#dumped = undefined;
    dumped?.();
  }
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new TandemError("aborted", "the request was aborted");
}

/** What `stream.finished` reports for a stream that closed before its end. */
function prematureClose(what: string): Error {
  return Object.assign(new Error(`${what} closed before it ended`), { code: "ERR_STREAM_PREMATURE_CLOSE" });
}

function ignore(): void {}
