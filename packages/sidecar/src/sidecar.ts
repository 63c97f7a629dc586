import { chmod, lstat, unlink } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, connect } from "node:net";
import type { Duplex } from "node:stream";
import {
  CancelSignal,
  type Concern,
  type ConcernContext,
  type ConcernInstance,
  ConfigError,
  EventLog,
  type Facets,
  isLoopbackHost,
  type Listener,
  type Logger,
  type ProxyIncoming,
  type ProxyOutgoing,
  type ProxyRequest,
  type ProxyTarget,
  payloadTooLarge,
  type RouteDefinition,
  readBody,
  resolveEnv,
  type TandemEnv,
  TandemError,
} from "@tandem/core";
import { pino } from "pino";
import { builtinRoutes, type SidecarControl } from "./builtin-routes.js";
import { hostAllowed, TokenCheck } from "./internal/auth.js";
import type { FrontResponse } from "./internal/front/front-response.js";
import { type FrontRequest, ProxyFront } from "./internal/front/proxy-front.js";
import type { RequestHead } from "./internal/front/request-head.js";
import { type Inflight, InflightList } from "./internal/inflight.js";
import {
  type Answer,
  answerClientError,
  discardBody,
  parseJsonBody,
  refuseTunnel,
  sendJson,
  sendProblem,
  validate,
} from "./internal/io.js";
import { parseProxyTarget, plainProxyTarget } from "./internal/proxy-target.js";
import { Router } from "./internal/router.js";
import { formatListenAddress, type ListenAddress } from "./listen-address.js";
import { buildOpenApi, type OpenApiDocument } from "./openapi.js";
import { ProcessMetrics } from "./process-metrics.js";

/** Options of `Sidecar.start`. Every field has a safe default. */
export interface SidecarOptions {
  /** API listener. Default 127.0.0.1:4600. */
  api?: ListenAddress;
  /** Admin listener (probes, metrics, shutdown). Default 127.0.0.1:4601. */
  admin?: ListenAddress;
  /** Required on every `/v1` call when set. Needed to bind beyond loopback. */
  token?: string | undefined;
  /** Allow listeners on addresses other than loopback (a token is then required). */
  allowNonLoopback?: boolean;
  /** The config file the concerns load before the sidecar turns ready. None: defaults. */
  configPath?: string | undefined;
  /** The environment the concerns read (`TANDEM__...` overrides, secrets by prefix). Default none. */
  variables?: Readonly<Record<string, string | undefined>>;
  /** The concerns this sidecar serves. */
  concerns?: readonly Concern[];
  /** How long in-flight requests may take to finish on shutdown. Default 10 000 ms. */
  drainTimeoutMs?: number;
  /** Largest request body accepted on either listener. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Time a client has to send its request headers. Default 10 000 ms. */
  headersTimeoutMs?: number;
  /** Time a client has to send its whole request, body included. Default 60 000 ms. */
  requestTimeoutMs?: number;
  /** Simultaneous connections per listener; more are closed at once. Default 1024. */
  maxConnections?: number;
  logger?: Logger;
  env?: TandemEnv;
  version?: string;
}

type State = SidecarControl["state"];

const DEFAULT_MAX_BODY = 1024 * 1024;
const DEFAULT_HEADERS_TIMEOUT = 10_000;
const DEFAULT_REQUEST_TIMEOUT = 60_000;
const DEFAULT_MAX_CONNECTIONS = 1024;
const KEEP_ALIVE_TIMEOUT = 60_000;
/** Bodies the proxy front reads whole before the request goes on; larger ones stream through Node's server. */
const FRONT_MAX_BODY = 1024 * 1024;

/**
 * The sidecar: two HTTP listeners serving the built-in routes and those of each concern, with
 * the token, host and body-size checks in front of every handler, and an orderly drain.
 */
export class Sidecar implements SidecarControl {
  readonly version: string;
  readonly lifecycle = new EventLog(16);
  readonly log: Logger;
  /** Settles when the sidecar has stopped, whoever stopped it. */
  readonly stopped: Promise<void>;
  #state: State = "starting";
  #api: ListenAddress;
  #admin: ListenAddress;
  readonly #options: SidecarOptions;
  /** The largest request body read, `maxBodyBytes` or the default. */
  readonly #maxBody: number;
  readonly #routers: Record<Listener, Router> = { api: new Router(), admin: new Router() };
  readonly #metrics: ProcessMetrics;
  readonly #token: TokenCheck | undefined;
  readonly #extraHosts = new Set<string>();
  readonly #instances: { concern: Concern; instance: ConcernInstance<Partial<Facets>> }[] = [];
  readonly #servers: { listener: Listener; server: Server }[] = [];
  #front: ProxyFront | undefined;
  /** The forward proxy of the concern that serves one, if one does. */
  #forwardProxy: ((request: ProxyRequest) => Promise<void>) | undefined;
  readonly #streams = new Set<Answer>();
  readonly #inflight = new InflightList();
  #idle: (() => void) | undefined;
  #stopping: Promise<void> | undefined;
  #resolveStopped!: () => void;
  #openapi: OpenApiDocument | undefined;

  private constructor(options: SidecarOptions) {
    this.#options = options;
    this.#maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
    this.version = options.version ?? "0.0.0";
    this.log = options.logger ?? pino({ base: { component: "tandem-sidecar" } });
    this.#api = options.api ?? { kind: "tcp", host: "127.0.0.1", port: 4600 };
    this.#admin = options.admin ?? { kind: "tcp", host: "127.0.0.1", port: 4601 };
    this.#token = options.token === undefined || options.token === "" ? undefined : new TokenCheck(options.token);
    this.#metrics = new ProcessMetrics(this.version);
    this.stopped = new Promise((resolve) => {
      this.#resolveStopped = resolve;
    });
    for (const address of [this.#api, this.#admin]) {
      if (address.kind === "tcp") this.#extraHosts.add(address.host.toLowerCase());
    }
  }

  /**
   * Loads the config, builds each concern, opens both listeners and turns ready. Any failure
   * closes what was opened and rejects with an error that says what failed.
   */
  static async start(options: SidecarOptions = {}): Promise<Sidecar> {
    const sidecar = new Sidecar(options);
    try {
      await sidecar.#start();
    } catch (error) {
      await sidecar.stop("start failed").catch(() => {});
      throw error;
    }
    return sidecar;
  }

  get state(): State {
    return this.#state;
  }

  /** The API listener's address, with the port the system picked when 0 was asked. */
  get api(): ListenAddress {
    return this.#api;
  }

  /** The admin listener's address. */
  get admin(): ListenAddress {
    return this.#admin;
  }

  openapi(): OpenApiDocument {
    this.#openapi ??= buildOpenApi([...this.#routers.api.routes, ...this.#routers.admin.routes], this.version);
    return this.#openapi;
  }

  /** The admin scrape: the sidecar's process metrics, then what each concern exposes. */
  async metrics(accept: string | undefined): Promise<{ contentType: string; body: string }> {
    const own = await this.#metrics.expose(accept);
    const openMetrics = own.contentType.startsWith("application/openmetrics-text");
    let body = openMetrics ? own.body.replace(/# EOF\n?$/, "") : own.body;
    for (const { instance } of this.#instances) body += instance.metricsText?.(openMetrics) ?? "";
    return { contentType: own.contentType, body: openMetrics ? `${body}# EOF\n` : body };
  }

  /**
   * Drains and stops: readiness turns 503 at once, event streams end, in-flight requests get up
   * to `drainTimeoutMs` to finish, each concern flushes, then the listeners close. Calling it
   * again returns the same promise.
   */
  stop(reason: string): Promise<void> {
    this.#stopping ??= this.#drain(reason).finally(() => this.#resolveStopped());
    return this.#stopping;
  }

  async #start(): Promise<void> {
    const o = this.#options;
    const nonLoopback = [this.#api, this.#admin].filter((a) => a.kind === "tcp" && !isLoopbackHost(a.host));
    if (nonLoopback.length > 0 && !(o.allowNonLoopback && this.#token !== undefined)) {
      throw new ConfigError(
        `listening on ${nonLoopback.map(formatListenAddress).join(", ")} (not loopback) needs --allow-non-loopback and a token`,
        { details: { addresses: nonLoopback.map(formatListenAddress) } },
      );
    }
    this.log.info({ event: "starting", version: this.version, config: o.configPath ?? null }, "sidecar starting");
    const variables = o.variables ?? {};
    const env = { ...(o.env ?? resolveEnv(variables)), configPath: o.configPath };
    const context: ConcernContext = { env, variables, logger: this.log, facets: {} };
    for (const concern of o.concerns ?? []) {
      const instance = await concern.local(context);
      this.#instances.push({ concern, instance });
      Object.assign(context.facets, instance.facets);
      if (concern.routes !== undefined) this.#addRoutes(concern.routes(instance, context));
    }
    for (const { instance } of this.#instances) await instance.started?.();
    const proxying = this.#instances.find(({ instance }) => instance.forwardProxy !== undefined)?.instance;
    this.#forwardProxy = proxying?.forwardProxy?.bind(proxying);
    this.#addRoutes(builtinRoutes(this));
    this.#api = await this.#listen("api", this.#api);
    this.#admin = await this.#listen("admin", this.#admin);
    this.#state = "ready";
    this.#metrics.setReady(true);
    this.lifecycle.publish("ready", { version: this.version });
    this.log.info(
      { event: "ready", api: formatListenAddress(this.#api), admin: formatListenAddress(this.#admin) },
      "sidecar ready",
    );
  }

  #addRoutes(routes: readonly RouteDefinition[]): void {
    for (const route of routes) this.#routers[route.listener ?? "api"].add([route]);
  }

  async #listen(listener: Listener, address: ListenAddress): Promise<ListenAddress> {
    const headersTimeout = this.#options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT;
    const requestTimeout = Math.max(headersTimeout, this.#options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT);
    const checkInterval = Math.max(10, Math.min(1000, Math.floor(headersTimeout / 4)));
    const server = createServer(
      {
        headersTimeout,
        requestTimeout,
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT,
        // Node checks the two timeouts every 30 s by default, so a slow client could hold its
        // connection for 30 s past them: check every second (or sooner for short timeouts).
        connectionsCheckingInterval: checkInterval,
        // A missing Host is answered by the sidecar's own checks, as a problem document.
        requireHostHeader: false,
      },
      (req, res) => this.#handle(listener, req, res),
    );
    server.maxConnections = this.#options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    if (listener === "api" && this.#forwardProxy !== undefined) {
      this.#front = ProxyFront.install(
        server,
        { accept: (head) => this.#accept(head), serve: (request, response) => this.#serveFront(request, response) },
        { headersTimeout, requestTimeout, keepAliveTimeout: KEEP_ALIVE_TIMEOUT, checkInterval },
      );
    }
    // Requests Node cannot parse, headers too large, timeouts: answered as problem documents.
    server.on("clientError", (error: Error & { code?: string }, socket: Duplex) => {
      answerClientError(socket, error, { headersTimeout, requestTimeout });
    });
    // CONNECT tunnels would make the sidecar an open proxy: refused on every listener.
    server.on("connect", (req: IncomingMessage, socket: Duplex) => {
      refuseTunnel(socket, req.url ?? "");
    });
    this.#servers.push({ listener, server });
    if (address.kind === "unix") {
      // The socket is created 0600 from the start (umask), so no other user can connect even
      // for the instant before chmod.
      await removeStaleSocket(address.path);
      const previous = process.umask(0o177);
      try {
        await listenOn(server, address.path);
      } finally {
        process.umask(previous);
      }
      await chmod(address.path, 0o600);
      return address;
    }
    await listenOn(server, address.port, address.host);
    const bound = server.address() as AddressInfo;
    return { kind: "tcp", host: address.host, port: bound.port };
  }

  #handle(listener: Listener, req: IncomingMessage, res: ServerResponse): void {
    const entry = this.#track(res, listener);
    let done: Promise<void>;
    try {
      done = this.#dispatch(listener, req, res, entry);
    } catch (error) {
      done = Promise.reject(error);
    }
    done.catch((error: unknown) => {
      // A body over the limit is not read to its end: the connection closes after the answer.
      // Any other body the answer did not need is read and dropped, as nginx's lingering close
      // does, so a client still sending it gets the answer rather than a reset.
      const tooLarge = TandemError.is(error) && error.status === 413;
      if (!tooLarge && !req.complete) discardBody(req, this.#maxBody);
      this.#failed(error, req.url, res, tooLarge);
    });
  }

  /**
   * A forward-proxy request the front read and checked (`#accept`): proxied as `#proxy` does, its
   * failures answered as `#handle` answers them.
   */
  #serveFront(request: FrontRequest, res: FrontResponse): void {
    const entry = this.#track(res, "api");
    const forward = this.#forwardProxy as (request: ProxyRequest) => Promise<void>;
    let done: Promise<void>;
    try {
      done = this.#forward(forward, entry, request, res, request.target);
    } catch (error) {
      done = Promise.reject(error);
    }
    done.catch((error: unknown) => this.#failed(error, request.url, res, false));
  }

  /**
   * Whether the proxy front may serve a request itself: a forward-proxy request on which every
   * check of `#dispatch` and `#proxy` passes, its body read whole. Anything else (a refusal
   * included) goes to Node's server and `#handle`, which answer it as they always did.
   */
  #accept(head: RequestHead): ProxyTarget | undefined {
    // The head has each name once, so a Host is the one Host; Origin and Sec-Fetch-Site are
    // refused by `#dispatch`, a wrong token by `#proxy`.
    if (!head.hasHost || head.browser) return undefined;
    if (this.#token !== undefined && !this.#token.matches(head.authorization)) return undefined;
    if (head.bodyBytes > Math.min(this.#maxBody, FRONT_MAX_BODY)) return undefined;
    // A target that is not plain (a port, credentials, characters `new URL` has to read) may be
    // one Node's parser refuses: Node reads it.
    return plainProxyTarget(head.url);
  }

  /**
   * Answers a request that failed. Errors the sidecar decided on (an open breaker, a timeout, an
   * upstream down) are answers, counted in the metrics; only the unexpected ones are logged, so
   * an outage cannot flood the log.
   */
  #failed(error: unknown, url: string | undefined, res: Answer, tooLarge: boolean): void {
    if (!TandemError.is(error) || error.code === "internal") {
      this.log.error({ event: "handler_error", err: error, path: pathOf(url) }, "request failed");
    }
    sendProblem(res, error, pathOf(url), tooLarge ? { connection: "close" } : undefined);
  }

  /** Lists an answer in progress (counted), until it closes; while draining, its connection closes after it. */
  #track(res: Answer, listener: Listener): Inflight {
    const entry = this.#inflight.add(res);
    this.#metrics.setInflight(this.#inflight.size);
    if (listener === "api") this.#metrics.noteRequest();
    // One listener per answer, not one per part that cares: `once` and a second listener each
    // allocate, on every request.
    res.on("close", () => this.#closed(entry));
    if (this.#state === "draining") res.setHeader("connection", "close");
    return entry;
  }

  /** `res` closed: a proxied request whose client went away before the end is given up. */
  #closed(entry: Inflight): void {
    if (entry.gone !== undefined && !entry.res.writableFinished) {
      entry.gone.abort(new TandemError("aborted", "the client went away"));
    }
    this.#settled(entry);
  }

  /** Takes an answer out of the in-flight list: it finished, or it became a long-lived stream. */
  #settled(entry: Inflight): void {
    if (this.#streams.size > 0) this.#streams.delete(entry.res);
    if (!this.#inflight.remove(entry)) return;
    this.#metrics.setInflight(this.#inflight.size);
    if (this.#inflight.size === 0) this.#idle?.();
  }

  /**
   * Checks what every request must pass, then proxies or routes it; throws what it refuses. Not
   * async, so that a proxied request goes through no async function of the sidecar's own: each
   * costs a promise, a suspended frame and the closures of its awaits, on every request.
   */
  #dispatch(listener: Listener, req: IncomingMessage, res: ServerResponse, entry: Inflight): Promise<void> {
    const url = req.url ?? "/";
    // RFC 9112 3.2: an HTTP/1.1 request has exactly one Host; two could name two different hosts
    // to the checks below and to whatever reads the request after them.
    const hosts = countHosts(req.rawHeaders);
    if (hosts > 1 || (hosts === 0 && req.httpVersion === "1.1")) {
      throw new TandemError("bad_request", `an HTTP/1.1 request needs exactly one Host header, got ${hosts}`);
    }
    // Browsers mark cross-site requests with Origin (or Sec-Fetch-Site); no tandem client sends
    // them. Refusing them keeps a web page from driving the sidecar, token or not (CSRF).
    const fetchSite = req.headers["sec-fetch-site"];
    if (req.headers.origin !== undefined || (fetchSite !== undefined && fetchSite !== "none")) {
      throw new TandemError("forbidden", "requests from web pages are refused (Origin or Sec-Fetch-Site present)");
    }
    if (!url.startsWith("/")) return this.#proxy(listener, url, req, res, entry);
    return this.#route(listener, url, req, res, entry);
  }

  async #route(
    listener: Listener,
    url: string,
    req: IncomingMessage,
    res: ServerResponse,
    entry: Inflight,
  ): Promise<void> {
    // Beyond loopback a token is mandatory and is the guard; on loopback the Host check stops
    // DNS rebinding, where a web page reaches the sidecar through a name it controls.
    const tokenGuards = this.#options.allowNonLoopback === true && this.#token !== undefined;
    if (!tokenGuards && !hostAllowed(req.headers.host, this.#extraHosts)) {
      throw new TandemError("forbidden", `Host "${req.headers.host ?? ""}" is not a loopback name`, {
        details: { host: req.headers.host ?? null },
      });
    }
    const path = pathOf(url);
    // The token is checked before routing, so that without it nothing is learnt, not even
    // which paths exist.
    if (
      (path.startsWith("/v1/") || path === "/v1") &&
      this.#token !== undefined &&
      !this.#token.matches(req.headers.authorization)
    ) {
      res.setHeader("www-authenticate", 'Bearer realm="tandem"');
      throw new TandemError(
        "unauthorized",
        req.headers.authorization === undefined ? "a bearer token is required" : "the bearer token is wrong",
      );
    }

    const match = this.#routers[listener].match(req.method ?? "GET", path);
    if (match.kind === "not_found") {
      throw new TandemError("not_found", `no route ${req.method} ${path} on the ${listener} listener`);
    }
    if (match.kind === "method_not_allowed") {
      res.setHeader("allow", match.allowed.join(", "));
      throw new TandemError(
        "method_not_allowed",
        `${req.method} is not allowed on ${path}; allowed: ${match.allowed.join(", ")}`,
        {
          details: { allowed: match.allowed },
        },
      );
    }
    const route = match.route;
    const limit = this.#maxBody;
    const body = await this.#body(route, req, limit);
    const controller = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) controller.abort(new TandemError("aborted", "the client went away"));
    });
    const result = await route.handler({
      params: match.params,
      query: new URLSearchParams(url.slice(path.length + 1)),
      body,
      bodyLimit: limit,
      signal: controller.signal,
      log: this.log,
      req,
      res,
    });
    if (result === undefined) {
      if (!res.writableEnded && String(res.getHeader("content-type") ?? "").startsWith("text/event-stream")) {
        // A long-lived stream is not in-flight work: draining ends it instead of waiting for it.
        this.#settled(entry);
        this.#streams.add(res);
      }
      return;
    }
    sendJson(res, result.status ?? 200, result.body, result.headers);
  }

  /**
   * A forward-proxy request (absolute-form target): the token comes in `Proxy-Authorization`
   * only (an `Authorization` header is the upstream's), and a concern that serves proxying
   * decides whether the target is one of its upstreams. Anything else is refused (thrown): the
   * sidecar is never an open proxy.
   */
  #proxy(listener: Listener, url: string, req: IncomingMessage, res: ServerResponse, entry: Inflight): Promise<void> {
    const target = listener === "api" ? parseProxyTarget(url) : undefined;
    if (target === undefined) {
      throw refuseProxy(url, "only http:// targets on the API listener are proxied");
    }
    if (this.#token !== undefined) {
      // Only Proxy-Authorization: an Authorization header belongs to the upstream and passes on.
      const given = req.headers["proxy-authorization"];
      if (!this.#token.matches(given)) {
        res.setHeader("proxy-authenticate", 'Bearer realm="tandem"');
        throw new TandemError(
          "proxy_auth_required",
          given === undefined ? "a bearer token is required in Proxy-Authorization" : "the bearer token is wrong",
          { status: 407 },
        );
      }
    }
    const limit = this.#maxBody;
    if (Number(req.headers["content-length"] ?? 0) > limit) throw payloadTooLarge(limit);
    const forward = this.#forwardProxy;
    if (forward === undefined) throw refuseProxy(url, "it is not a configured upstream");
    return this.#forward(forward, entry, req, res, target);
  }

  /** Hands a checked forward-proxy request to the proxy, given up when its client goes away. */
  #forward(
    forward: (request: ProxyRequest) => Promise<void>,
    entry: Inflight,
    req: ProxyIncoming,
    res: ProxyOutgoing,
    target: ProxyTarget,
  ): Promise<void> {
    const gone = new CancelSignal();
    entry.gone = gone;
    return forward({ req, res, target, signal: gone.asAbortSignal(), maxBodyBytes: this.#maxBody });
  }

  async #body(route: RouteDefinition, req: IncomingMessage, limit: number): Promise<unknown> {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > limit) throw payloadTooLarge(limit);
    if (route.rawBody === true) return undefined;
    if (route.body === undefined) {
      if (declared > 0 || req.headers["transfer-encoding"] !== undefined) await readBody(req, limit);
      return undefined;
    }
    const type = req.headers["content-type"] ?? "";
    if (!/^application\/([a-z.+-]*\+)?json\b/i.test(type)) {
      throw new TandemError("unsupported_media_type", `expected an application/json body, got "${type || "none"}"`);
    }
    const bytes = await readBody(req, limit);
    return validate(route.body, parseJsonBody(bytes));
  }

  async #drain(reason: string): Promise<void> {
    if (this.#state === "stopped") return;
    const wasReady = this.#state === "ready";
    this.#state = "draining";
    this.#metrics.setReady(false);
    const started = Date.now();
    if (wasReady) {
      this.log.info({ event: "draining", reason, inflight: this.#inflight.size }, "sidecar draining");
      this.lifecycle.publish("draining", { reason });
    }
    // Clients learn from the answers in progress that this connection will not be reused.
    for (const { res } of this.#inflight) if (!res.headersSent) res.setHeader("connection", "close");
    this.lifecycle.close();
    for (const stream of this.#streams) stream.end();
    const api = this.#servers.filter((s) => s.listener === "api");
    for (const { server } of api) {
      server.close();
      server.closeIdleConnections();
    }
    this.#front?.closeIdle();
    const deadline = this.#options.drainTimeoutMs ?? 10_000;
    const drained = await this.#waitIdle(deadline);
    for (const { concern, instance } of [...this.#instances].reverse()) {
      try {
        await instance.close?.();
      } catch (error) {
        this.log.error({ event: "concern_close_failed", concern: concern.name, err: error }, "concern failed to close");
      }
    }
    await Promise.all(
      this.#servers.map(
        ({ listener, server }) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
            if (listener === "api") this.#front?.closeAll();
          }),
      ),
    );
    this.#state = "stopped";
    if (wasReady) {
      this.log.info(
        { event: "stopped", reason, drained, abandoned: this.#inflight.size, ms: Date.now() - started },
        "sidecar stopped",
      );
    }
  }

  #waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.#inflight.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#idle = undefined;
        resolve(false);
      }, timeoutMs);
      this.#idle = () => {
        clearTimeout(timer);
        this.#idle = undefined;
        resolve(true);
      };
    });
  }
}

function listenOn(server: Server, portOrPath: number | string, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      const where = host === undefined ? String(portOrPath) : `${host}:${portOrPath}`;
      reject(
        new ConfigError(`cannot listen on ${where}: ${(error as { code?: string }).code ?? error.message}`, {
          cause: error,
        }),
      );
    };
    server.once("error", onError);
    const done = () => {
      server.off("error", onError);
      resolve();
    };
    if (typeof portOrPath === "string") server.listen(portOrPath, done);
    else server.listen(portOrPath, host, done);
  });
}

/**
 * Removes a socket file that nothing listens on any more (left by a crash), so a restart can
 * bind. A socket that still answers is left alone: listening then fails with EADDRINUSE.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch {
    return;
  }
  if (!isSocket) return;
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (!alive) await unlink(path);
}

function pathOf(url: string | undefined): string {
  const u = url ?? "/";
  const q = u.indexOf("?");
  return q === -1 ? u : u.slice(0, q);
}

/** The forward proxy's refusal of a target, built only when a request is refused. */
function refuseProxy(url: string, why: string): TandemError {
  return new TandemError("forbidden", `the forward proxy does not reach ${url.slice(0, 200)}: ${why}`, {
    details: { target: url.slice(0, 200) },
  });
}

/** How many Host headers a request has (raw headers alternate names and values). */
function countHosts(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === "host") n++;
  }
  return n;
}
