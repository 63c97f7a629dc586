import type { ProxyTarget } from "@tandem/core";

// A host of lower-case DNS labels, as a client writes an upstream's name, that the WHATWG URL
// parser takes as it is: no punycode label (which it checks), and a last label that does not
// start with a digit (which it may read as an IPv4 address in one of its spellings).
const PLAIN_HOST = /^[a-z0-9-]+(?:\.[a-z0-9-]+)*$/;
const CHECKED_HOST = /(?:^|\.)xn--|(?:^|\.)\d[^.]*$/;
// Path and query characters the URL parser keeps as they are in an http: URL, less the dot
// segments it removes (also percent-encoded).
const PLAIN_PATH = /^[A-Za-z0-9\-._~!$&()*+,;=:@/?%]*$/;
const DOT_SEGMENT = /\/\.|%2e/i;

/** The host the last plain target named: a proxy's requests name a few upstreams, over and over. */
let lastPlainHost: string | undefined;
/** The path and query the last plain target gave as written, and as `plainPath` made it. */
let lastPlainRest: string | undefined;
let lastPlainPath = "/";

/**
 * The target of an absolute-form request line (`http://payments/charge?id=1`): an `http:` URL
 * as the WHATWG URL parser reads it, or undefined when it is no such URL. The request line of
 * almost every proxied request is plain (a lower-case name, no port or credentials, a path
 * with nothing to normalize), and is taken apart by slicing it; anything else goes through
 * `new URL`, whose object and strings cost ~1 KB per request.
 */
export function parseProxyTarget(url: string): ProxyTarget | undefined {
  return plainProxyTarget(url) ?? parseWithUrl(url);
}

/**
 * The target when it is plain (see `parseProxyTarget`), else undefined. Every character of a plain
 * target is one Node's parser takes in a request line, so the proxy front serves only these.
 */
export function plainProxyTarget(url: string): ProxyTarget | undefined {
  if (url.startsWith("http://")) {
    let end = url.length;
    for (let i = 7; i < url.length; i++) {
      const c = url.charCodeAt(i);
      if (c === 0x2f || c === 0x3f) {
        end = i;
        break;
      }
    }
    const host = url.slice(7, end);
    const rest = url.slice(end);
    const plainHost = host === lastPlainHost || (PLAIN_HOST.test(host) && !CHECKED_HOST.test(host));
    if (!plainHost) return undefined;
    lastPlainHost = host;
    if (rest !== lastPlainRest) {
      if (!PLAIN_PATH.test(rest) || DOT_SEGMENT.test(rest)) return undefined;
      lastPlainRest = rest;
      lastPlainPath = plainPath(rest);
    }
    return { host, hostname: host, port: "", credentials: false, path: lastPlainPath };
  }
  return undefined;
}

/** What `new URL` makes of `url`: the slow way, for any target, and the measure of the fast one. */
export function parseWithUrl(url: string): ProxyTarget | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== "http:") return undefined;
  const { host, hostname, port, username, password, pathname, search } = parsed;
  return { host, hostname, port, credentials: username !== "" || password !== "", path: `${pathname}${search}` };
}

/** `rest` as `pathname + search` would give it: `/` for no path, no `?` for an empty query. */
function plainPath(rest: string): string {
  const path = rest === "" || rest.charCodeAt(0) === 0x3f ? `/${rest}` : rest;
  const query = path.indexOf("?");
  return query === path.length - 1 ? path.slice(0, query) : path;
}
