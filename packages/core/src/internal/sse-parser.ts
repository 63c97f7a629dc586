/** Bound on one event (its lines together), so a hostile stream cannot grow memory. */
const MAX_EVENT_CHARS = 4 * 1024 * 1024;

/** One Server-Sent Event as the WHATWG spec dispatches it. */
export interface ServerSentEvent {
  /** `message` unless the stream named another type. */
  event: string;
  data: string;
  /** The last event id seen on the stream (sent back as `Last-Event-ID` on reconnect). */
  id: string | undefined;
}

/**
 * An incremental `text/event-stream` parser following the WHATWG rules: any line ending,
 * comments, multi-line data, `id` without NUL, and `retry` in milliseconds.
 */
export class SseParser {
  #buffer = "";
  #data: string[] = [];
  #event = "";
  #lastEventId: string | undefined;
  /** The id of the event being read; it becomes the last event id only once the event is whole. */
  #pendingId: string | undefined;
  #pendingCr = false;
  #size = 0;
  readonly #onEvent: (event: ServerSentEvent) => void;
  readonly #onRetry: (ms: number) => void;

  constructor(
    onEvent: (event: ServerSentEvent) => void,
    onRetry: (ms: number) => void = () => {},
    lastEventId?: string,
  ) {
    this.#onEvent = onEvent;
    this.#onRetry = onRetry;
    this.#lastEventId = lastEventId;
  }

  get lastEventId(): string | undefined {
    return this.#lastEventId;
  }

  /** Forgets a partial line or event: a new connection starts clean (the last id stays). */
  reset(): void {
    this.#buffer = "";
    this.#data = [];
    this.#event = "";
    this.#pendingId = undefined;
    this.#pendingCr = false;
    this.#size = 0;
  }

  /** Feeds decoded text; complete lines are processed at once, a partial line waits for more. */
  push(chunk: string): void {
    let text = chunk;
    // A CR at the end of the previous chunk may be the first half of a CRLF.
    if (this.#pendingCr && text.startsWith("\n")) text = text.slice(1);
    this.#pendingCr = false;
    this.#buffer += text;
    this.#size += text.length;
    if (this.#size > MAX_EVENT_CHARS) {
      this.reset();
      throw new Error(`an event of the stream is larger than ${MAX_EVENT_CHARS} characters`);
    }
    let start = 0;
    for (let i = 0; i < this.#buffer.length; i++) {
      const c = this.#buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.#line(this.#buffer.slice(start, i));
      if (c === 13) {
        if (i + 1 === this.#buffer.length) this.#pendingCr = true;
        else if (this.#buffer.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.#buffer = this.#buffer.slice(start);
  }

  #line(line: string): void {
    if (line === "") {
      this.#dispatch();
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        this.#data.push(value);
        break;
      case "event":
        this.#event = value;
        break;
      case "id":
        if (!value.includes("\0")) this.#pendingId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.#onRetry(Number(value));
        break;
      default:
        break;
    }
  }

  #dispatch(): void {
    this.#size = this.#buffer.length;
    if (this.#pendingId !== undefined) {
      this.#lastEventId = this.#pendingId;
      this.#pendingId = undefined;
    }
    if (this.#data.length === 0) {
      this.#event = "";
      return;
    }
    const event: ServerSentEvent = {
      event: this.#event === "" ? "message" : this.#event,
      data: this.#data.join("\n"),
      id: this.#lastEventId,
    };
    this.#data = [];
    this.#event = "";
    this.#onEvent(event);
  }
}
