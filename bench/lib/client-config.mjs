// The upstream of scenario 2's clients, every policy on, as tandem.yaml text.
//
//   allPoliciesConfig("http://127.0.0.1:8080", { concurrency: 32, attempt: "2s", total: "5s" })

/** tandem.yaml with one upstream `bench` at `url`: least-request balancing and every policy. */
export function allPoliciesConfig(url, { concurrency, attempt, total }) {
  return `
upstreams:
  bench:
    endpoints: [${url}]
    loadBalancer: least-request
    timeout: { attempt: ${attempt}, total: ${total} }
    retry: { attempts: 3, backoff: { base: 25ms, max: 1s }, budget: { ratio: 0.2, minPerSecond: 10 } }
    circuitBreaker: { failureRatio: 0.5, minThroughput: 20, window: 10s, breakFor: 5s }
    outlierDetection: { consecutive5xx: 5, baseEjection: 30s }
    bulkhead: { maxConcurrent: ${concurrency * 4}, maxQueued: 0 }
    rateLimit: { rps: 1000000 }
`;
}
