// Writes the config's JSON Schema and the reference table in docs/config.md, both generated
// from the zod schema the loader validates with.
import { readFileSync, writeFileSync } from "node:fs";
import { configReference, tandemJsonSchema } from "@tandem/config";

const schema = new URL("../packages/config/schema/tandem.schema.json", import.meta.url);
writeFileSync(schema, `${JSON.stringify(tandemJsonSchema(), null, 2)}\n`);

const docs = new URL("../docs/config.md", import.meta.url);
const text = readFileSync(docs, "utf8");
const start = "<!-- reference:start -->";
const end = "<!-- reference:end -->";
const before = text.slice(0, text.indexOf(start) + start.length);
const after = text.slice(text.indexOf(end));
writeFileSync(docs, `${before}\n${configReference()}\n${after}`);
console.log("packages/config/schema/tandem.schema.json and docs/config.md written");
