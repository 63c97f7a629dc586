export { resilienceConcern } from "./concern.js";
export type { UpstreamFailure } from "./errors.js";
export {
  BulkheadRejectedError,
  CircuitOpenError,
  RateLimitedError,
  RetryBudgetExhaustedError,
  registerResilienceProblems,
  UpstreamError,
} from "./errors.js";
export { Endpoint } from "./http/endpoint.js";
export { staticResponse } from "./http/fallback.js";
export { forwardProxy } from "./http/forward-proxy.js";
export type { LoadBalancing } from "./http/load-balancer.js";
export { LoadBalancer } from "./http/load-balancer.js";
export { LocalHttp } from "./http/local-http.js";
export type { OutlierSettings } from "./http/outlier-detector.js";
export { OutlierDetector } from "./http/outlier-detector.js";
export { RemoteHttp } from "./http/remote-http.js";
export type { UpstreamRuntime, UpstreamSettings } from "./http/upstream.js";
export { Upstream } from "./http/upstream.js";
export { LocalResilience, policyEvents } from "./local/local-resilience.js";
export type { Outcome, Permit, PermitRequest } from "./permits/permit-service.js";
export { PermitService } from "./permits/permit-service.js";
export { RemoteResilience } from "./permits/remote-resilience.js";
export type { Waiter } from "./policies/bulkhead.js";
export { Bulkhead } from "./policies/bulkhead.js";
export { withCallOptions } from "./policies/call-options.js";
export type { CircuitBreakerOptions, CircuitState } from "./policies/circuit-breaker.js";
export { CircuitBreaker } from "./policies/circuit-breaker.js";
export type { Deadline } from "./policies/deadline-wheel.js";
export { DeadlineWheel } from "./policies/deadline-wheel.js";
export type { PolicyEvents, PolicyRuntime, PolicySettings, RejectReason } from "./policies/policy.js";
export { Policy } from "./policies/policy.js";
export { TokenBucket } from "./policies/rate-limit.js";
export { RetryBudget } from "./policies/retry-budget.js";
