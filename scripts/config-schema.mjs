// Writes packages/config/schema/tandem.schema.json from the zod schema the loader uses.
import { writeFileSync } from "node:fs";
import { tandemJsonSchema } from "@tandem/config";

const target = new URL("../packages/config/schema/tandem.schema.json", import.meta.url);
writeFileSync(target, `${JSON.stringify(tandemJsonSchema(), null, 2)}\n`);
console.log("packages/config/schema/tandem.schema.json written");
