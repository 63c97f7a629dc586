export { payloadTooLarge, readBody } from "./body.js";
export type { EventStream, EventStreamOptions, ServerSentEvent } from "./client/event-stream.js";
export type { CallOptions, ReadyInfo, SidecarClientOptions, WaitOptions } from "./client/sidecar-client.js";
export { SidecarClient } from "./client/sidecar-client.js";
export { loadConfigFile, parseConfigText } from "./config-file.js";
export type {
  Concern,
  ConcernContext,
  ConcernInstance,
  HeadLines,
  ProxyIncoming,
  ProxyOutgoing,
  ProxyRequest,
  ProxyTarget,
  RemoteConcernContext,
} from "./contract/concern.js";
export type { Config, ConfigChange, ConfigSnapshot, Secrets } from "./contract/config.js";
export type { EvaluationContext, EvaluationDetails, FlagObject, Flags } from "./contract/flags.js";
export type { Http, UpstreamRequest, UpstreamResponse } from "./contract/http.js";
export type { LogFn, Logger } from "./contract/logger.js";
export type {
  Counter,
  Exposition,
  Gauge,
  GaugeOptions,
  Histogram,
  HistogramOptions,
  InstrumentOptions,
  Labels,
  Metrics,
} from "./contract/metrics.js";
export { fixedLabels, isFixedLabels } from "./contract/metrics.js";
export type { ExecuteOptions, Resilience } from "./contract/resilience.js";
export type {
  Listener,
  RouteContext,
  RouteDefinition,
  RouteMethod,
  RouteResponse,
  RouteResult,
} from "./contract/routes.js";
export type { Facets, Runtime, RuntimeStatus } from "./contract/runtime.js";
export type { StandardSchemaV1 } from "./contract/standard-schema.js";
export { defineRoute } from "./define-route.js";
export type { LogLevel, Mode, ParseAddressOptions, SidecarAddress, TandemEnv } from "./env.js";
export {
  DEFAULT_SIDECAR,
  formatSidecarAddress,
  isLoopbackHost,
  parseSidecarAddress,
  resolveEnv,
} from "./env.js";
export type { CoreErrorCode, TandemErrorCode, TandemErrorOptions } from "./errors.js";
export {
  AbortedError,
  ConfigError,
  NotAvailableError,
  SidecarUnavailableError,
  TandemError,
  TimeoutError,
} from "./errors.js";
export type { LoggedEvent } from "./events/event-log.js";
export { EventLog } from "./events/event-log.js";
export { fullJitterDelay } from "./internal/backoff.js";
export { CancelSignal } from "./internal/cancel-signal.js";
export type { ChildTraceLines } from "./internal/child-trace-lines.js";
export { CHILD_TRACE_LINES } from "./internal/child-trace-lines.js";
export { connectionOptions, FieldLines, type Framing } from "./internal/field-lines.js";
export type { SeenNames } from "./internal/http-grammar.js";
export {
  asciiAt,
  badFieldValue,
  fieldName,
  fieldValue,
  HTTP_CHUNKED_LAST,
  HTTP_TOKEN,
  httpDigits,
  noteName,
  seenName,
} from "./internal/http-grammar.js";
export { fillRandom, randomHex } from "./internal/random.js";
export type { Problem } from "./problem.js";
export { fromProblem, PROBLEM_CONTENT_TYPE, registerProblemDecoder, toProblem } from "./problem.js";
export { parseDuration, parseSize } from "./units.js";
