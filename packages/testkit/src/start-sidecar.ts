import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ExitStatus, launchSidecar } from "tandem";

/** Options of `startSidecar`. */
export interface StartSidecarOptions {
  /** A config file for `--config`. */
  config?: string;
  /** Listen on a unix socket in a fresh temporary directory instead of a random TCP port. */
  unixSocket?: boolean;
  /** Listen on this address (`HOST:PORT`), e.g. to restart a sidecar where it was. */
  listen?: string;
  /** The token; default a random one. Pass `null` to run without a token. */
  token?: string | null;
  /** More flags for `tandem sidecar`. */
  args?: readonly string[];
  /** Extra environment for the sidecar process. */
  env?: NodeJS.ProcessEnv;
}

/** A real sidecar process started for a test. */
export interface StartedSidecar {
  /** The API address, as `TANDEM_SIDECAR` takes it. */
  api: string;
  /** The admin address (`http://127.0.0.1:PORT`). */
  admin: string;
  token: string | undefined;
  pid: number;
  /** Every line the sidecar wrote to stdout and stderr so far. */
  readonly logs: readonly string[];
  /** SIGTERM, then SIGKILL after `killAfterMs`; resolves with how the process ended. */
  stop(killAfterMs?: number): Promise<ExitStatus>;
  /** Sends a signal to the sidecar and nothing else. */
  kill(signal: NodeJS.Signals): void;
  /** Settles when the process has exited. */
  exited: Promise<ExitStatus>;
}

/**
 * Spawns the real `tandem sidecar` on a random loopback port (or a unix socket), waits until it
 * is ready, and hands back its addresses and token. `stop()` ends that process and only it.
 */
export async function startSidecar(options: StartSidecarOptions = {}): Promise<StartedSidecar> {
  const token = options.token === null ? undefined : (options.token ?? randomBytes(24).toString("base64url"));
  let dir: string | undefined;
  let listen = options.listen ?? "127.0.0.1:0";
  if (options.unixSocket === true) {
    dir = mkdtempSync(join(tmpdir(), "tandem-"));
    listen = `unix:${join(dir, "api.sock")}`;
  }
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, TANDEM_TOKEN: token ?? "" };
  const args = [
    "--listen",
    listen,
    "--admin",
    "127.0.0.1:0",
    ...(options.config === undefined ? [] : ["--config", options.config]),
    ...(options.args ?? []),
  ];
  const launched = await launchSidecar({ args, env, stdio: "pipe" });
  const logs: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) if (line !== "") logs.push(line);
  };
  launched.child.stdout?.on("data", collect);
  launched.child.stderr?.on("data", collect);
  void launched.exited.then(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });
  return {
    api: launched.api,
    admin: launched.admin,
    token,
    pid: launched.child.pid as number,
    logs,
    stop: (killAfterMs = 15_000) => launched.stop("SIGTERM", killAfterMs),
    kill: (signal) => launched.child.kill(signal),
    exited: launched.exited,
  };
}
