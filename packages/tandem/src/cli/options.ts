import { readFileSync } from "node:fs";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { ConfigError, parseDuration, parseSize } from "@tandem/core";
import { type ListenAddress, parseListenAddress, type SidecarOptions } from "@tandem/sidecar";

/** A mistake in how the CLI was called: printed with a hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  constructor(
    message: string,
    readonly command: string,
  ) {
    super(message);
  }
}

/** The flags `tandem sidecar` and `tandem run` share. */
export const SIDECAR_FLAGS = {
  config: { type: "string" },
  listen: { type: "string" },
  admin: { type: "string" },
  "token-file": { type: "string" },
  "allow-non-loopback": { type: "boolean" },
  "drain-timeout": { type: "string" },
  "max-body": { type: "string" },
  "headers-timeout": { type: "string" },
  "request-timeout": { type: "string" },
  "max-connections": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

/** The shared flags, resolved. */
export type SidecarFlags = Required<
  Pick<
    SidecarOptions,
    | "api"
    | "admin"
    | "allowNonLoopback"
    | "drainTimeoutMs"
    | "maxBodyBytes"
    | "headersTimeoutMs"
    | "requestTimeoutMs"
    | "maxConnections"
  >
> &
  Pick<SidecarOptions, "token" | "configPath">;

type SidecarValues = {
  [K in keyof typeof SIDECAR_FLAGS]?: (typeof SIDECAR_FLAGS)[K]["type"] extends "boolean" ? boolean : string;
};

/** Parses `argv` against `options`, turning node's parse errors into a `UsageError`. */
export function parse<T extends NonNullable<ParseArgsConfig["options"]>>(
  command: string,
  argv: readonly string[],
  options: T,
  allowPositionals: boolean,
) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message.split("\n")[0] ?? String(error), command);
  }
}

/** Turns the shared flags (and the env) into sidecar options. Bad values are a `ConfigError`. */
export function sidecarOptions(values: SidecarValues, env: NodeJS.ProcessEnv): SidecarFlags {
  const allow = values["allow-non-loopback"] === true;
  const token = readToken(values["token-file"], env);
  const configPath = values.config ?? nonEmpty(env.TANDEM_CONFIG);
  const api: ListenAddress = parseListenAddress(values.listen ?? "127.0.0.1:4600", "--listen", allow);
  const admin: ListenAddress = parseListenAddress(values.admin ?? "127.0.0.1:4601", "--admin", allow);
  return {
    api,
    admin,
    allowNonLoopback: allow,
    ...(token === undefined ? {} : { token }),
    ...(configPath === undefined ? {} : { configPath }),
    drainTimeoutMs: parseDuration(values["drain-timeout"] ?? "10s", "--drain-timeout"),
    maxBodyBytes: parseSize(values["max-body"] ?? "1mb", "--max-body"),
    headersTimeoutMs: positive(
      parseDuration(values["headers-timeout"] ?? "10s", "--headers-timeout"),
      "--headers-timeout",
    ),
    requestTimeoutMs: positive(
      parseDuration(values["request-timeout"] ?? "60s", "--request-timeout"),
      "--request-timeout",
    ),
    maxConnections: count(values["max-connections"] ?? "1024", "--max-connections"),
  };
}

function positive(ms: number, flag: string): number {
  if (ms <= 0) throw new ConfigError(`${flag} must be above 0`, { details: { flag } });
  return ms;
}

function count(text: string, flag: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) {
    throw new ConfigError(`${flag} is "${text}"; expected a whole number of at least 1, such as 1024`, {
      details: { flag, value: text },
    });
  }
  return value;
}

function readToken(file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (file === undefined) return nonEmpty(env.TANDEM_TOKEN);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`--token-file ${file} cannot be read (${(error as { code?: string }).code ?? "error"})`, {
      cause: error,
    });
  }
  const token = text.trim();
  if (token === "") throw new ConfigError(`--token-file ${file} is empty`);
  if (/\s/.test(token)) throw new ConfigError(`--token-file ${file} holds whitespace inside the token`);
  return token;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}
