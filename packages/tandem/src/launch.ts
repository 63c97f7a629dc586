import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SidecarUnavailableError } from "@tandem/core";
import { isReadyMessage } from "./cli/protocol.js";

// Relative to dist/, where both this module and the CLI bundle (dist/tandem-cli.cjs) sit.
const CLI = fileURLToPath(new URL("../bin/tandem.js", import.meta.url));

/**
 * V8 flags the sidecar process starts with (docs/operations.md#sizing). Semi-spaces of at most
 * 4 MB instead of V8's 16 MB keep the young generation small: ~10 MB less resident memory idle
 * and ~15 MB less under load, at no CPU cost we could measure; 2 MB saves little more and costs
 * ~20% more CPU per request in scavenges. A single-threaded GC: a sidecar runs on a small share
 * of a few cores, where V8's parallel GC threads wait for CPU and stretch the pauses they were
 * meant to shorten; with it, p99 through the forward proxy at 1000 req/s was ~8 ms against
 * ~15 ms, at ~10% less CPU per request, on 2 cores. Node refuses that flag in `NODE_OPTIONS`, so
 * an operator who wants otherwise starts `tandem sidecar` with flags of their own. No
 * allocation-site pretenuring: once V8 has seen most objects of an allocation site survive (a
 * burst at startup is enough), optimized code allocates that site's objects in the old generation
 * from then on, where they hold the young objects of the request they belong to through
 * young-generation collections. The forward proxy then promoted 170-230 KB per scavenge at
 * 1000 req/s in some runs and ~30 KB in others; without it, ~30 KB in every run, at no CPU cost
 * we could measure.
 */
const SIDECAR_NODE_FLAGS: readonly string[] = [
  "--max-semi-space-size=4",
  "--single-threaded-gc",
  "--no-allocation-site-pretenuring",
];

/**
 * glibc malloc settings the sidecar process starts with (docs/operations.md#sizing). By default
 * glibc gives each thread that allocates its own arena, and V8's compiler threads and libuv's
 * pool each keep the high-water mark of theirs; it also raises its trim threshold as large blocks
 * are freed, so freed memory stays. One arena, and the trim threshold held at glibc's default
 * (128 KiB): at full speed through the forward proxy 65-110 MB less resident memory, with the
 * same throughput and CPU per request; at 1000 req/s 3-12 MB less (medians of interleaved runs,
 * whose spread is as wide). Blocks of 32 KiB and more mapped on their own, so that each goes back
 * to the system when freed: V8's compiler zones take their memory from malloc in segments of up
 * to 32 KiB, which otherwise leave holes in glibc's heap that it cannot give back (a 64 KiB
 * threshold gained nothing); at 1000 req/s 95-97 MB instead of 101-107 MB,
 * idle ~2.5 MB less, at the same CPU per request (3 interleaved runs each). Other C libraries
 * (musl) ignore them.
 */
const SIDECAR_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: "1",
  MALLOC_TRIM_THRESHOLD_: "131072",
  MALLOC_MMAP_THRESHOLD_: "32768",
};

/** The sidecar's environment: `env` with `SIDECAR_MALLOC_ENV` where it sets no value of its own. */
function sidecarEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const [name, value] of Object.entries(SIDECAR_MALLOC_ENV)) out[name] ??= value;
  return out;
}

/** The sidecar's V8 flags, less those its `NODE_OPTIONS` already sets: the operator's choice wins. */
function nodeFlags(env: NodeJS.ProcessEnv): string[] {
  // V8 takes `_` and `-` alike in flag names.
  const options = (env.NODE_OPTIONS ?? "").replaceAll("_", "-");
  return SIDECAR_NODE_FLAGS.filter((flag) => !options.includes(flag.split("=")[0] as string));
}

/** How a process ended: an exit code, or the signal that ended it. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Options of `launchSidecar`. */
export interface LaunchOptions {
  /** Flags for `tandem sidecar` (e.g. `["--listen", "127.0.0.1:0"]`). */
  args?: readonly string[];
  /** The sidecar's environment. Default: this process's. */
  env?: NodeJS.ProcessEnv;
  /** Give up when not ready within this long. Default 30 000 ms. */
  readyTimeoutMs?: number;
  /** Where the sidecar's stdout and stderr go. Default `inherit`. */
  stdio?: "inherit" | "pipe" | "ignore";
}

/** A sidecar child process that reported ready. */
export interface LaunchedSidecar {
  /** The API address in `TANDEM_SIDECAR` form, with the real port. */
  api: string;
  /** The admin address (`http://host:port` or `unix:/path`). */
  admin: string;
  child: ChildProcess;
  /** Settles when the process has exited, however it ended. */
  exited: Promise<ExitStatus>;
  /**
   * Sends `signal` (SIGTERM: drain) and waits for the exit; after `killAfterMs` it sends SIGKILL.
   * Resolves with how the process ended.
   */
  stop(signal?: NodeJS.Signals, killAfterMs?: number): Promise<ExitStatus>;
}

/**
 * Starts `tandem sidecar` as a child process of this one and resolves once it is ready, with the
 * addresses it really listens on (ports asked as 0 are resolved). It runs with
 * `SIDECAR_NODE_FLAGS` unless its `NODE_OPTIONS` sets the same flag, and with `SIDECAR_MALLOC_ENV`
 * where its environment sets no value of its own. Rejects with
 * `SidecarUnavailableError` when it exits or stays unready, and kills it in the latter case.
 * The child stops by itself if this process goes away.
 */
export function launchSidecar(options: LaunchOptions = {}): Promise<LaunchedSidecar> {
  const stdio = options.stdio ?? "inherit";
  const env = options.env ?? process.env;
  const child = spawn(process.execPath, [...nodeFlags(env), CLI, "sidecar", ...(options.args ?? [])], {
    env: sidecarEnv(env),
    stdio: ["ignore", stdio, stdio, "ipc"],
    // A group of its own: a Ctrl-C in the terminal must not drain the sidecar while the app it
    // serves is still stopping. It still stops if this process dies: the IPC channel closes.
    detached: true,
  });
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  const stop = async (signal: NodeJS.Signals = "SIGTERM", killAfterMs = 15_000): Promise<ExitStatus> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
      const status = await exited;
      clearTimeout(timer);
      return status;
    }
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timeoutMs = options.readyTimeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      void stop("SIGKILL");
      reject(new SidecarUnavailableError(`the sidecar was not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("message", (message) => {
      if (!isReadyMessage(message)) return;
      clearTimeout(timer);
      resolve({ api: message.api, admin: message.admin, child, exited, stop });
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new SidecarUnavailableError(`the sidecar could not be started: ${error.message}`, { cause: error }));
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(
        new SidecarUnavailableError(
          `the sidecar exited before it was ready (${signal === null ? `exit code ${code}` : signal}); its log says why`,
          { details: { code, signal } },
        ),
      );
    });
  });
}
