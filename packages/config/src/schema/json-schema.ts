import { z } from "zod";
import { tandemConfigSchema } from "./tandem-schema.js";

/**
 * The JSON Schema of tandem.yaml (draft 2020-12), generated from the zod schema the loader
 * validates with, so editors check a file exactly as tandem will. Published as
 * `@tandem/config/schema.json`.
 */
export function tandemJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(tandemConfigSchema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
}
