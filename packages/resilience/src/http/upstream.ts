import { Readable } from "node:stream";
import { type Context, context as otelContext, type Tracer } from "@opentelemetry/api";
import {
  AbortedError,
  CancelSignal,
  fixedLabels,
  fullJitterDelay,
  type Histogram,
  type Labels,
  TandemError,
  TimeoutError,
  type UpstreamRequest,
} from "@tandem/core";
import type { Dispatcher } from "undici";
import {
  BulkheadRejectedError,
  CircuitOpenError,
  RateLimitedError,
  RetryBudgetExhaustedError,
  UpstreamError,
} from "../errors.js";
import { Bulkhead, type Waiter, waitForSlot } from "../policies/bulkhead.js";
import { CircuitBreaker, type CircuitBreakerOptions } from "../policies/circuit-breaker.js";
import type { DeadlineWheel } from "../policies/deadline-wheel.js";
import type { PolicyEvents } from "../policies/policy.js";
import { TokenBucket } from "../policies/rate-limit.js";
import { RetryBudget } from "../policies/retry-budget.js";
import { AttemptSignal } from "./attempt-signal.js";
import { endAttemptSpan, startAttemptSpan } from "./attempt-span.js";
import { DnsEndpoints } from "./dns-endpoints.js";
import { Endpoint } from "./endpoint.js";
import type { Http1DispatchOptions } from "./h1/http1-pool.js";
import { IDEMPOTENT_METHODS } from "./idempotent-methods.js";
import { LoadBalancer, type LoadBalancing } from "./load-balancer.js";
import { OutlierDetector, type OutlierSettings } from "./outlier-detector.js";
import { dispatchForRelay, type EarlyAnswer, type RelayResponse } from "./relay-body.js";
import { type BodyGuard, bodyErrors, dispatchForResponse, guardBody } from "./response-body.js";

/** An upstream's settings as the config file gives them, durations in ms. */
export interface UpstreamSettings {
  endpoints?: string[] | undefined;
  /** `host:port`: endpoints from DNS, resolved again when the TTL runs out. */
  dns?: string | undefined;
  /** DNS servers (`HOST:PORT` or an IP) to resolve `dns` with, instead of the system's. */
  dnsResolvers?: string[] | undefined;
  loadBalancer: LoadBalancing;
  timeout: { attempt: number; total: number };
  retry?:
    | {
        attempts: number;
        backoff: { base: number; max: number };
        on: (string | number)[];
        budget: { ratio: number; minPerSecond: number };
      }
    | undefined;
  circuitBreaker?: CircuitBreakerOptions | undefined;
  outlierDetection?: OutlierSettings | undefined;
  bulkhead?: { maxConcurrent: number; maxQueued: number } | undefined;
  rateLimit?: { rps: number; burst?: number | undefined } | undefined;
  /** Idempotent requests only: another attempt after `after` (ms, or a latency percentile). */
  hedging?: { after: number | "p50" | "p90" | "p95" | "p99"; maxHedges: number } | undefined;
}

/** What an upstream needs from the runtime. */
export interface UpstreamRuntime {
  wheel: DeadlineWheel;
  now: () => number;
  random?: () => number;
  events: PolicyEvents;
  duration: Histogram | undefined;
  ejections: (ejected: number) => void;
  /** Makes a CLIENT span per attempt; `undefined` sends the caller's trace context on only. */
  tracer?: Tracer | undefined;
  /** A response body failed after its headers arrived: cut off (`reset`) or too slow (`timeout`). */
  bodyFailed?: (reason: "reset" | "timeout") => void;
  /** A `dns:` name failed to resolve (the last good endpoints, if any, stay). */
  dnsFailed?: () => void;
}

/** One request on its way through the pipeline: what every attempt sends, and where it stands. */
interface Outgoing {
  method: string;
  request: RelayRequest;
  headers: Record<string, string>;
  body: Dispatcher.DispatchOptions["body"];
  deadline: number;
  /** The path with its query, as every attempt sends it. */
  path: string;
  /** Endpoints already tried by this request (each once): retries and hedges prefer the others. */
  tried: Endpoint[];
  /** The caller's trace context, the parent of every attempt's span (hedges start off a timer). */
  parent: Context;
  /** Attempts sent so far, for `http.request.resend_count`. */
  sent: number;
  /** When the request set out: the first attempt's start. */
  start: number;
  /** The answer's body is relayed (`relay`), not read through a stream (`request`). */
  relay: boolean;
  /** Attempts the request may make: the last one's answer is final, whatever its status. */
  attempts: number;
  /** Told of the final answer as soon as an attempt has it (`relay`'s caller); none in a hedged race. */
  readonly writer: AnswerWriter | undefined;
}

/**
 * Who a relayed answer goes to: told of the answer the request ends with as soon as an attempt
 * has it, from inside the read that brought its head, before the attempt's promise settles and
 * before the pipeline's bookkeeping of it (the breaker, outlier detection, the latency window, the
 * span, the duration histogram), so that the answer's way to the client waits for none of that.
 * Not told of an answer that is retried, nor in a hedged race (the race decides).
 */
export interface AnswerWriter {
  /** `response` is final: `relay` resolves with it. Called once at most; must not throw. */
  answer(response: RelayResponse): void;
}

/** A request `relay` sends: an `UpstreamRequest`, and header lines a proxy passes on as they came. */
export interface RelayRequest extends UpstreamRequest {
  /**
   * Header lines (each `name: value` ending with CRLF) written into every attempt's head after
   * `headers`, as they are: checked already by the reader that read them (the proxy front), none
   * of the hop's, none that `headers` gives too.
   */
  headLines?: string | undefined;
}

/**
 * An attempt's answer for the request's `AnswerWriter`, told from inside the read that brought its
 * head (`EarlyAnswer`) when `#send` will not retry it: a status not retried on, or the last
 * attempt's. The attempt's end is read off the clock before the writer writes, so its duration
 * (the histogram, the breaker, the latency window) does not count the client's write.
 */
class FinalAnswer implements EarlyAnswer {
  readonly #writer: AnswerWriter;
  readonly #retryOn: ReadonlySet<string | number>;
  readonly #last: boolean;
  readonly #rt: UpstreamRuntime;
  /** When the writer was told, if it was: the attempt's end. */
  at: number | undefined;

  constructor(writer: AnswerWriter, retryOn: ReadonlySet<string | number>, last: boolean, rt: UpstreamRuntime) {
    this.#writer = writer;
    this.#retryOn = retryOn;
    this.#last = last;
    this.#rt = rt;
  }

  final(statusCode: number): boolean {
    return this.#last || !this.#retryOn.has(statusCode);
  }

  answer(response: RelayResponse): void {
    this.at = this.#rt.now();
    this.#writer.answer(response);
  }
}

/** An answer: undici's (a readable body) for `request`, or one whose body is relayed for `relay`. */
type Answer = Dispatcher.ResponseData | RelayResponse;

/** An attempt outcome's duration labels, kept to be found again. */
interface LabelSet {
  method: string;
  statusCode: number | undefined;
  errorType: string;
  labels: Labels;
}

const NOT_TRIED: Endpoint[] = [];
/** Why a hedged race cancels an attempt that went out before the one that won it. */
const OVERTAKEN = new DOMException("an attempt sent after this one answered first", "AbortError");
/** Why it cancels one that went out after the winner: it joined the race late and lost it. */
const OUTRUN = new DOMException("an attempt sent before this one answered first", "AbortError");
const RETRY_AFTER_CAP_MS = 30_000;
/** Distinct duration label sets an upstream keeps objects for (methods × endpoints × outcomes). */
const MAX_LABEL_SETS = 1000;

/**
 * A named upstream: its endpoints behind a load balancer and outlier detection, and the
 * policies around each request: rate limit, bulkhead, total timeout, retries (to another
 * endpoint when there is one, within the retry budget, honouring `Retry-After`), circuit
 * breaker, attempt timeout. The final answer is returned as it is, 5xx included; only
 * failures without an answer throw.
 */
export class Upstream {
  readonly name: string;
  readonly settings: UpstreamSettings;
  readonly endpoints: Endpoint[];
  readonly breaker: CircuitBreaker | undefined;
  readonly #balancer: LoadBalancer;
  readonly #outliers: OutlierDetector | undefined;
  readonly #bulkhead: Bulkhead | undefined;
  readonly #rate: TokenBucket | undefined;
  readonly #budget: RetryBudget | undefined;
  readonly #retryOn: Set<string | number>;
  readonly #dns: DnsEndpoints | undefined;
  readonly #latency = new LatencyWindow();
  /** Duration label sets by endpoint, each list short (methods × outcomes seen). */
  readonly #labels = new Map<Endpoint, LabelSet[]>();
  #labelSets = 0;
  readonly #rt: UpstreamRuntime;

  constructor(name: string, settings: UpstreamSettings, runtime: UpstreamRuntime) {
    this.name = name;
    this.settings = settings;
    this.#rt = runtime;
    this.endpoints = (settings.endpoints ?? []).map((url) => new Endpoint(url));
    this.#dns =
      settings.dns === undefined
        ? undefined
        : new DnsEndpoints(settings.dns, this.endpoints, {
            upstream: name,
            servers: settings.dnsResolvers,
            failed: runtime.dnsFailed,
          });
    this.#balancer = new LoadBalancer(settings.loadBalancer, runtime.random);
    this.#outliers =
      settings.outlierDetection === undefined
        ? undefined
        : new OutlierDetector(settings.outlierDetection, this.endpoints, runtime.ejections);
    this.breaker =
      settings.circuitBreaker === undefined
        ? undefined
        : new CircuitBreaker(settings.circuitBreaker, runtime.now, (from, to) => runtime.events.transition(from, to));
    if (this.breaker !== undefined) runtime.events.started?.("closed");
    this.#bulkhead =
      settings.bulkhead === undefined
        ? undefined
        : new Bulkhead(settings.bulkhead.maxConcurrent, settings.bulkhead.maxQueued);
    this.#rate =
      settings.rateLimit === undefined
        ? undefined
        : new TokenBucket(settings.rateLimit.rps, settings.rateLimit.burst, runtime.now);
    this.#budget =
      settings.retry === undefined || settings.retry.attempts <= 1
        ? undefined
        : new RetryBudget(settings.retry.budget.ratio, settings.retry.budget.minPerSecond, runtime.now);
    this.#retryOn = new Set(settings.retry?.on ?? []);
  }

  /**
   * Sends one request through the pipeline. Each attempt's span is a child of `parent` (the
   * caller's active context unless given, as the forward proxy gives the one it extracted).
   */
  request(request: UpstreamRequest, parent: Context = otelContext.active()): Promise<Dispatcher.ResponseData> {
    return this.#run(request, parent, false) as Promise<Dispatcher.ResponseData>;
  }

  /**
   * Sends one request through the pipeline, as `request` does, for a caller that passes the answer
   * on as it arrives (the forward proxy): its body is written straight to a client
   * (`body.pipeTo(res)`), with no readable stream in between.
   */
  relay(request: RelayRequest, parent: Context, writer?: AnswerWriter): Promise<RelayResponse> {
    return this.#run(request, parent, true, writer) as Promise<RelayResponse>;
  }

  /** Waits for the first DNS answer of a `dns:` upstream, if it is still to come, then admits the request. */
  #run(request: UpstreamRequest, parent: Context, relay: boolean, writer?: AnswerWriter): Promise<Answer> {
    const resolving = this.#dns?.ready(this.#rt.now());
    if (resolving !== undefined) return resolving.then(() => this.#admit(request, parent, relay, writer));
    return this.#admit(request, parent, relay, writer);
  }

  /**
   * The rate limit and the bulkhead, then the request. Not an async function: a request let in
   * at once costs no promise or suspended frame of its own here, only `#send`'s.
   */
  #admit(request: UpstreamRequest, parent: Context, relay: boolean, writer: AnswerWriter | undefined): Promise<Answer> {
    // One clock reading for the rate limit, the deadline, the retry budget and the first attempt.
    const now = this.#rt.now();
    if (this.#rate !== undefined) {
      const waitMs = this.#rate.take(now);
      if (waitMs > 0) {
        this.#rt.events.rejected("ratelimit");
        return Promise.reject(new RateLimitedError(this.name, this.#rate.rps, waitMs));
      }
    }
    const bulkhead = this.#bulkhead;
    if (bulkhead === undefined) return this.#send(request, parent, now, relay, writer, undefined);
    const entered = bulkhead.enter();
    if (entered === true) return this.#send(request, parent, now, relay, writer, bulkhead);
    if (entered === false) {
      this.#rt.events.rejected("bulkhead");
      return Promise.reject(new BulkheadRejectedError(this.name, bulkhead.maxConcurrent, bulkhead.maxQueued));
    }
    return this.#queued(entered, request.signal).then(() =>
      this.#send(request, parent, this.#rt.now(), relay, writer, bulkhead),
    );
  }

  /** Sends a request with its retries; a bulkhead slot it holds is given back when it settles. */
  async #send(
    request: UpstreamRequest,
    parent: Context,
    now: number,
    relay: boolean,
    writer: AnswerWriter | undefined,
    bulkhead: Bulkhead | undefined,
  ): Promise<Answer> {
    try {
      const method = (request.method ?? "GET").toUpperCase();
      const { body, headers, replayable } = encodeBody(request);
      const retry = this.settings.retry;
      const mayRetry =
        retry !== undefined &&
        retry.attempts > 1 &&
        replayable &&
        // A key in the headers counts too: that is how it arrives through the forward proxy.
        (IDEMPOTENT_METHODS.has(method) || headers["idempotency-key"] !== undefined);
      const deadline = now + this.settings.timeout.total;
      if (mayRetry) this.#budget?.request(now);
      const path = pathWithQuery(request);
      const hedge = replayable && IDEMPOTENT_METHODS.has(method) && this.settings.hedging !== undefined;
      const attempts = mayRetry ? (retry?.attempts ?? 1) : 1;
      const out: Outgoing = {
        method,
        request,
        headers,
        body,
        deadline,
        path,
        tried: NOT_TRIED,
        parent,
        sent: 0,
        start: now,
        relay,
        attempts,
        writer: hedge ? undefined : writer,
      };
      for (let attempt = 1; ; attempt++) {
        const last = attempt >= attempts;
        let outcome: Answer | TandemError;
        try {
          outcome = hedge ? await this.#hedged(out) : await this.#attempt(out);
        } catch (error) {
          if (!TandemError.is(error)) throw error;
          outcome = error;
        }
        const retryable = this.#retryable(outcome);
        if (!(outcome instanceof Error) && (!retryable || last)) return outcome;
        if (outcome instanceof Error && (!retryable || last)) throw outcome;
        // Retry: wait the backoff, or what Retry-After asks (capped), whichever is longer.
        const retryAfter = outcome instanceof Error ? 0 : retryAfterMs(outcome.headers["retry-after"]);
        const delay = Math.max(
          fullJitterDelay(attempt - 1, retry?.backoff.base ?? 25, retry?.backoff.max ?? 1000, this.#rt.random),
          Math.min(retryAfter, RETRY_AFTER_CAP_MS),
        );
        if (this.#rt.now() + delay >= deadline) {
          if (outcome instanceof Error) throw outcome;
          return outcome;
        }
        if (this.#budget !== undefined && !this.#budget.tryRetry()) {
          this.#rt.events.rejected("budget");
          if (!(outcome instanceof Error)) return outcome;
          throw new RetryBudgetExhaustedError(this.name, attempt, outcome);
        }
        if (!(outcome instanceof Error)) await outcome.body.dump();
        this.#rt.events.retried();
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      }
    } finally {
      bulkhead?.exit();
    }
  }

  #retryable(outcome: Answer | TandemError): boolean {
    if (!(outcome instanceof Error)) return this.#retryOn.has(outcome.statusCode);
    if (outcome.code === "timeout") return this.#retryOn.has("timeout");
    if (outcome.code === "upstream_error") return this.#retryOn.has(outcome.details.reason as string);
    return false;
  }

  async #attempt(out: Outgoing, cancel?: AbortSignal): Promise<Answer> {
    const { method, request, headers, body, deadline, path, tried } = out;
    const started = out.sent === 0 ? out.start : this.#rt.now();
    const breaker = this.breaker;
    if (breaker !== undefined && !breaker.tryAcquire(started)) {
      this.#rt.events.rejected("circuit_open");
      throw new CircuitOpenError(this.name, breaker.retryAfterMs);
    }
    const endpoint = this.#pick(started, tried);
    // The shared empty list is never added to: the first attempt starts a list of its own.
    if (tried.length === 0) out.tried = [endpoint];
    else if (!tried.includes(endpoint)) tried.push(endpoint);
    const remaining = deadline - started;
    const bound = this.settings.timeout.attempt <= remaining ? "attempt" : "total";
    const timeoutMs = Math.max(0, Math.min(this.settings.timeout.attempt, remaining));
    // The attempt's own signal: its timeout, the caller's signal and a hedge's cancel reach it
    // through plain listeners, held only while the attempt listens (until the body is done).
    const signal = new AttemptSignal(request.signal, cancel);
    const armed = this.#rt.wheel.arm(timeoutMs, signal);
    endpoint.active++;
    let statusCode: number | undefined;
    let errorType = "";
    let answeredAt: number | undefined;
    const traced = startAttemptSpan(this.#rt.tracer, out.parent, method, endpoint, path, out.sent++, headers);
    const writer = out.writer;
    const early =
      writer === undefined ? undefined : new FinalAnswer(writer, this.#retryOn, out.sent >= out.attempts, this.#rt);
    try {
      // A body that stalls longer than an attempt may take fails rather than hangs.
      const undiciTimeout = undiciTimeoutMs(timeoutMs);
      const options: Http1DispatchOptions = {
        method: method as Dispatcher.HttpMethod,
        path,
        headers: traced.headers,
        traceLines: traced.lines,
        headLines: request.headLines,
        body,
        headersTimeout: undiciTimeout,
        bodyTimeout: undiciTimeout,
      };
      const response: Answer = out.relay
        ? await dispatchForRelay(endpoint.pool, options, signal, early)
        : await dispatchForResponse(endpoint.pool, options, signal);
      statusCode = response.statusCode;
      // An answer the writer had (see `FinalAnswer`) ended the attempt when the writer was told;
      // it is the request's last, so no later attempt can tell the writer again.
      const now = early?.at ?? this.#rt.now();
      answeredAt = now;
      this.#guard(response, endpoint, deadline - now, request.signal);
      endpoint.observe(now - started, now);
      if (statusCode < 500) this.#latency.record(now - started);
      if (statusCode >= 500) {
        errorType = String(statusCode);
        breaker?.failure(now);
        this.#outliers?.failure(endpoint, now);
      } else {
        breaker?.success(now - started, now);
        this.#outliers?.success(endpoint, now);
      }
      return response;
    } catch (error) {
      if (cancel?.aborted && !request.signal?.aborted) {
        // A hedge that lost the race: not a failure of the endpoint, but it was at least that slow.
        errorType = "cancelled";
        breaker?.release();
        if (cancel.reason === OVERTAKEN) {
          // Overtaken by an attempt sent after it: its endpoint is at least that slow, and, as
          // when an Envoy per-try timeout sends a hedge, that is a gateway failure of it. A race
          // it joined late and lost says nothing of its endpoint.
          const now = this.#rt.now();
          endpoint.observeAtLeast(now - started, now);
          this.#outliers?.failure(endpoint, now);
        }
        throw new AbortedError(`${this.name}: a hedged attempt was cancelled`, {
          details: { upstream: this.name, hedge: true },
        });
      }
      if (TandemError.is(error)) {
        // Our own refusal on the way (a request body over the limit): not the endpoint's fault.
        breaker?.release();
        errorType = error.code;
        throw error;
      }
      if (request.signal?.aborted) {
        // The caller gave up: nothing is known about the endpoint.
        breaker?.release();
      } else {
        breaker?.failure();
      }
      if (request.signal?.aborted) {
        errorType = "aborted";
        throw new AbortedError(`${this.name}: the request was aborted by the caller`, {
          cause: error,
          details: { upstream: this.name },
        });
      }
      // undici's headers timeout stands behind the attempt's deadline (see `undiciTimeoutMs`).
      if (signal.timedOut || (error as { code?: string }).code === "UND_ERR_HEADERS_TIMEOUT") {
        errorType = "timeout";
        const now = this.#rt.now();
        endpoint.observeAtLeast(now - started, now);
        // As in Envoy, an attempt that timed out counts as a gateway failure of its endpoint; one
        // cut short by the total deadline (perhaps after other attempts) says less, and does not.
        if (bound === "attempt") this.#outliers?.failure(endpoint, now);
        throw new TimeoutError(
          `${this.name} (${endpoint.address}): the ${bound} timeout of ${bound === "attempt" ? this.settings.timeout.attempt : this.settings.timeout.total} ms passed`,
          {
            cause: error,
            details: { upstream: this.name, endpoint: endpoint.address, bound, timeoutMs: timeoutMs },
          },
        );
      }
      const reason = transportReason(error);
      errorType = reason;
      if (reason === "connect-error" || reason === "reset") this.#outliers?.failure(endpoint, this.#rt.now());
      throw new UpstreamError(this.name, endpoint.address, reason, error);
    } finally {
      armed.cancel();
      endpoint.active--;
      endAttemptSpan(traced.span, statusCode, errorType);
      this.#rt.duration?.observe(
        this.#durationLabels(method, endpoint, statusCode, errorType),
        ((answeredAt ?? this.#rt.now()) - started) / 1000,
      );
    }
  }

  /**
   * The duration histogram's labels for an attempt's outcome, one `fixedLabels` object per outcome
   * seen (the histogram finds its series by that object): found by comparing fields, no key built.
   */
  #durationLabels(method: string, endpoint: Endpoint, statusCode: number | undefined, errorType: string): Labels {
    const sets = this.#labels.get(endpoint);
    if (sets !== undefined) {
      for (const set of sets) {
        if (set.statusCode === statusCode && set.errorType === errorType && set.method === method) return set.labels;
      }
    }
    const labels = fixedLabels({
      http_request_method: method,
      server_address: endpoint.address,
      http_response_status_code: statusCode ?? "",
      error_type: errorType,
    });
    if (this.#labelSets < MAX_LABEL_SETS) {
      const set = { method, statusCode, errorType, labels };
      if (sets === undefined) this.#labels.set(endpoint, [set]);
      else sets.push(set);
      this.#labelSets++;
    }
    return labels;
  }

  /** The total timeout goes on while the body is read; a body that fails says which upstream it came from. */
  #guard(response: Answer, endpoint: Endpoint, remainingMs: number, signal?: AbortSignal): void {
    const guard = new UpstreamBodyGuard(this.name, endpoint.address, this.settings.timeout, this.#rt, signal);
    if ("pipeTo" in response.body) response.body.guard(guard, this.#rt.wheel, remainingMs);
    else guardBody(response.body, guard, { wheel: this.#rt.wheel, timeoutMs: remainingMs });
  }

  /**
   * Hedging (idempotent requests): the first attempt goes out; if it has not answered after the
   * hedging delay, another goes to a different endpoint, up to `maxHedges`. The first usable
   * answer wins and the others are cancelled. An answer worth retrying (a 503, say) wins only
   * when nothing else is still in flight.
   */
  #hedged(out: Outgoing): Promise<Answer> {
    const hedging = this.settings.hedging as NonNullable<UpstreamSettings["hedging"]>;
    const delay = typeof hedging.after === "number" ? hedging.after : this.#latency.percentile(hedging.after);
    if (delay === undefined) return this.#attempt(out);
    return new Promise((resolve, reject) => {
      const controllers: CancelSignal[] = [];
      let inFlight = 0;
      let hedges = 0;
      let settled = false;
      let held: Answer | TandemError | undefined;
      let timer: { cancel(): void } | undefined;
      const settle = (outcome: Answer | TandemError, winner: CancelSignal) => {
        settled = true;
        timer?.cancel();
        let before = true;
        for (const c of controllers) {
          if (c === winner) before = false;
          else c.abort(before ? OVERTAKEN : OUTRUN);
        }
        if (held !== undefined && held !== outcome && !(held instanceof Error)) void held.body.dump().catch(() => {});
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const launch = () => {
        // Cancelled by this race only: a plain signal, not an AbortController per request.
        const controller = new CancelSignal();
        controllers.push(controller);
        inFlight++;
        const done = (outcome: Answer | TandemError) => {
          inFlight--;
          if (settled) {
            if (!(outcome instanceof Error)) void outcome.body.dump().catch(() => {});
            return;
          }
          const usable = !(outcome instanceof Error) && !this.#retryable(outcome);
          if (usable || inFlight === 0) {
            settle(outcome instanceof Error && held !== undefined ? held : outcome, controller);
            return;
          }
          if (held !== undefined && !(held instanceof Error)) void held.body.dump().catch(() => {});
          held = outcome;
          // That attempt is no longer in flight: one to an endpoint not tried yet takes its place
          // at once, rather than everything waiting for the slow one still out.
          if (this.#retryable(outcome) && this.#untried(out.tried)) {
            this.#rt.events.hedged?.();
            launch();
          }
        };
        this.#attempt(out, controller.asAbortSignal()).then(done, (error: unknown) =>
          done(TandemError.is(error) ? error : new UpstreamError(this.name, "?", "protocol", error)),
        );
      };
      const arm = () => {
        timer = this.#rt.wheel.arm(delay, () => {
          if (settled || hedges >= hedging.maxHedges || out.tried.length >= this.endpoints.length) return;
          hedges++;
          this.#rt.events.hedged?.();
          launch();
          arm();
        });
      };
      launch();
      arm();
    });
  }

  /** Waits for a bulkhead slot no longer than the total timeout, or until the caller aborts. */
  #queued(waiter: Waiter, signal: AbortSignal | undefined): Promise<void> {
    const total = this.settings.timeout.total;
    return waitForSlot(waiter, {
      wheel: this.#rt.wheel,
      timeoutMs: total,
      signal,
      timedOut: () =>
        new TimeoutError(`${this.name}: the total timeout of ${total} ms passed while queued in the bulkhead`, {
          details: { upstream: this.name, bound: "total", timeoutMs: total },
        }),
      aborted: () =>
        new AbortedError(`${this.name}: the request was aborted by the caller`, { details: { upstream: this.name } }),
    });
  }

  /** Whether an endpoint that is not ejected is left that this request has not tried. */
  #untried(tried: readonly Endpoint[]): boolean {
    const now = this.#rt.now();
    return this.endpoints.some((e) => !tried.includes(e) && !e.ejected(now));
  }

  /** The endpoint for an attempt: healthy ones first, untried ones first among them. */
  #pick(now: number, tried: readonly Endpoint[]): Endpoint {
    this.#outliers?.refresh(now);
    if (this.endpoints.length === 0) {
      this.breaker?.release();
      throw new TandemError("config_invalid", `upstream ${this.name} has no endpoints`, {
        details: { upstream: this.name },
      });
    }
    // The common case, a first attempt with every endpoint healthy: no filtered copies.
    if (tried.length === 0 && noneEjected(this.endpoints, now)) {
      return this.#balancer.pick(this.endpoints, now);
    }
    let healthy = this.endpoints.filter((e) => !e.ejected(now));
    if (healthy.length === 0) healthy = this.endpoints;
    const fresh = healthy.filter((e) => !tried.includes(e));
    return this.#balancer.pick(fresh.length > 0 ? fresh : healthy, now);
  }

  async close(): Promise<void> {
    await Promise.all(this.endpoints.map((e) => e.close()));
  }
}

function noneEjected(endpoints: readonly Endpoint[], now: number): boolean {
  for (const endpoint of endpoints) if (endpoint.ejected(now)) return false;
  return true;
}

/** Above this delay undici keeps a timeout on its coarse timers, which may fire ~0.5 s early. */
const UNDICI_COARSE_TIMER_MS = 1000;

/**
 * undici's headers and body timeouts for an attempt of `timeoutMs`. The attempt's deadline is the
 * wheel's; undici's back it up and bound the pauses of a body. Headers and body get the same value,
 * so undici refreshes the timer it set for the headers rather than making another for the body (on
 * its coarse timers, each lives on for up to a second). It still makes one per request on a
 * connection that went idle before it, whose keep-alive timer is of another kind. Above a second,
 * undici's coarse timers may fire up to half a second early: a second more keeps its headers
 * timeout behind the deadline.
 */
function undiciTimeoutMs(timeoutMs: number): number {
  const ms = Math.max(1, timeoutMs);
  return ms > UNDICI_COARSE_TIMER_MS ? ms + UNDICI_COARSE_TIMER_MS : ms;
}

function pathWithQuery(request: UpstreamRequest): string {
  const path = request.path.startsWith("/") ? request.path : `/${request.path}`;
  if (request.query === undefined) return path;
  const query = new URLSearchParams(
    Object.entries(request.query).map(([k, v]): [string, string] => [k, String(v)]),
  ).toString();
  return query === "" ? path : `${path}${path.includes("?") ? "&" : "?"}${query}`;
}

const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * Bytes and strings are sent as they are and can be sent again; other objects go as JSON; streams
 * once. The caller's headers are copied only when something is added to them.
 */
function encodeBody(request: UpstreamRequest): {
  body: Dispatcher.DispatchOptions["body"];
  headers: Record<string, string>;
  replayable: boolean;
} {
  let headers = request.headers ?? NO_HEADERS;
  if (request.idempotencyKey !== undefined) headers = { ...headers, "idempotency-key": request.idempotencyKey };
  const body = request.body;
  if (body === undefined || body === null) return { body: undefined, headers, replayable: true };
  if (typeof body === "string" || body instanceof Uint8Array) return { body, headers, replayable: true };
  if (body instanceof Readable || (typeof body === "object" && Symbol.asyncIterator in (body as object))) {
    return { body: body as Readable, headers, replayable: false };
  }
  if (headers["content-type"] === undefined) headers = { ...headers, "content-type": "application/json" };
  return { body: JSON.stringify(body), headers, replayable: true };
}

function transportReason(error: unknown): "connect-error" | "reset" | "protocol" {
  const code = (error as { code?: string }).code ?? "";
  if (
    ["ECONNREFUSED", "UND_ERR_CONNECT_TIMEOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"].includes(code)
  ) {
    return "connect-error";
  }
  if (["ECONNRESET", "UND_ERR_SOCKET", "EPIPE", "UND_ERR_CLOSED"].includes(code)) return "reset";
  return "protocol";
}

/** `Retry-After` in ms: seconds, or an HTTP date. */
function retryAfterMs(value: string | string[] | undefined): number {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return 0;
  const seconds = Number(text);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? 0 : Math.max(0, date - Date.now());
}

/**
 * The last 512 response times of an upstream, for hedging after a percentile. The sorted copy
 * is refreshed every 64 responses, not on every request. No percentile before 20 samples:
 * hedging on a guess would only add load.
 */
class LatencyWindow {
  readonly #samples = new Float64Array(512);
  #count = 0;
  #sorted: Float64Array | undefined;

  record(ms: number): void {
    this.#samples[this.#count % this.#samples.length] = ms;
    this.#count++;
    if (this.#count % 64 === 0) this.#sorted = undefined;
  }

  percentile(p: "p50" | "p90" | "p95" | "p99"): number | undefined {
    const n = Math.min(this.#count, this.#samples.length);
    if (n < 20) return undefined;
    this.#sorted ??= this.#samples.slice(0, n).sort();
    const q = Number(p.slice(1)) / 100;
    return this.#sorted[Math.min(n - 1, Math.floor(q * n))];
  }
}

/** How an upstream's response body fails: errors built only when it does, naming the upstream. */
class UpstreamBodyGuard implements BodyGuard {
  readonly #upstream: string;
  readonly #endpoint: string;
  readonly #timeout: UpstreamSettings["timeout"];
  readonly #rt: UpstreamRuntime;
  readonly #signal: AbortSignal | undefined;

  constructor(
    upstream: string,
    endpoint: string,
    timeout: UpstreamSettings["timeout"],
    rt: UpstreamRuntime,
    signal: AbortSignal | undefined,
  ) {
    this.#upstream = upstream;
    this.#endpoint = endpoint;
    this.#timeout = timeout;
    this.#rt = rt;
    this.#signal = signal;
  }

  timedOut(): TandemError {
    this.#rt.bodyFailed?.("timeout");
    return bodyErrors.totalTimeout(this.#where(), this.#upstream, this.#endpoint, this.#timeout.total);
  }

  failed(error: unknown): TandemError {
    if (this.#signal?.aborted) return bodyErrors.aborted(this.#upstream, this.#endpoint, error);
    if ((error as { code?: string }).code === "UND_ERR_BODY_TIMEOUT") {
      this.#rt.bodyFailed?.("timeout");
      return new TimeoutError(`${this.#where()}: the response body stalled longer than the attempt timeout`, {
        cause: error,
        details: { ...this.#details(), bound: "attempt", timeoutMs: this.#timeout.attempt },
      });
    }
    this.#rt.bodyFailed?.("reset");
    return bodyErrors.cutOff(this.#where(), this.#upstream, this.#endpoint, error);
  }

  #where(): string {
    return `${this.#upstream} (${this.#endpoint})`;
  }

  #details(): { upstream: string; endpoint: string } {
    return { upstream: this.#upstream, endpoint: this.#endpoint };
  }
}
