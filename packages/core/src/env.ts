import { isIP } from "node:net";
import { ConfigError } from "./errors.js";

/** Where tandem's concerns run: in this process, or in the sidecar next to it. */
export type Mode = "library" | "sidecar";

/** How to reach the sidecar's API listener. */
export type SidecarAddress =
  | { kind: "tcp"; origin: string; host: string; port: number }
  | { kind: "unix"; path: string };

/** Everything tandem reads from the environment, validated. */
export interface TandemEnv {
  mode: Mode;
  sidecar: SidecarAddress;
  token: string | undefined;
  sidecarRequired: boolean;
  configPath: string | undefined;
  logLevel: LogLevel | undefined;
}

/** pino's levels, which tandem uses everywhere. */
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** Default API address of the sidecar. */
export const DEFAULT_SIDECAR = "http://127.0.0.1:4600";

/**
 * Reads and validates tandem's env variables. A bad value throws a `ConfigError` that names the
 * variable, the value and what is allowed; nothing is guessed.
 *
 * @example
 * const env = resolveEnv(process.env); // { mode: "library", sidecar: { kind: "tcp", ... }, ... }
 */
export function resolveEnv(env: Readonly<Record<string, string | undefined>> = process.env): TandemEnv {
  const allowRemote = parseBoolean(env, "TANDEM_ALLOW_REMOTE_SIDECAR", false);
  return {
    mode: parseMode(env.TANDEM_MODE),
    sidecar: parseSidecarAddress(env.TANDEM_SIDECAR ?? DEFAULT_SIDECAR, {
      allowRemote,
      variable: "TANDEM_SIDECAR",
    }),
    token: nonEmpty(env.TANDEM_TOKEN),
    sidecarRequired: parseBoolean(env, "TANDEM_SIDECAR_REQUIRED", false),
    configPath: nonEmpty(env.TANDEM_CONFIG),
    logLevel: parseLogLevel(env.TANDEM_LOG_LEVEL),
  };
}

function parseMode(value: string | undefined): Mode {
  const v = nonEmpty(value);
  if (v === undefined || v === "library") return "library";
  if (v === "sidecar") return "sidecar";
  throw new ConfigError(`TANDEM_MODE is "${v}"; expected "library" or "sidecar"`, {
    details: { variable: "TANDEM_MODE", value: v, allowed: ["library", "sidecar"] },
  });
}

function parseLogLevel(value: string | undefined): LogLevel | undefined {
  const v = nonEmpty(value);
  if (v === undefined) return undefined;
  if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new ConfigError(`TANDEM_LOG_LEVEL is "${v}"; expected one of ${LOG_LEVELS.join(", ")}`, {
    details: { variable: "TANDEM_LOG_LEVEL", value: v, allowed: LOG_LEVELS },
  });
}

const TRUE = new Set(["1", "true", "yes", "on"]);
const FALSE = new Set(["0", "false", "no", "off"]);

function parseBoolean(env: Readonly<Record<string, string | undefined>>, variable: string, fallback: boolean): boolean {
  const v = nonEmpty(env[variable]);
  if (v === undefined) return fallback;
  const lower = v.toLowerCase();
  if (TRUE.has(lower)) return true;
  if (FALSE.has(lower)) return false;
  throw new ConfigError(`${variable} is "${v}"; expected true or false (also 1/0, yes/no, on/off)`, {
    details: { variable, value: v, allowed: [...TRUE, ...FALSE] },
  });
}

/** Options of `parseSidecarAddress`. */
export interface ParseAddressOptions {
  /** Accept a host that is not loopback. Off by default: the sidecar belongs on this machine. */
  allowRemote?: boolean;
  /** Named in errors: the env variable or flag the value came from. */
  variable?: string;
}

/**
 * Parses a sidecar address: `http://HOST:PORT` or `unix:/path/to.sock`. Hosts other than
 * loopback are refused unless `allowRemote` is set, since the token would cross a network.
 */
export function parseSidecarAddress(value: string, options: ParseAddressOptions = {}): SidecarAddress {
  const variable = options.variable ?? "sidecar address";
  const fail = (why: string): never => {
    throw new ConfigError(
      `${variable} is "${value}": ${why}; expected http://127.0.0.1:PORT, http://[::1]:PORT, http://localhost:PORT or unix:/path/to.sock`,
      { details: { variable, value } },
    );
  };
  if (value.startsWith("unix:")) {
    const path = value.slice("unix:".length);
    if (!path.startsWith("/")) fail("a unix socket path must be absolute");
    return { kind: "unix", path };
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail("not a URL");
  }
  if (url.protocol !== "http:") fail(`protocol ${url.protocol} is not supported`);
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "") fail("it must not have a path or query");
  if (url.username !== "" || url.password !== "") fail("credentials belong in TANDEM_TOKEN, not the URL");
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  if (!options.allowRemote && !isLoopbackHost(host)) {
    fail("the host is not loopback (set TANDEM_ALLOW_REMOTE_SIDECAR=true to allow it)");
  }
  const port = url.port === "" ? 80 : Number(url.port);
  return { kind: "tcp", origin: url.origin, host, port };
}

/** True for `localhost`, `127.0.0.0/8` and `::1`: the names that cannot leave this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  const kind = isIP(h);
  if (kind === 4) return h.startsWith("127.");
  if (kind === 6) return h === "::1" || h === "0:0:0:0:0:0:0:1" || h.startsWith("::ffff:127.");
  return false;
}

/** Formats an address the way `TANDEM_SIDECAR` takes it. */
export function formatSidecarAddress(address: SidecarAddress): string {
  return address.kind === "unix" ? `unix:${address.path}` : address.origin;
}

function nonEmpty(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed === "" ? undefined : trimmed;
}
