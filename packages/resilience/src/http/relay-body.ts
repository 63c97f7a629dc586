import type { IncomingHttpHeaders } from "node:http";
import type { FieldLines } from "@tandem/core";
import { type ProxyOutgoing, TandemError } from "@tandem/core";
import type { Dispatcher } from "undici";
import type { Deadline, DeadlineWheel } from "../policies/deadline-wheel.js";
import { type AttemptAbort, AttemptHandler, type Controller } from "./attempt-handler.js";
import { type BodyGuard, bodyDeadlineMs } from "./response-body.js";

/**
 * An answer whose body goes on to a client as it arrives: what `Upstream.relay` resolves to. Its
 * head's lines are made into `headers` only when they are read; a proxy passes them on as they
 * came (`head.forwarded`).
 */
export class RelayResponse {
  readonly statusCode: number;
  readonly head: FieldLines;
  readonly body: RelayBody;

  constructor(statusCode: number, head: FieldLines, body: RelayBody) {
    this.statusCode = statusCode;
    this.head = head;
    this.body = body;
  }

  get headers(): IncomingHttpHeaders {
    return this.head.headers;
  }
}

/** Bytes held for a consumer that has not attached yet before the upstream is paused. */
const HIGH_WATER_BYTES = 64 * 1024;
/** A body thrown away (`dump`) is read up to this much; beyond it the connection is closed instead, as undici does. */
const DUMP_LIMIT_BYTES = 128 * 1024;

/**
 * Who an attempt's answer goes on to as soon as its head is read, from inside the read that
 * brought it: before the attempt's promise settles, before the rest of the answer's bytes in that
 * read are taken in, so that nothing between the upstream's answer and the client's waits for a
 * microtask or for the pipeline. Told only of an answer that `final` says the request ends with.
 */
export interface EarlyAnswer {
  /** Whether an answer of `statusCode` is the request's, not one to be retried. */
  final(statusCode: number): boolean;
  /** `response` is the request's answer; called once at most, must not throw. */
  answer(response: RelayResponse): void;
}

/**
 * Sends one request through undici's dispatcher for the forward proxy: resolves with the answer's
 * status and headers once they arrive, its body a `RelayBody` that writes each chunk to the client
 * as it comes, with no Readable stream, no pipe and none of their ticks and listeners in between.
 * `signal` aborts it, before the answer (the promise rejects at once, even while the request waits
 * for a connection) or while the body is relayed. `early`, if given, has a final answer first.
 */
export function dispatchForRelay(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  signal: AttemptAbort,
  early?: EarlyAnswer,
): Promise<RelayResponse> {
  return new Promise((resolve, reject) => {
    new RelayHandler(resolve, reject, signal, options.body, early).send((handler) =>
      dispatcher.dispatch(options, handler as unknown as Dispatcher.DispatchHandler),
    );
  });
}

/** undici's handler of one relayed request: its body is a `RelayBody`. */
class RelayHandler extends AttemptHandler<RelayResponse> {
  readonly #early: EarlyAnswer | undefined;
  #body: RelayBody | undefined;

  constructor(
    resolve: (answer: RelayResponse) => void,
    reject: (error: unknown) => void,
    signal: AttemptAbort,
    requestBody: unknown,
    early: EarlyAnswer | undefined,
  ) {
    super(resolve, reject, signal, requestBody);
    this.#early = early;
  }

  protected answer(controller: Controller, statusCode: number, head: FieldLines): RelayResponse {
    this.#body = new RelayBody(controller, () => this.release());
    const response = new RelayResponse(statusCode, head, this.#body);
    const early = this.#early;
    if (early?.final(statusCode)) early.answer(response);
    return response;
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
    this.#body?.data(chunk);
  }

  onResponseEnd(): void {
    this.#body?.end();
  }

  protected bodyFailed(error: Error): boolean {
    this.#body?.fail(error);
    return this.#body !== undefined;
  }

  protected bodyAborted(reason: Error): boolean {
    this.#body?.destroy(reason);
    return this.#body !== undefined;
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
  #sink: ProxyOutgoing | undefined;
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
  pipeTo(res: ProxyOutgoing): Promise<void> {
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
      // `on`, not `once`: an answer closes once, and `once` allocates a wrapper per request.
      res.on("close", () => settle(res.writableFinished ? undefined : prematureClose("the client's connection")));
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

  #waitForDrain(sink: ProxyOutgoing): void {
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

/** What `stream.finished` reports for a stream that closed before its end. */
function prematureClose(what: string): Error {
  return Object.assign(new Error(`${what} closed before it ended`), { code: "ERR_STREAM_PREMATURE_CLOSE" });
}
