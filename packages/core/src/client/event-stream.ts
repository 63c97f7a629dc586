import type { Dispatcher } from "undici";
import { SidecarUnavailableError, TandemError } from "../errors.js";
import { fullJitterDelay, sleep } from "../internal/backoff.js";
import { jsonOrText } from "../internal/json.js";
import { type ServerSentEvent, SseParser } from "../internal/sse-parser.js";
import { fromProblem } from "../problem.js";

export type { ServerSentEvent };

/** Options of an event stream. */
export interface EventStreamOptions {
  onEvent(event: ServerSentEvent): void;
  /** Called each time a connection is established (first and after every reconnect). */
  onOpen?(): void;
  /** Called for each failed or lost connection; the stream goes on reconnecting unless `fatal`. */
  onError?(error: TandemError, fatal: boolean): void;
  /** Resume after this event id (sent as `Last-Event-ID`). */
  lastEventId?: string;
  /** Base of the reconnect backoff; a `retry:` field from the server replaces it. Default 250 ms. */
  retryMs?: number;
  /** Cap of the reconnect backoff. Default 5000 ms. */
  maxRetryMs?: number;
  /** A connection silent for this long is dropped and reopened. Default 45 000 ms. */
  idleTimeoutMs?: number;
}

/** A running event stream. */
export interface EventStream {
  /** The id of the last event received, sent as `Last-Event-ID` on reconnect. */
  readonly lastEventId: string | undefined;
  /** Stops reconnecting and closes the connection. */
  close(): void;
  /** Settles once the stream has stopped for good (closed, or a fatal answer). */
  readonly done: Promise<void>;
}

/** Opens a reconnecting SSE stream over `dispatcher`. Used by `SidecarClient.events`. */
export function openEventStream(
  dispatcher: Dispatcher,
  path: string,
  headers: () => Record<string, string>,
  options: EventStreamOptions,
): EventStream {
  const controller = new AbortController();
  const baseMs = options.retryMs ?? 250;
  let retryMs = baseMs;
  // Set when an event arrives: only a connection that delivered something resets the backoff.
  let delivered = false;
  const parser = new SseParser(
    (event) => {
      delivered = true;
      options.onEvent(event);
    },
    (ms) => {
      // A server cannot make the client hammer it: never below the client's own base.
      retryMs = Math.max(baseMs, ms);
    },
    options.lastEventId,
  );
  const idle = options.idleTimeoutMs ?? 45_000;

  const connect = async (): Promise<"reconnect" | "stop"> => {
    const h: Record<string, string> = { ...headers(), accept: "text/event-stream" };
    if (parser.lastEventId !== undefined) h["last-event-id"] = parser.lastEventId;
    const res = await dispatcher.request({
      method: "GET",
      path,
      headers: h,
      signal: controller.signal,
      headersTimeout: idle,
      bodyTimeout: idle,
    });
    if (res.statusCode >= 400) {
      const text = await res.body.text();
      const error = fromProblem(res.statusCode, text === "" ? undefined : jsonOrText(text));
      // A client error will not go away by asking again; a server error or 429 may.
      const fatal = res.statusCode < 500 && res.statusCode !== 429;
      options.onError?.(error, fatal);
      return fatal ? "stop" : "reconnect";
    }
    const type = String(res.headers["content-type"] ?? "");
    if (!type.startsWith("text/event-stream")) {
      await res.body.dump();
      options.onError?.(
        new TandemError("bad_request", `${path} answered ${type || "no content type"}, expected text/event-stream`),
        true,
      );
      return "stop";
    }
    parser.reset();
    options.onOpen?.();
    res.body.setEncoding("utf8");
    for await (const chunk of res.body) parser.push(chunk as string);
    return "reconnect";
  };

  const run = async (): Promise<void> => {
    for (let attempt = 0; !controller.signal.aborted; attempt++) {
      delivered = false;
      try {
        const outcome = await connect();
        if (outcome === "stop") return;
        // A stream that delivered events was healthy: start the backoff over. One that ended
        // empty, or a 5xx/429, counts as a failure and the backoff grows.
        if (delivered) attempt = -1;
      } catch (error) {
        if (controller.signal.aborted) return;
        const reason = (error as { code?: string }).code ?? (error as Error).message;
        options.onError?.(
          TandemError.is(error)
            ? error
            : new SidecarUnavailableError(`event stream ${path} lost (${reason})`, { cause: error }),
          false,
        );
      }
      const delay = fullJitterDelay(Math.max(attempt, 0), retryMs, options.maxRetryMs ?? 5000);
      await sleep(Math.max(delay, 10), controller.signal).catch(() => {});
    }
  };

  const done = run();
  return {
    get lastEventId() {
      return parser.lastEventId;
    },
    close: () => controller.abort(),
    done,
  };
}
