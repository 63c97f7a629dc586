export type { ConformanceContext, ConformanceOptions } from "./conformance.js";
export { describeConformance } from "./conformance.js";
export type { StartedSidecar, StartSidecarOptions } from "./start-sidecar.js";
export { startSidecar } from "./start-sidecar.js";
export { runtimeSuite } from "./suites/runtime.js";
