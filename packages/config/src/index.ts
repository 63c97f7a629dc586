export type { ConfigIssue, ConfigSources } from "./local/loader.js";
export { loadConfig, parseConfig } from "./local/loader.js";
export { tandemJsonSchema } from "./schema/json-schema.js";
export type { TandemConfig, TandemConfigInput } from "./schema/tandem-schema.js";
export { tandemConfigSchema } from "./schema/tandem-schema.js";
