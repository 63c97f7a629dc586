import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { SidecarClient } from "../client/sidecar-client.js";
import type { TandemEnv } from "../env.js";
import type { FieldLines } from "../internal/field-lines.js";
import type { Logger } from "./logger.js";
import type { RouteDefinition } from "./routes.js";
import type { Facets } from "./runtime.js";
import type { StandardSchemaV1 } from "./standard-schema.js";

/** What a concern's implementations are built from, in either mode. */
export interface ConcernContext {
  /** tandem's own variables, validated; `env.configPath` is the config file in use. */
  env: TandemEnv;
  /** Every environment variable, for the sources that read by prefix (`TANDEM__...`, secrets). */
  variables: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  /** The facets of the concerns started before this one (the config facet first of all). */
  facets: Partial<Facets>;
  /** The application's schema for the `app` section of the config, if it gave one. */
  appSchema?: StandardSchemaV1 | undefined;
}

/** What a remote implementation gets in addition: the client of the sidecar. */
export interface RemoteConcernContext extends ConcernContext {
  client: SidecarClient;
}

/** A facet implementation plus how to release what it holds. */
export interface ConcernInstance<F extends Partial<Facets>> {
  facets: F;
  /**
   * Called once every concern has started, before the runtime is handed out or the sidecar
   * listens: for work that needs the facets of concerns started after this one (the config).
   */
  started?(): Promise<void>;
  /** Drains and flushes; called once when the runtime or the sidecar closes. */
  close?(): Promise<void>;
  /**
   * Metric families this instance exposes on the sidecar's admin `/metrics`, as Prometheus text
   * or OpenMetrics, without the final `# EOF`.
   */
  metricsText?(openMetrics: boolean): string;
  /**
   * Serves a forward-proxy request (absolute-form, `GET http://payments/charge`) whose token was
   * checked. Throws a `TandemError` (403) for a target it does not serve.
   */
  forwardProxy?(request: ProxyRequest): Promise<void>;
}

/** The `http:` target of an absolute-form request line, as the WHATWG URL parser reads it. */
export interface ProxyTarget {
  /** Host and port, as `URL.host`: `payments`, `payments:8080` (a default port is left out). */
  readonly host: string;
  /** The host alone, lower-case, as `URL.hostname`. */
  readonly hostname: string;
  /** The port, `""` for the default one, as `URL.port`. */
  readonly port: string;
  /** Whether the target carries a user name or password (`http://user@payments/`). */
  readonly credentials: boolean;
  /** Path and query, as `URL.pathname + URL.search`: `/orders?x=1`. */
  readonly path: string;
}

/**
 * What the forward proxy reads of a request: its method, its headers as Node names them (lower
 * case, one value per name but `set-cookie`) and its body as chunks. Node's `IncomingMessage` is
 * one; so is the request the sidecar's own proxy front reads.
 */
export interface ProxyIncoming extends AsyncIterable<Buffer> {
  readonly method?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  /**
   * The header lines as they came, each name once and every value one a writer takes, where the
   * reader has them (the sidecar's proxy front does): the forward proxy passes them on as they
   * are rather than copying `headers` into another object and writing that out again.
   */
  readonly lines?: FieldLines | undefined;
}

/**
 * Where the forward proxy writes its answer. Node's `ServerResponse` is one; so is the answer the
 * sidecar's proxy front writes. `close` comes once, when the answer ended (`writableFinished`) or
 * the client went away before (not finished); `error` may come before it.
 */
export interface ProxyOutgoing {
  readonly writableFinished: boolean;
  writeHead(statusCode: number, headers: OutgoingHttpHeaders): unknown;
  /**
   * Writes the head with header lines passed through as they came, where the writer can (the
   * sidecar's proxy front can; Node's `ServerResponse` cannot, and `writeHead` is used).
   */
  writeHeadLines?(statusCode: number, lines: HeadLines): unknown;
  write(chunk: Buffer): boolean;
  end(): unknown;
  destroy(error?: Error): unknown;
  on(event: "close", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  once(event: "drain", listener: () => void): unknown;
}

/** Header lines an answer is written with as they are, checked already as a writer checks them. */
export interface HeadLines {
  /** The lines, each `name: value` ending with CRLF; none hop-by-hop. */
  readonly text: string;
  /** Whether the lines give a Content-Length: the body is framed by it. */
  readonly contentLength: boolean;
  /** Whether the lines give a Date: the writer adds none of its own. */
  readonly date: boolean;
}

/** A forward-proxy request as the sidecar hands it to a concern. */
export interface ProxyRequest {
  req: ProxyIncoming;
  res: ProxyOutgoing;
  /** The absolute target of the request line. */
  target: ProxyTarget;
  /** Fires when the client goes away or the sidecar stops waiting. */
  signal: AbortSignal;
  /** The body limit: a larger body (declared or streamed) is refused with 413. */
  maxBodyBytes: number;
}

/**
 * One concern (resilience, observability, configuration) as its package exports it: a local
 * implementation, a remote one that talks to the sidecar, and the sidecar routes that serve the
 * local one over the wire. The runtime and the sidecar compose a list of these, so adding a
 * concern never edits either of them.
 */
export interface Concern<
  F extends Partial<Facets> = Partial<Facets>,
  L extends ConcernInstance<F> = ConcernInstance<F>,
> {
  readonly name: string;
  /** The in-process implementation: library mode, the fallback, and the sidecar's own engine. */
  local(context: ConcernContext): Promise<L>;
  /** The sidecar-mode implementation, talking to the sidecar through `context.client`. */
  remote(context: RemoteConcernContext): Promise<ConcernInstance<F>>;
  /** The routes the sidecar serves for this concern, wrapping a local instance. */
  routes?(instance: L, context: ConcernContext): readonly RouteDefinition[];
}
