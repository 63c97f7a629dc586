import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { resolveEnv } from "@tandem/core";
import { formatListenAddress } from "@tandem/sidecar";
import { pino } from "pino";
import { type LaunchedSidecar, launchSidecar } from "../launch.js";
import { RUN_HELP } from "./help.js";
import { parse, SIDECAR_FLAGS, sidecarOptions, UsageError } from "./options.js";
import { exitCodeForSignal } from "./protocol.js";

const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as const;

/**
 * `tandem run [flags] -- COMMAND...`: the sidecar as a supervised child, the app as another.
 * Resolves with the app's exit code (128 + N when a signal ended it).
 */
export async function runCommand(argv: readonly string[]): Promise<number> {
  const separator = argv.indexOf("--");
  const flags = separator === -1 ? argv : argv.slice(0, separator);
  const command = separator === -1 ? [] : argv.slice(separator + 1);
  const { values } = parse("run", flags, SIDECAR_FLAGS, false);
  if (values.help === true) {
    process.stdout.write(`${RUN_HELP}\n`);
    return 0;
  }
  const [file, ...args] = command;
  if (file === undefined) throw new UsageError("tandem run needs a command after --", "run");
  const log = pino({
    level: resolveEnv(process.env).logLevel ?? "info",
    base: { component: "tandem-run", pid: process.pid },
  });
  const options = sidecarOptions(values, process.env);
  // Not imported at the top: the sidecar runs from the same module and has no use for node:crypto.
  const token = options.token ?? process.getBuiltinModule("node:crypto").randomBytes(32).toString("base64url");
  const sidecarEnv = { ...process.env, TANDEM_TOKEN: token };
  const sidecarArgs = (api: string, admin: string): string[] => [
    ...(options.configPath === undefined ? [] : ["--config", options.configPath]),
    ...(options.allowNonLoopback === true ? ["--allow-non-loopback"] : []),
    ...["--listen", listenArg(api), "--admin", listenArg(admin)],
    ...["--drain-timeout", `${options.drainTimeoutMs}ms`, "--max-body", String(options.maxBodyBytes)],
    ...["--headers-timeout", `${options.headersTimeoutMs}ms`, "--request-timeout", `${options.requestTimeoutMs}ms`],
    ...["--max-connections", String(options.maxConnections)],
  ];

  // A signal while the sidecar starts (Ctrl-C, or SIGTERM to a container's PID 1) is kept, so
  // the app is then not started at all.
  let early: NodeJS.Signals | undefined;
  const hold = (signal: NodeJS.Signals) => {
    early ??= signal;
  };
  for (const signal of FORWARDED) process.on(signal, hold);
  let sidecar: LaunchedSidecar;
  try {
    sidecar = await launchSidecar({
      args: sidecarArgs(formatListenAddress(options.api), formatListenAddress(options.admin)),
      env: sidecarEnv,
    });
  } catch (error) {
    for (const signal of FORWARDED) process.off(signal, hold);
    if (early !== undefined) return exitCodeForSignal(early);
    log.fatal({ event: "sidecar_start_failed", err: error }, (error as Error).message);
    return 1;
  }
  for (const signal of FORWARDED) process.off(signal, hold);
  if (early !== undefined) {
    log.info({ event: "signal_before_start", signal: early }, "signalled before the app started; stopping");
    await sidecar.stop("SIGTERM", options.drainTimeoutMs + 5000);
    return exitCodeForSignal(early);
  }
  let appRunning = true;
  const supervise = (current: LaunchedSidecar, restarts: number): void => {
    void current.exited.then(async (status) => {
      if (!appRunning || sidecar !== current) return;
      const delay = Math.min(5000, 100 * 2 ** restarts);
      log.error({ event: "sidecar_died", ...status, restartInMs: delay }, "sidecar died; restarting it");
      await new Promise((r) => setTimeout(r, delay));
      if (!appRunning) return;
      try {
        sidecar = await launchSidecar({ args: sidecarArgs(current.api, current.admin), env: sidecarEnv });
        log.info({ event: "sidecar_restarted", api: sidecar.api }, "sidecar restarted");
        supervise(sidecar, 0);
      } catch (error) {
        log.error({ event: "sidecar_restart_failed", err: error }, (error as Error).message);
        supervise(current, restarts + 1);
      }
    });
  };
  supervise(sidecar, 0);

  // The app gets its own process group, so a Ctrl-C in the terminal reaches it once, through
  // the forwarding below, and never reaches the sidecar, which must outlive the app.
  const app = spawn(file, args, {
    stdio: "inherit",
    detached: true,
    env: {
      ...process.env,
      TANDEM_MODE: "sidecar",
      TANDEM_SIDECAR: appAddress(sidecar.api),
      TANDEM_TOKEN: token,
      // Should the app ever fall back to library mode, it runs on the same configuration.
      ...(options.configPath === undefined ? {} : { TANDEM_CONFIG: resolve(options.configPath) }),
    },
  });
  const forward = (signal: NodeJS.Signals) => {
    log.info({ event: "signal_forwarded", signal }, `forwarding ${signal} to the app`);
    app.kill(signal);
  };
  for (const signal of FORWARDED) process.on(signal, forward);
  const code = await new Promise<number>((resolve) => {
    app.once("error", (error) => {
      log.fatal({ event: "app_start_failed", err: error }, `cannot start ${file}: ${error.message}`);
      resolve(127);
    });
    app.once("exit", (exitCode, signal) => {
      resolve(signal === null ? (exitCode ?? 1) : exitCodeForSignal(signal));
    });
  });
  appRunning = false;
  log.info({ event: "app_exited", code }, "app exited; stopping the sidecar");
  const stopped = await sidecar.stop("SIGTERM", options.drainTimeoutMs + 5000);
  if (stopped.code !== 0 && stopped.code !== null)
    log.warn({ event: "sidecar_exit", ...stopped }, "sidecar exited uncleanly");
  for (const signal of FORWARDED) process.off(signal, forward);
  return code;
}

/** `http://127.0.0.1:4600` → `127.0.0.1:4600`, the form `--listen` takes. */
function listenArg(address: string): string {
  return address.startsWith("http://") ? address.slice("http://".length) : address;
}

/** The app reaches a sidecar bound to every address through loopback. */
function appAddress(api: string): string {
  return api.replace("http://0.0.0.0:", "http://127.0.0.1:").replace("http://[::]:", "http://[::1]:");
}
