import type { ServerResponse } from "node:http";
import { randomHex } from "../internal/random.js";

/** Bytes a stream may have queued for a slow client before it is ended. */
const MAX_BACKLOG_BYTES = 1024 * 1024;

/** One event kept for replay. `id` increases by one per event. */
export interface LoggedEvent {
  id: number;
  event: string;
  data: string;
}

type Subscriber = (event: LoggedEvent) => void;

/**
 * A bounded log of events served as Server-Sent Events: subscribers get every new event, and a
 * reconnecting client sending `Last-Event-ID` first gets the events it missed, as long as they
 * are still in the log. A client that fell too far behind, or whose id comes from another
 * process (a restarted sidecar numbers afresh), gets a `reset` event instead, so it knows to
 * fetch a fresh snapshot rather than silently miss changes. Ids are `<epoch>-<n>`, the epoch
 * being random per log.
 */
export class EventLog {
  readonly #events: LoggedEvent[] = [];
  readonly #subscribers = new Set<Subscriber>();
  readonly #enders = new Set<() => void>();
  readonly #capacity: number;
  #nextId = 1;
  #closed = false;
  readonly #epoch = randomHex(4);

  constructor(capacity = 256) {
    this.#capacity = capacity;
  }

  /** Appends an event and sends it to every subscriber. `data` is sent as JSON. */
  publish(event: string, data: unknown): LoggedEvent {
    const logged: LoggedEvent = { id: this.#nextId++, event, data: JSON.stringify(data) };
    this.#events.push(logged);
    if (this.#events.length > this.#capacity) this.#events.shift();
    for (const subscriber of this.#subscribers) subscriber(logged);
    return logged;
  }

  /** The events after `lastId`, or `undefined` when some of them have already left the log. */
  since(lastId: number): LoggedEvent[] | undefined {
    const oldest = this.#events[0]?.id ?? this.#nextId;
    if (lastId + 1 < oldest) return undefined;
    return this.#events.filter((e) => e.id > lastId);
  }

  /**
   * Serves the log on `res` as `text/event-stream` until the client leaves or the log closes.
   * A comment line every `heartbeatMs` keeps idle connections from being dropped.
   */
  serve(res: ServerResponse, lastEventId: string | undefined, heartbeatMs = 15_000): void {
    // Set one by one (not through writeHead) so the server can see this is a stream.
    res.setHeader("content-type", "text/event-stream; charset=utf-8");
    res.setHeader("cache-control", "no-store");
    res.setHeader("x-accel-buffering", "no");
    res.writeHead(200);
    res.write(`retry: 1000\n\n`);
    if (lastEventId !== undefined) {
      const ours = lastEventId.startsWith(`${this.#epoch}-`)
        ? Number(lastEventId.slice(this.#epoch.length + 1))
        : Number.NaN;
      const missed = Number.isInteger(ours) && ours >= 0 ? this.since(ours) : undefined;
      if (missed === undefined) res.write(this.#format({ id: this.#nextId - 1, event: "reset", data: "{}" }));
      else for (const e of missed) res.write(this.#format(e));
    }
    if (this.#closed) {
      res.end();
      return;
    }
    const subscriber: Subscriber = (e) => {
      // A client that stopped reading is let go; it resumes with Last-Event-ID (or a reset).
      if (res.writableLength > MAX_BACKLOG_BYTES) end();
      else res.write(this.#format(e));
    };
    const end = () => {
      clearInterval(heartbeat);
      this.#subscribers.delete(subscriber);
      this.#enders.delete(end);
      if (!res.writableEnded) res.end();
    };
    const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), heartbeatMs);
    heartbeat.unref();
    this.#subscribers.add(subscriber);
    this.#enders.add(end);
    res.on("close", end);
  }

  #format(e: LoggedEvent): string {
    return `id: ${this.#epoch}-${e.id}\nevent: ${e.event}\ndata: ${e.data}\n\n`;
  }

  /** Number of connected streams. */
  get subscribers(): number {
    return this.#subscribers.size;
  }

  /** Ends every open stream; later `serve` calls send the backlog and end at once. */
  close(): void {
    this.#closed = true;
    for (const end of [...this.#enders]) end();
  }
}
