import type { Tracer } from "@opentelemetry/api";
import { type Config, ConfigError, type Http, type Logger, type Metrics, type UpstreamRequest } from "@tandem/core";
import type { Dispatcher } from "undici";
import { policyEvents } from "../local/local-resilience.js";
import type { DeadlineWheel } from "../policies/deadline-wheel.js";
import { withFallback } from "./fallback.js";
import { Upstream, type UpstreamSettings } from "./upstream.js";
import { UpstreamDispatcher } from "./upstream-dispatcher.js";

/**
 * `rt.http` in-process: one `Upstream` per entry of `upstreams:` in the config, rebuilt when its
 * entry changes (requests in flight finish on the one they started with).
 */
export class LocalHttp implements Http {
  readonly #upstreams = new Map<string, { json: string; upstream: Upstream }>();
  readonly #wheel: DeadlineWheel;
  readonly #metrics: Metrics | undefined;
  readonly #tracer: Tracer | undefined;
  readonly #unsubscribe: () => void;

  /** `tracer` makes each attempt's CLIENT span: the runtime's, from the observability concern. */
  constructor(
    config: Config,
    metrics: Metrics | undefined,
    logger: Logger,
    wheel: DeadlineWheel,
    tracer?: Tracer | undefined,
  ) {
    this.#wheel = wheel;
    this.#metrics = metrics;
    this.#tracer = tracer;
    this.#apply(config.get<Record<string, UpstreamSettings>>("upstreams") ?? {});
    this.#unsubscribe = config.onChange((change) => {
      if (!change.changed.some((path) => path === "upstreams" || path.startsWith("upstreams."))) return;
      const names = this.#apply(config.get<Record<string, UpstreamSettings>>("upstreams") ?? {});
      logger.info({ event: "upstreams_applied", changed: names }, "upstreams updated");
    });
  }

  request(upstream: string, request: UpstreamRequest): Promise<Dispatcher.ResponseData> {
    const entry = this.#upstreams.get(upstream);
    if (entry === undefined) {
      const known = [...this.#upstreams.keys()];
      return Promise.reject(
        new ConfigError(`no upstream named "${upstream}" in the config; upstreams: ${known.join(", ") || "(none)"}`, {
          details: { upstream, known },
        }),
      );
    }
    return withFallback(entry.upstream.request(request), request);
  }

  dispatcher(upstream: string): Dispatcher {
    return new UpstreamDispatcher((request) => this.request(upstream, request));
  }

  /** The upstream in force for `name`, for the forward proxy, state reports and tests. */
  upstream(name: string): Upstream | undefined {
    return this.#upstreams.get(name)?.upstream;
  }

  /** Names of the configured upstreams. */
  names(): string[] {
    return [...this.#upstreams.keys()];
  }

  async close(): Promise<void> {
    this.#unsubscribe();
    await Promise.all([...this.#upstreams.values()].map(({ upstream }) => upstream.close()));
  }

  #apply(settings: Record<string, UpstreamSettings>): string[] {
    const events = policyEvents(this.#metrics);
    const duration = this.#metrics?.histogram("http_client_request_duration_seconds", {
      help: "Duration of each request tandem sent to an upstream endpoint (every attempt), by method, endpoint, status and error.",
      labelNames: ["http_request_method", "server_address", "http_response_status_code", "error_type"],
    });
    const ejected = this.#metrics?.gauge("tandem_outlier_ejections_active", {
      help: "Endpoints ejected by outlier detection right now, by upstream.",
      labelNames: ["upstream"],
      aggregation: "max",
    });
    const bodyErrors = this.#metrics?.counter("tandem_upstream_body_errors_total", {
      help: "Response bodies that failed after their headers arrived, by upstream and reason: reset (cut off) or timeout.",
      labelNames: ["upstream", "reason"],
    });
    const dnsFailures = this.#metrics?.counter("tandem_dns_failures_total", {
      help: "Failed resolutions of a dns: upstream's name, by upstream; the last good endpoints stay in use.",
      labelNames: ["upstream"],
    });
    const changed: string[] = [];
    for (const [name, s] of Object.entries(settings)) {
      const json = JSON.stringify(s);
      const previous = this.#upstreams.get(name);
      if (previous?.json === json) continue;
      const upstream = new Upstream(name, s, {
        wheel: this.#wheel,
        now,
        events: events(name, true),
        duration,
        tracer: this.#tracer,
        ejections: (n) => ejected?.set({ upstream: name }, n),
        bodyFailed: (reason) => bodyErrors?.inc({ upstream: name, reason }),
        dnsFailed: () => dnsFailures?.inc({ upstream: name }),
      });
      this.#upstreams.set(name, { json, upstream });
      // The old pools close once their requests finish.
      if (previous !== undefined) void previous.upstream.close().catch(() => {});
      changed.push(name);
    }
    for (const [name, { upstream }] of this.#upstreams) {
      if (!(name in settings)) {
        this.#upstreams.delete(name);
        void upstream.close().catch(() => {});
        changed.push(name);
      }
    }
    return changed;
  }
}

const now = performance.now.bind(performance);
