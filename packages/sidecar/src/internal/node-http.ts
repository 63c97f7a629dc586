import { createRequire } from "node:module";

type NodeHttp = typeof import("node:http");

/**
 * `node:http`, loaded with `require`. An ES module import of `node:http`, even of one name, makes
 * Node evaluate every export of it, `WebSocket`, `CloseEvent` and `MessageEvent` among them, which
 * loads Node's own bundle of undici and the web streams behind it, for classes the sidecar never
 * uses: ~2.6 MB of an idle sidecar's resident memory (~9.6 MB in a process with nothing else).
 * `require` reads only the exports it is asked for.
 */
const http = createRequire(import.meta.url)("node:http") as NodeHttp;

export const createServer: NodeHttp["createServer"] = http.createServer;
export const STATUS_CODES: NodeHttp["STATUS_CODES"] = http.STATUS_CODES;
