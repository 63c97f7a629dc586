import { constants } from "node:os";

/** What a sidecar started with an IPC channel sends its parent once it is ready. */
export interface ReadyMessage {
  type: "tandem:ready";
  /** The API address in `TANDEM_SIDECAR` form, with the real port. */
  api: string;
  admin: string;
  pid: number;
}

/** True when an IPC message is a `ReadyMessage`. */
export function isReadyMessage(message: unknown): message is ReadyMessage {
  return typeof message === "object" && message !== null && (message as { type?: unknown }).type === "tandem:ready";
}

/** Shells report death by signal N as exit code 128 + N. */
export function exitCodeForSignal(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}
