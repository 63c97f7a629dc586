import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { ConfigError } from "./errors.js";

/**
 * Reads a tandem config file (YAML, or JSON by its `.json` extension) into a plain object. A
 * missing file, a syntax error (with line and column) or a top level that is not a mapping is a
 * `ConfigError` naming the file. Validating the sections is the concern packages' work.
 */
export async function loadConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code ?? "unknown error";
    throw new ConfigError(`config file ${path} cannot be read (${code})`, {
      cause: error,
      details: { file: path, reason: code },
    });
  }
  return parseConfigText(text, path);
}

/** Parses config text; `file` names the source in errors and picks JSON for `.json`. */
export async function parseConfigText(text: string, file: string): Promise<Record<string, unknown>> {
  let value: unknown;
  if (extname(file).toLowerCase() === ".json") {
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new ConfigError(`config file ${file} is not valid JSON: ${(error as Error).message}`, {
        cause: error,
        details: { file },
      });
    }
  } else {
    const { parseDocument } = await import("yaml");
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    const first = doc.errors[0];
    if (first !== undefined) {
      const at = first.linePos?.[0];
      const where = at === undefined ? "" : ` at line ${at.line}, column ${at.col}`;
      // The parser's message ends with the position again (and an excerpt on the next lines).
      const why = (first.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
      throw new ConfigError(`config file ${file} is not valid YAML${where}: ${why}`, {
        details: { file, ...(at === undefined ? {} : { line: at.line, column: at.col }) },
      });
    }
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      // An alias to no anchor, or too many alias expansions (a "billion laughs" file).
      throw new ConfigError(`config file ${file} is not valid YAML: ${(error as Error).message.split("\n")[0]}`, {
        cause: error,
        details: { file },
      });
    }
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(
      `config file ${file} must hold a mapping of sections (service, upstreams, ...), got ${Array.isArray(value) ? "a list" : typeof value}`,
      { details: { file, expected: "mapping", got: Array.isArray(value) ? "array" : typeof value } },
    );
  }
  return value as Record<string, unknown>;
}
