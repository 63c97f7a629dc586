import { readFile } from "node:fs/promises";
import { ConfigError, parseConfigText, type StandardSchemaV1 } from "@tandem/core";
import { type TandemConfig, tandemConfigSchema } from "../schema/tandem-schema.js";
import { applyEnvOverrides, hasEnvOverrides } from "./env-overrides.js";
import { resolveSecretRefs, type SecretLookup, type SecretUse } from "./secret-refs.js";

/** One problem found in the configuration, with where it is and what was expected. */
export interface ConfigIssue {
  /** Dotted path, e.g. `upstreams.payments.timeout.attempt`; `(root)` for the whole file. */
  path: string;
  message: string;
  /** The offending value, shortened; never a secret's value. */
  received?: string;
}

/** A loaded configuration and what a dump must hide. */
export interface LoadedConfig {
  /** Validated, defaults applied, secret references resolved. */
  values: TandemConfig;
  /** The same before secret references were resolved: safe to send and to show. */
  template: TandemConfig;
  /** Where secret values went, for redaction. */
  secretPaths: string[];
  /** The secrets referenced, so a rotation of one of them reloads the configuration. */
  secretNames: string[];
}

/** Where a configuration comes from. */
export interface ConfigSources {
  /** The YAML or JSON file; none means defaults and env overrides only. */
  file?: string | undefined;
  /** Env variables, for `TANDEM__SECTION__KEY` overrides. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Resolves `${secret:name}` references. */
  secrets?: SecretLookup;
  /** The application's own schema for the `app` section. */
  appSchema?: StandardSchemaV1 | undefined;
}

/**
 * Loads, overrides, validates and resolves a configuration. Either every check passes and the
 * whole configuration comes back, or a `ConfigError` lists every problem with its path;
 * nothing in between.
 */
export async function loadConfig(sources: ConfigSources): Promise<LoadedConfig> {
  const text = sources.file === undefined ? undefined : await readConfigText(sources.file);
  return parseConfig(text, sources);
}

/** The same as `loadConfig`, from text already read (`undefined`: no file). */
export async function parseConfig(text: string | undefined, sources: ConfigSources): Promise<LoadedConfig> {
  const label = sources.file ?? "configuration";
  const raw = text === undefined ? {} : await parseConfigText(text, sources.file ?? "tandem.yaml");
  const env = sources.env ?? {};
  // The YAML parser is loaded only when there is YAML to read: a file without overrides, or no
  // file at all, does not pay for it.
  const overridden = hasEnvOverrides(env) ? applyEnvOverrides(raw, env, scalarParser(await import("yaml"))) : raw;
  const result = tandemConfigSchema.safeParse(overridden, { reportInput: true });
  if (!result.success) {
    throw invalid(
      label,
      result.error.issues.map((issue) => {
        // A bad name in a map (`upstreams: { Bad_Name: ... }`): say what a name must be.
        if (issue.code === "invalid_key") {
          return {
            path: formatPath(issue.path.slice(0, -1)),
            message: `name ${issue.issues[0]?.message ?? "is invalid"}`,
            received: describe(issue.path.at(-1)),
          };
        }
        return {
          path: formatPath(issue.path),
          message: issue.message,
          ...("input" in issue && issue.code !== "unrecognized_keys" ? { received: describe(issue.input) } : {}),
        };
      }),
    );
  }
  const issues: ConfigIssue[] = [];
  const use: SecretUse = { paths: [], names: new Set() };
  const resolved = resolveSecretRefs(result.data, sources.secrets, issues, use) as TandemConfig;
  await applyAppSchema(resolved, sources.appSchema, issues);
  if (issues.length > 0) throw invalid(label, issues);
  return { values: resolved, template: result.data, secretPaths: use.paths, secretNames: [...use.names].sort() };
}

/** Reads a config or flags file; a failure is a `ConfigError` naming the file and the reason. */
export async function readConfigText(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code ?? "unknown error";
    throw new ConfigError(`config file ${file} cannot be read (${code})`, {
      cause: error,
      details: { file, reason: code },
    });
  }
}

/**
 * Validates `values.app` against the application's schema, replacing it with the schema's
 * output (defaults, coercions) or adding an issue per problem.
 */
export async function applyAppSchema(
  values: { app?: unknown },
  schema: StandardSchemaV1 | undefined,
  issues: ConfigIssue[],
): Promise<void> {
  if (schema === undefined) return;
  const app = await schema["~standard"].validate(values.app ?? {});
  if (app.issues === undefined) {
    values.app = app.value;
    return;
  }
  for (const issue of app.issues) {
    const path = (issue.path ?? []).map((p) => (typeof p === "object" ? p.key : p));
    issues.push({ path: formatPath(["app", ...path]), message: issue.message });
  }
}

function invalid(label: string, issues: ConfigIssue[]): ConfigError {
  const lines = issues.map(
    (i) => `  - ${i.path}: ${i.message}${i.received === undefined ? "" : ` (got ${i.received})`}`,
  );
  const count = issues.length === 1 ? "1 problem" : `${issues.length} problems`;
  return new ConfigError(`${label} is invalid, ${count}:\n${lines.join("\n")}`, { details: { file: label, issues } });
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "(root)";
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`)).join("");
}

function describe(value: unknown): string {
  const text =
    value === undefined
      ? "nothing"
      : typeof value === "string"
        ? JSON.stringify(value)
        : (JSON.stringify(value) ?? String(value));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Env override values are YAML scalars: `50` is a number, `true` a boolean, `[a, b]` a list. */
function scalarParser(yaml: { parse(text: string): unknown }): (text: string) => unknown {
  return (text) => {
    try {
      return yaml.parse(text);
    } catch {
      return text;
    }
  };
}
