import { z } from "zod";

// One schema for the whole tandem.yaml. Durations and sizes are written as strings (`2s`,
// `250ms`) and read back as numbers of milliseconds, so code never parses units itself.

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration: `250ms`, `2s`, `1.5m`, `1h`, or a number of milliseconds. Read as milliseconds. */
const duration = z
  .union([
    z.string().regex(DURATION, { message: "expected a duration such as 250ms, 2s, 1m or 1h" }),
    z.number().nonnegative(),
  ])
  .transform((value) => {
    if (typeof value === "number") return value;
    const [, amount, unit] = DURATION.exec(value) as RegExpExecArray;
    return Math.round(Number(amount) * (UNIT_MS[unit as string] as number));
  })
  .meta({ title: "duration", description: "250ms, 2s, 1.5m, 1h, or a number of milliseconds." });

const SIZE = /^(\d+(?:\.\d+)?)(B|KB|KiB|MB|MiB|GB|GiB)$/;
const UNIT_BYTES: Record<string, number> = {
  B: 1,
  KB: 1000,
  KiB: 1024,
  MB: 1_000_000,
  MiB: 1024 * 1024,
  GB: 1_000_000_000,
  GiB: 1024 * 1024 * 1024,
};

/** A size: `512KiB`, `10MB`, `1GiB`, or a number of bytes. Read as bytes. */
const size = z
  .union([z.string().regex(SIZE, { message: "expected a size such as 512KiB, 10MB or 1GiB" }), z.int().positive()])
  .transform((value) => {
    if (typeof value === "number") return value;
    const [, amount, unit] = SIZE.exec(value) as RegExpExecArray;
    return Math.round(Number(amount) * (UNIT_BYTES[unit as string] as number));
  })
  .meta({ title: "size", description: "512KiB, 10MB, 1GiB, or a number of bytes." });

const ratio = z.number().min(0).max(1);
const name = z.string().regex(/^[a-z0-9]([a-z0-9-_]*[a-z0-9])?$/, {
  message: "expected lowercase letters, digits, '-' and '_'",
});

const endpoint = z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" });

const retry = z
  .strictObject({
    attempts: z.int().min(1).max(10).default(3).describe("Attempts in all, the first included."),
    backoff: z
      .strictObject({
        base: duration.default(25).describe("First backoff ceiling (Envoy's 25 ms)."),
        max: duration.default(1000).describe("Backoff cap."),
      })
      .default({ base: 25, max: 1000 })
      .describe("Full-jitter exponential backoff between attempts."),
    on: z
      .array(z.union([z.enum(["connect-error", "reset", "timeout"]), z.int().min(400).max(599)]))
      .default(["connect-error", "reset", 502, 503, 504])
      .describe("What is retried: connection failures and these statuses."),
    budget: z
      .strictObject({
        ratio: ratio.default(0.2).describe("Retries may add this share of the requests (Finagle's default 0.2)."),
        minPerSecond: z.number().nonnegative().default(10).describe("Retries always allowed per second (Finagle: 10)."),
      })
      .default({ ratio: 0.2, minPerSecond: 10 })
      .describe("Retries allowed on top of requests (Finagle/Linkerd retry budget)."),
  })
  .describe("Retry policy.");

// `rt.resilience.execute` retries what its work throws; there are no statuses to choose from.
const policyRetry = retry
  .omit({ on: true })
  .describe("Retry policy: every error the work throws is retried, except a guard's refusal or the caller's abort.");

const circuitBreaker = z
  .strictObject({
    failureRatio: ratio.default(0.5).describe("Open when this share of calls in the window failed (Polly: 0.5)."),
    minThroughput: z.int().min(1).default(20).describe("Calls the window needs before the ratio counts (Polly: 20)."),
    consecutiveFailures: z.int().min(1).optional().describe("Also open after this many failures in a row."),
    window: duration.default(10_000).describe("Rolling window of the failure ratio (opossum: 10 s)."),
    breakFor: duration.default(5000).describe("How long the breaker stays open (Polly: 5 s)."),
    halfOpenProbes: z.int().min(1).default(3).describe("Trial calls let through while half-open."),
    slowCall: duration.optional().describe("Calls slower than this count as failures."),
  })
  .describe("Circuit breaker: opens on a failure ratio over a rolling window, or on consecutive failures.");

const bulkhead = z
  .strictObject({
    maxConcurrent: z.int().min(1).default(100).describe("Calls running at once."),
    maxQueued: z.int().min(0).default(0).describe("Calls waiting for a slot; beyond, calls are rejected."),
  })
  .describe("Bulkhead: bounds concurrency.");

const rateLimit = z
  .strictObject({
    rps: z.number().positive().describe("Tokens added per second."),
    burst: z.int().min(1).optional().describe("Bucket size; default: one second of tokens."),
  })
  .describe("Token-bucket rate limit.");

const policy = z
  .strictObject({
    timeout: duration.optional().describe("Per-attempt timeout."),
    totalTimeout: duration.optional().describe("Bound on all attempts together."),
    retry: policyRetry.optional(),
    circuitBreaker: circuitBreaker.optional(),
    bulkhead: bulkhead.optional(),
    rateLimit: rateLimit.optional(),
  })
  .describe("A named policy for rt.resilience.execute(name, fn).");

const upstream = z
  .strictObject({
    endpoints: z.array(endpoint).min(1).optional().describe("Static endpoints (http:// or https:// URLs)."),
    dns: z
      .string()
      .regex(/^[a-zA-Z0-9.-]+:\d{1,5}$/, { message: "expected HOST:PORT" })
      .optional()
      .describe("Resolve endpoints from DNS: HOST:PORT, re-resolved respecting TTL."),
    dnsResolvers: z
      .array(
        z.string().regex(/^(\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|[0-9a-fA-F:]+|\[[0-9a-fA-F:]+\]:\d{1,5})$/, {
          message: "expected an IP address, IP:PORT or [IPv6]:PORT",
        }),
      )
      .min(1)
      .optional()
      .describe(
        "With dns: the DNS servers to ask (IP or IP:PORT, e.g. a local Consul agent's 127.0.0.1:8600) instead of the system's.",
      ),
    loadBalancer: z
      .enum(["round-robin", "least-request", "peak-ewma"])
      .default("least-request")
      .describe("least-request is power-of-two-choices, Envoy's default."),
    timeout: z
      .strictObject({
        attempt: duration.default(2000).describe("Per attempt."),
        total: duration.default(10_000).describe("Bounds all attempts and backoff together, as Envoy's route timeout."),
      })
      .default({ attempt: 2000, total: 10_000 }),
    retry: retry.optional(),
    circuitBreaker: circuitBreaker.optional(),
    outlierDetection: z
      .strictObject({
        consecutive5xx: z
          .int()
          .min(1)
          .default(5)
          .describe("Eject after this many 5xx or connect errors in a row (Envoy: 5)."),
        baseEjection: duration
          .default(30_000)
          .describe("First ejection time, multiplied by the times ejected (Envoy: 30 s)."),
        maxEjectionPercent: z
          .int()
          .min(0)
          .max(100)
          .default(50)
          .describe("Never eject more of the endpoints than this."),
        failurePercentage: z
          .int()
          .min(1)
          .max(100)
          .optional()
          .describe(
            "Also eject an endpoint when this share (%) of its requests in the window failed, in a row or not (Envoy's failure_percentage_threshold). Off when unset.",
          ),
        minRequests: z
          .int()
          .min(1)
          .default(20)
          .describe(
            "Requests an endpoint needs in the window before failurePercentage judges it (as the breaker's minThroughput).",
          ),
        window: duration
          .default(10_000)
          .describe("The rolling window of failurePercentage, kept as ten buckets (Envoy's interval: 10 s)."),
      })
      .optional()
      .describe("Outlier detection: eject failing endpoints for a while."),
    bulkhead: bulkhead.optional(),
    rateLimit: rateLimit.optional(),
    hedging: z
      .strictObject({
        after: z
          .union([z.enum(["p50", "p90", "p95", "p99"]), duration])
          .default("p95")
          .describe("Send a hedge after this latency percentile of the upstream, or a fixed delay."),
        maxHedges: z.int().min(1).max(3).default(1).describe("Extra attempts in flight at most."),
      })
      .optional()
      .describe("Hedged requests, for idempotent requests only."),
  })
  .refine((u) => (u.endpoints === undefined) !== (u.dns === undefined), {
    message: "set exactly one of endpoints or dns",
  })
  .refine((u) => u.dnsResolvers === undefined || u.dns !== undefined, {
    message: "dnsResolvers needs dns: they resolve its name",
    path: ["dnsResolvers"],
  })
  .describe("A named upstream for rt.http.request(name, ...).");

const telemetry = z.strictObject({
  metrics: z
    .strictObject({ prefix: z.string().default("").describe("Prefix for the service's own metric names.") })
    .default({ prefix: "" }),
  traces: z
    .strictObject({
      sampler: z
        .enum(["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_traceidratio"])
        .default("parentbased_always_on")
        .describe("OTEL_TRACES_SAMPLER's values."),
      ratio: ratio.default(1).describe("Sampling ratio for the traceidratio samplers."),
      export: z
        .strictObject({ otlp: endpoint.optional().describe("OTLP/HTTP endpoint, e.g. http://collector:4318.") })
        .default({}),
    })
    .default({ sampler: "parentbased_always_on", ratio: 1, export: {} }),
  logs: z
    .strictObject({
      level: z
        .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
        .default("info")
        .describe("pino level."),
      sinks: z
        .array(z.enum(["stdout", "file", "otlp"]))
        .default(["stdout"])
        .describe(
          "Where the sidecar writes the log lines of the pod (library mode: the service logs to stdout). " +
            "`otlp` exports OTLP/HTTP JSON to /v1/logs under OTEL_EXPORTER_OTLP_ENDPOINT or telemetry.traces.export.otlp.",
        ),
      file: z
        .strictObject({
          path: z.string().min(1).describe("The log file; rotated files get .1, .2, ... appended."),
          maxSize: size.default(10 * 1024 * 1024).describe("Rotate once the file would grow past this size."),
          maxFiles: z.int().min(1).max(100).default(5).describe("Rotated files kept, besides the current one."),
        })
        .optional()
        .describe("The `file` sink: where and how large, rotated by size."),
    })
    .superRefine((logs, ctx) => {
      if (logs.sinks.includes("file") && logs.file === undefined) {
        ctx.addIssue({ code: "custom", path: ["file"], message: "the file sink needs telemetry.logs.file.path" });
      }
    })
    .default({ level: "info", sinks: ["stdout"] }),
});

/** The schema of tandem.yaml. Every section is optional; what is left out takes its default. */
export const tandemConfigSchema = z
  .strictObject({
    $schema: z.string().optional().describe("Path or URL of this JSON Schema, for editors."),
    service: z.string().min(1).default("unknown_service").describe("The service's name (OTEL_SERVICE_NAME)."),
    upstreams: z.record(name, upstream).default({}),
    policies: z.record(name, policy).default({}),
    telemetry: telemetry.default({
      metrics: { prefix: "" },
      traces: { sampler: "parentbased_always_on", ratio: 1, export: {} },
      logs: { level: "info", sinks: ["stdout"] },
    }),
    flags: z
      .strictObject({
        source: z
          .string()
          .min(1)
          .optional()
          .describe("A flagd flag-definition file (JSON or YAML), relative to this file."),
        staleAfter: duration
          .default(5000)
          .describe("Sidecar mode: flags report STALE once the sidecar has been unreachable this long."),
      })
      .optional(),
    secrets: z
      .strictObject({
        dir: z.string().min(1).optional().describe("A directory with one file per secret, relative to this file."),
        envPrefix: z
          .string()
          .regex(/^[A-Z_][A-Z0-9_]*$/)
          .optional()
          .describe("Env variables PREFIX<NAME> are secrets named <name>."),
      })
      .default({}),
    app: z.record(z.string(), z.unknown()).default({}).describe("The service's own settings."),
  })
  .meta({ title: "tandem configuration", description: "tandem.yaml: the same file drives library and sidecar mode." });

/** The configuration as code reads it: defaults applied, durations in milliseconds. */
export type TandemConfig = z.output<typeof tandemConfigSchema>;

/** The configuration as a file may write it. */
export type TandemConfigInput = z.input<typeof tandemConfigSchema>;
