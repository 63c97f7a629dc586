import { tandemJsonSchema } from "./json-schema.js";
import { tandemConfigSchema } from "./tandem-schema.js";

type JsonSchema = {
  type?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
};

// A config with every optional block present, so the parser fills in every default.
const EVERY_BLOCK = {
  upstreams: {
    name: {
      endpoints: ["http://127.0.0.1:7001"],
      retry: {},
      circuitBreaker: {},
      outlierDetection: {},
      bulkhead: {},
      hedging: {},
    },
  },
  policies: { name: { retry: {}, circuitBreaker: {}, bulkhead: {} } },
  flags: {},
};

/**
 * The reference table of every setting in tandem.yaml, in Markdown: path, type, default and
 * meaning. Types come from the JSON Schema; defaults from parsing a config with every block
 * present, so the table shows what tandem really uses.
 */
export function configReference(): string {
  const defaults = tandemConfigSchema.parse(EVERY_BLOCK) as Record<string, unknown>;
  const rows: string[] = [];
  walk(tandemJsonSchema() as JsonSchema, "", defaults, EVERY_BLOCK, rows);
  return ["| setting | type | default | meaning |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

/** `given` is the same place in EVERY_BLOCK: a value given there is an example, not a default. */
function walk(schema: JsonSchema, path: string, defaults: unknown, given: unknown, rows: string[]): void {
  const at = (value: unknown, key: string) => (value as Record<string, unknown> | undefined)?.[key];
  if (schema.properties !== undefined && !isDuration(schema)) {
    if (path !== "" && schema.description !== undefined) rows.push(row(path, "section", undefined, schema.description));
    for (const [key, child] of Object.entries(schema.properties)) {
      if (key === "$schema") continue;
      walk(child, path === "" ? key : `${path}.${key}`, at(defaults, key), at(given, key), rows);
    }
    return;
  }
  if (
    schema.type === "object" &&
    typeof schema.additionalProperties === "object" &&
    schema.additionalProperties.properties !== undefined
  ) {
    if (schema.description !== undefined) rows.push(row(path, "map of name to section", undefined, schema.description));
    walk(schema.additionalProperties, `${path}.<name>`, at(defaults, "name"), at(given, "name"), rows);
    return;
  }
  const meaning = isDuration(schema) && schema.description?.startsWith("250ms") ? "" : (schema.description ?? "");
  const isDefault = given === undefined || (typeof given === "object" && !Array.isArray(given));
  rows.push(row(path, typeOf(schema), isDefault ? defaults : undefined, meaning));
}

function row(path: string, type: string, value: unknown, meaning: string): string {
  const shown = value === undefined ? "" : `\`${JSON.stringify(value)}\``;
  return `| \`${path}\` | ${type} | ${shown} | ${meaning.replaceAll("|", "\\|")} |`;
}

function isDuration(schema: JsonSchema): boolean {
  return schema.anyOf?.some((s) => s.pattern?.includes("ms|s|m|h")) ?? false;
}

function typeOf(schema: JsonSchema): string {
  if (isDuration(schema)) return "duration";
  if (schema.enum !== undefined) return schema.enum.map((v) => `\`${String(v)}\``).join(" \\| ");
  if (schema.anyOf !== undefined) return schema.anyOf.map(typeOf).join(" or ");
  if (schema.type === "array") return `list of ${schema.items === undefined ? "values" : typeOf(schema.items)}`;
  if (schema.type === "object") return "mapping";
  const max = schema.maximum === undefined || schema.maximum >= Number.MAX_SAFE_INTEGER ? "" : schema.maximum;
  const range = schema.minimum !== undefined || max !== "" ? ` ${schema.minimum ?? ""}..${max}` : "";
  return `${schema.type ?? "any"}${range}`;
}
