import { LocalConfigSources, redact } from "@tandem/config";
import { TandemError } from "@tandem/core";
import { pino } from "pino";
import { stringify } from "yaml";
import { CONFIG_HELP } from "./help.js";
import { parse } from "./options.js";

/**
 * `tandem config`: validates a config the way the runtime and the sidecar load it, and prints
 * the effective result with secrets redacted, a dump safe to paste into a ticket.
 */
export async function configCommand(argv: readonly string[]): Promise<number> {
  const { values } = parse(
    "config",
    argv,
    { config: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    false,
  );
  if (values.help === true) {
    process.stdout.write(`${CONFIG_HELP}\n`);
    return 0;
  }
  const file = values.config ?? (process.env.TANDEM_CONFIG?.trim() || undefined);
  let sources: LocalConfigSources;
  try {
    sources = await LocalConfigSources.open({
      file,
      env: process.env,
      logger: pino({ level: "silent" }),
      watch: false,
    });
  } catch (error) {
    if (!TandemError.is(error)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 1;
  }
  const { values: effective, secretPaths } = sources.loaded;
  const dump = redact(effective, secretPaths);
  process.stdout.write(values.json === true ? `${JSON.stringify(dump, null, 2)}\n` : stringify(dump));
  sources.close();
  return 0;
}
