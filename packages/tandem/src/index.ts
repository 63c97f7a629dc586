export type {
  Concern,
  Config,
  ConfigChange,
  ConfigSnapshot,
  Counter,
  EvaluationContext,
  EvaluationDetails,
  ExecuteOptions,
  Flags,
  Gauge,
  Histogram,
  Http,
  Labels,
  Logger,
  Metrics,
  Mode,
  Resilience,
  Runtime,
  RuntimeStatus,
  Secrets,
  UpstreamRequest,
  UpstreamResponse,
} from "@tandem/core";
export {
  AbortedError,
  ConfigError,
  fixedLabels,
  NotAvailableError,
  SidecarUnavailableError,
  TandemError,
  TimeoutError,
} from "@tandem/core";
export type { ServerMetricsOptions } from "@tandem/observability";
export { fastifyServerMetrics, httpServerMetrics, traceMixin } from "@tandem/observability";
export {
  BulkheadRejectedError,
  CircuitOpenError,
  RateLimitedError,
  RetryBudgetExhaustedError,
  staticResponse,
  UpstreamError,
} from "@tandem/resilience";
export type { ExitStatus, LaunchedSidecar, LaunchOptions } from "./launch.js";
export { launchSidecar } from "./launch.js";
export type { RuntimeOptions } from "./runtime.js";
export { createRuntime } from "./runtime.js";
