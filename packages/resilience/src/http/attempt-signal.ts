/**
 * The abort signal of one attempt as undici reads one (`reason`, `addEventListener`,
 * `removeEventListener`): aborted by the attempt's timeout, or by the caller's signal or a
 * hedge's cancel, whose listeners are added when undici starts listening and removed when it
 * stops (the response body closed), so a long-lived caller's signal keeps none. No EventTarget,
 * no `AbortSignal.any`, and not shared with other attempts as a deadline bucket's signal is. It
 * has no `aborted` property on purpose, so that undici does not take it for an AbortSignal.
 */
export class AttemptSignal {
  reason: unknown = undefined;
  /** Set when the attempt's own deadline passed (`expire`, called by the deadline wheel). */
  timedOut = false;
  #listener: (() => void) | undefined;
  readonly #caller: AbortSignal | undefined;
  readonly #cancel: AbortSignal | undefined;
  #onSource: (() => void) | undefined;

  constructor(caller: AbortSignal | undefined, cancel: AbortSignal | undefined) {
    this.#caller = caller;
    this.#cancel = cancel;
  }

  addEventListener(_type: "abort", listener: () => void): void {
    this.#listener = listener;
    if (this.#watch(this.#caller)) this.#watch(this.#cancel);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    if (this.#listener !== listener) return;
    this.#listener = undefined;
    if (this.#onSource === undefined) return;
    this.#caller?.removeEventListener("abort", this.#onSource);
    this.#cancel?.removeEventListener("abort", this.#onSource);
  }

  expire(): void {
    this.timedOut = true;
    this.abort(new DOMException("the attempt timed out", "TimeoutError"));
  }

  abort(reason: unknown): void {
    if (this.reason !== undefined) return;
    this.reason = reason ?? new DOMException("This operation was aborted", "AbortError");
    const listener = this.#listener;
    if (listener !== undefined) this.removeEventListener("abort", listener);
    listener?.();
  }

  #sourceAborted(): void {
    this.abort(this.#caller?.aborted ? this.#caller.reason : this.#cancel?.reason);
  }

  /** Follows `source`; false when it has aborted already (and so has this signal). */
  #watch(source: AbortSignal | undefined): boolean {
    if (source === undefined) return true;
    if (source.aborted) {
      this.abort(source.reason);
      return false;
    }
    // Bound, not an arrow assigned to the field: V8 allocates a function literal assigned to a
    // property in the old generation, where it would keep the attempt's objects alive (see
    // `RelayHandler` in relay-body.ts).
    this.#onSource ??= this.#sourceAborted.bind(this);
    source.addEventListener("abort", this.#onSource);
    return true;
  }
}
