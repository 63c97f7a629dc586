import { packageVersion } from "../package-version.js";
import { MAIN_HELP } from "./help.js";

const USAGE_EXIT = 2;

/** Runs the CLI with `argv` (without node and the script) and resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`${MAIN_HELP}\n`);
    return command === undefined ? USAGE_EXIT : 0;
  }
  if (command === "--version" || command === "-v") {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (command !== "sidecar" && command !== "run" && command !== "config") {
    return usage(`unknown command '${command}'`, "tandem --help");
  }
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  if (major < 22 || (major === 22 && minor < 19)) {
    process.stderr.write(`tandem: needs Node.js >= 22.19, this is ${process.version}\n`);
    return 1;
  }
  // Commands load their dependencies only when run, so that help and version stay instant.
  const { UsageError } = await import("./options.js");
  const { TandemError } = await import("@tandem/core");
  try {
    if (command === "sidecar") {
      const { sidecarCommand } = await import("./sidecar-command.js");
      return await sidecarCommand(rest, packageVersion());
    }
    if (command === "config") {
      const { configCommand } = await import("./config-command.js");
      return await configCommand(rest);
    }
    const { runCommand } = await import("./run-command.js");
    return await runCommand(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      return usage(error.message, `tandem ${error.command} --help`);
    }
    if (TandemError.is(error)) {
      process.stderr.write(`tandem ${command}: ${error.message}\n`);
      return USAGE_EXIT;
    }
    throw error;
  }
}

function usage(message: string, hint: string): number {
  process.stderr.write(`tandem: ${message}\nSee '${hint}'.\n`);
  return USAGE_EXIT;
}
