import {
  type Config,
  ConfigError,
  type ExecuteOptions,
  type Logger,
  type Metrics,
  type Resilience,
} from "@tandem/core";
import { withCallOptions } from "../policies/call-options.js";
import { DeadlineWheel } from "../policies/deadline-wheel.js";
import { Policy, type PolicyEvents, type PolicySettings } from "../policies/policy.js";

/**
 * `rt.resilience` in-process: one `Policy` per entry of `policies:` in the config, rebuilt when
 * that entry changes. Calls in flight finish on the policy they started with; new calls take
 * the new one, so a change drops no request.
 */
export class LocalResilience implements Resilience {
  readonly #policies = new Map<string, { json: string; policy: Policy }>();
  readonly #wheel: DeadlineWheel;
  readonly #events: (name: string) => PolicyEvents;
  readonly #unsubscribe: () => void;

  constructor(config: Config, metrics: Metrics | undefined, logger: Logger, wheel = new DeadlineWheel()) {
    this.#wheel = wheel;
    this.#events = policyEvents(metrics);
    this.#apply(config.get<Record<string, PolicySettings>>("policies") ?? {});
    this.#unsubscribe = config.onChange((change) => {
      if (!change.changed.some((path) => path === "policies" || path.startsWith("policies."))) return;
      const names = this.#apply(config.get<Record<string, PolicySettings>>("policies") ?? {});
      logger.info({ event: "policies_applied", changed: names }, "resilience policies updated");
    });
  }

  execute<T>(name: string, work: (signal: AbortSignal) => Promise<T>, options?: ExecuteOptions<T>): Promise<T> {
    const entry = this.#policies.get(name);
    if (entry === undefined) {
      const known = [...this.#policies.keys()];
      return Promise.reject(
        new ConfigError(`no policy named "${name}" in the config; policies: ${known.join(", ") || "(none)"}`, {
          details: { policy: name, known },
        }),
      );
    }
    return withCallOptions(name, (w) => entry.policy.execute(w), work, options);
  }

  /** Names of the configured policies. */
  names(): string[] {
    return [...this.#policies.keys()];
  }

  /** The policy in force for `name`, for state reports and tests. */
  policy(name: string): Policy | undefined {
    return this.#policies.get(name)?.policy;
  }

  close(): void {
    this.#unsubscribe();
  }

  /** Builds the policies whose settings changed; returns their names. */
  #apply(settings: Record<string, PolicySettings>): string[] {
    const changed: string[] = [];
    for (const [name, s] of Object.entries(settings)) {
      const json = JSON.stringify(s);
      if (this.#policies.get(name)?.json === json) continue;
      this.#policies.set(name, {
        json,
        policy: new Policy(name, s, { wheel: this.#wheel, now: now, events: this.#events(name) }),
      });
      changed.push(name);
    }
    for (const name of this.#policies.keys()) {
      if (!(name in settings)) {
        this.#policies.delete(name);
        changed.push(name);
      }
    }
    return changed;
  }
}

const now = performance.now.bind(performance);

const SCOPE = ["upstream", "policy"];

/**
 * The metrics a policy records, named as DESIGN.md says. The `upstream` label is set by the
 * HTTP client, `policy` by `rt.resilience.execute`, so one metric covers both.
 */
export function policyEvents(metrics: Metrics | undefined): (name: string, upstream?: boolean) => PolicyEvents {
  if (metrics === undefined) {
    return () => ({ retried() {}, hedged() {}, rejected() {}, transition() {}, started() {} });
  }
  const retries = metrics.counter("tandem_retries_total", {
    help: "Retries made, by upstream or policy.",
    labelNames: SCOPE,
  });
  const rejected = metrics.counter("tandem_rejected_total", {
    help: "Calls refused without running, by reason: bulkhead, ratelimit, circuit_open, budget.",
    labelNames: [...SCOPE, "reason"],
  });
  const state = metrics.gauge("tandem_circuit_state", {
    help: "1 for the state each circuit breaker is in (closed, open, half_open), 0 for the others.",
    labelNames: [...SCOPE, "state"],
    aggregation: "max",
  });
  const transitions = metrics.counter("tandem_circuit_transitions_total", {
    help: "Circuit breaker state changes, by the state entered.",
    labelNames: [...SCOPE, "to"],
  });
  const hedges = metrics.counter("tandem_hedges_total", {
    help: "Hedged attempts sent, by upstream.",
    labelNames: ["upstream"],
  });
  return (name, upstream = false) => {
    const scope: Record<string, string> = upstream ? { upstream: name } : { policy: name };
    return {
      retried: () => retries.inc(scope),
      hedged: () => hedges.inc({ upstream: name }),
      rejected: (reason) => rejected.inc({ ...scope, reason }),
      transition: (_from, to) => {
        transitions.inc({ ...scope, to });
        for (const s of ["closed", "open", "half_open"]) state.set({ ...scope, state: s }, s === to ? 1 : 0);
      },
      started: (at) => {
        for (const s of ["closed", "open", "half_open"]) state.set({ ...scope, state: s }, s === at ? 1 : 0);
      },
    };
  };
}
