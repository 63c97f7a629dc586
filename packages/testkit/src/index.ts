export { ConfigMapFixture } from "./config-fixture.js";
export type { ConformanceContext, ConformanceOptions } from "./conformance.js";
export { describeConformance } from "./conformance.js";
export type { StartedSidecar, StartSidecarOptions } from "./start-sidecar.js";
export { startSidecar } from "./start-sidecar.js";
export { CANARY, CONFORMANCE_FLAGS, configFixture, configSuite } from "./suites/config.js";
export { metricsSuite, samples } from "./suites/metrics.js";
export { RESILIENCE_CONFIG, resilienceSuite } from "./suites/resilience.js";
export { runtimeSuite } from "./suites/runtime.js";
