import { TandemError } from "@tandem/core";
import type { Dispatcher } from "undici";

type Body = Dispatcher.ResponseData["body"];

/** How to bound and explain the failures of one response body. */
export interface BodyGuard {
  /** Time left for the whole body, in ms; `undefined`: no bound beyond the transport's. */
  timeoutMs?: number | undefined;
  /** The error when `timeoutMs` passes before the body ended. */
  timedOut: () => TandemError;
  /** What a transport failure while reading the body (a reset, an idle timeout) becomes. */
  failed: (error: unknown) => TandemError;
}

/**
 * Holds an upstream's response body to the request's total timeout, as Envoy's route timeout
 * covers the whole response, so a body trickled slowly enough never to look idle fails instead
 * of hanging; and turns a transport failure while the body is read into an error that names the
 * upstream, not a bare socket error. The body keeps its undici helpers (`text()`, `json()`, ...).
 */
export function guardBody(body: Body, guard: BodyGuard): void {
  const destroy = body.destroy.bind(body);
  // undici ends a body in error through destroy(error): that is where the error gets its name.
  body.destroy = ((error?: Error | null) =>
    destroy(
      error === undefined || error === null ? undefined : TandemError.is(error) ? error : guard.failed(error),
    )) as Body["destroy"];
  if (guard.timeoutMs === undefined) return;
  const timer = setTimeout(
    () => {
      // The bound is on the upstream, not on the caller: a body that arrived whole is kept for
      // a caller that reads it late. One still arriving is cut off; without a reader its error
      // has no listener, so one that ignores it is added, as undici does for the errors it raises.
      if (body.destroyed || arrived(body)) return;
      body.on("error", ignore);
      body.destroy(guard.timedOut());
    },
    Math.max(1, guard.timeoutMs),
  );
  timer.unref();
  body.once("close", () => clearTimeout(timer));
  body.once("end", () => clearTimeout(timer));
}

/** Whether the upstream sent the whole body (ended), read by the caller or not. */
function arrived(body: Body): boolean {
  return (body as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended === true;
}

function ignore(): void {}
