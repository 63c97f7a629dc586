import { lookup, Resolver } from "node:dns/promises";
import { TandemError } from "@tandem/core";
import { Endpoint } from "./endpoint.js";

/** Without a TTL to follow (names from /etc/hosts), names are resolved again this often. */
const DEFAULT_REFRESH_MS = 30_000;
const MIN_TTL_MS = 1000;
const MAX_TTL_MS = 300_000;

/**
 * The endpoints of an upstream given as `dns: host:port`, resolved again when the records'
 * TTL runs out (or every 30 s for names the system resolver answers without one). A failed
 * resolution keeps the last good endpoints; only a name that never resolved fails requests.
 * Endpoints that stay are kept with their connections and statistics.
 */
export class DnsEndpoints {
  readonly #host: string;
  readonly #port: number;
  readonly #endpoints: Endpoint[];
  #next = 0;
  #pending: Promise<void> | undefined;
  #lastError: unknown;
  readonly #upstream: string;
  readonly #resolver: Resolver | undefined;
  readonly #failed: (() => void) | undefined;

  /**
   * `endpoints` is the upstream's own list, updated in place. `servers` (IP or IP:PORT) are the
   * DNS servers to ask instead of the system's, and only they: a local Consul agent, a test's
   * server. `failed` is told of each failed resolution.
   */
  constructor(
    target: string,
    endpoints: Endpoint[],
    options: { upstream: string; servers?: readonly string[] | undefined; failed?: (() => void) | undefined },
  ) {
    const colon = target.lastIndexOf(":");
    this.#host = target.slice(0, colon);
    this.#port = Number(target.slice(colon + 1));
    this.#endpoints = endpoints;
    this.#upstream = options.upstream;
    this.#failed = options.failed;
    if (options.servers !== undefined && options.servers.length > 0) {
      this.#resolver = new Resolver({ timeout: 1000, tries: 2 });
      this.#resolver.setServers([...options.servers]);
    }
  }

  /** Resolves when the list is current enough to use; refreshes in the background otherwise. */
  ready(now: number): Promise<void> | undefined {
    if (now < this.#next) return this.#endpoints.length === 0 ? Promise.reject(this.#unresolved()) : undefined;
    this.#pending ??= this.#refresh(now).finally(() => {
      this.#pending = undefined;
    });
    // With endpoints in hand, requests go on while the name is resolved again.
    if (this.#endpoints.length > 0) return undefined;
    return this.#pending.then(() => {
      if (this.#endpoints.length === 0) throw this.#unresolved();
    });
  }

  #unresolved(): TandemError {
    const reason = (this.#lastError as { code?: string })?.code ?? "no address";
    return new TandemError("upstream_error", `${this.#upstream}: ${this.#host} could not be resolved (${reason})`, {
      status: 502,
      cause: this.#lastError,
      details: { upstream: this.#upstream, host: this.#host, reason: "connect-error" },
    });
  }

  async #refresh(now: number): Promise<void> {
    let addresses: { address: string; family: number }[];
    let ttlMs = DEFAULT_REFRESH_MS;
    try {
      const resolver = this.#resolver ?? systemResolver;
      const [v4, v6] = await Promise.allSettled([
        resolver.resolve4(this.#host, { ttl: true }),
        resolver.resolve6(this.#host, { ttl: true }),
      ]);
      const records = [
        ...(v4.status === "fulfilled" ? v4.value.map((r) => ({ ...r, family: 4 })) : []),
        ...(v6.status === "fulfilled" ? v6.value.map((r) => ({ ...r, family: 6 })) : []),
      ];
      if (records.length > 0) {
        addresses = records;
        ttlMs = Math.min(...records.map((r) => r.ttl * 1000));
      } else if (this.#resolver === undefined) {
        addresses = await lookup(this.#host, { all: true });
      } else {
        // Only the configured servers are asked: their answer, an error, is the answer.
        throw v4.status === "rejected" ? v4.reason : Object.assign(new Error("no address"), { code: "ENODATA" });
      }
    } catch (error) {
      this.#lastError = error;
      this.#failed?.();
      // Try again soon, keeping what was known.
      this.#next = now + MIN_TTL_MS;
      return;
    }
    this.#next = now + Math.min(MAX_TTL_MS, Math.max(MIN_TTL_MS, ttlMs));
    const urls = new Set(
      addresses.map((a) =>
        a.family === 6 ? `http://[${a.address}]:${this.#port}` : `http://${a.address}:${this.#port}`,
      ),
    );
    for (let i = this.#endpoints.length - 1; i >= 0; i--) {
      const endpoint = this.#endpoints[i] as Endpoint;
      if (urls.has(endpoint.url)) {
        urls.delete(endpoint.url);
      } else {
        this.#endpoints.splice(i, 1);
        void endpoint.close().catch(() => {});
      }
    }
    for (const url of urls) this.#endpoints.push(new Endpoint(url));
  }
}

/** The system's DNS servers (resolv.conf), shared by every upstream that names none. */
const systemResolver = new Resolver();
