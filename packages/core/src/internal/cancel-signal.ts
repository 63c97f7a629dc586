/**
 * A cancellation made and cancelled by tandem itself on a hot path (a proxied request's client
 * going away, a hedged attempt that lost): the part of an `AbortSignal` the upstream pipeline reads
 * (`aborted`, `reason`, abort listeners), without the AbortController and EventTarget per request
 * that cost ~1 KB and half a microsecond each. Listeners are called once, with no event argument.
 */
export class CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  #listeners: (() => void)[] | undefined;

  addEventListener(type: string, listener: () => void): void {
    if (type !== "abort" || this.aborted) return;
    if (this.#listeners === undefined) this.#listeners = [listener];
    else this.#listeners.push(listener);
  }

  removeEventListener(type: string, listener: () => void): void {
    if (type !== "abort" || this.#listeners === undefined) return;
    const i = this.#listeners.indexOf(listener);
    if (i >= 0) this.#listeners.splice(i, 1);
  }

  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }

  abort(reason: unknown = new DOMException("This operation was aborted", "AbortError")): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener();
  }

  /** Typed as what it stands in for: the pipeline reads nothing else of it. */
  asAbortSignal(): AbortSignal {
    return this as unknown as AbortSignal;
  }
}
