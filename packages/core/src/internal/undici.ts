import { createRequire, Module } from "node:module";
import type * as Undici from "undici";

/** The undici classes tandem uses. */
interface Dispatchers {
  Dispatcher: typeof Undici.Dispatcher;
  Pool: typeof Undici.Pool;
  Agent: typeof Undici.Agent;
}

const require = createRequire(import.meta.url);

/**
 * undici's dispatchers, loaded from their own modules. Importing "undici" loads all of it: fetch,
 * WebSocket, EventSource, the mock and snapshot agents, the cache stores and the interceptors,
 * 109 modules, which a tandem sidecar holds as ~7.5 MB of memory it never uses. The request API
 * (`request()`, `stream()`, ...) goes onto `Dispatcher.prototype` as undici's entry point puts it
 * there. Should a release of undici move these modules, this falls back to its entry point:
 * the same classes, only the memory is lost.
 */
function load(): Dispatchers {
  deferHttp2();
  try {
    const Dispatcher = require("undici/lib/dispatcher/dispatcher.js") as typeof Undici.Dispatcher;
    const api = require("undici/lib/api/index.js") as object;
    const Pool = require("undici/lib/dispatcher/pool.js") as typeof Undici.Pool;
    const Agent = require("undici/lib/dispatcher/agent.js") as typeof Undici.Agent;
    if (
      typeof Dispatcher === "function" &&
      typeof (api as { request?: unknown }).request === "function" &&
      Pool.prototype instanceof Dispatcher &&
      Agent.prototype instanceof Dispatcher
    ) {
      Object.assign(Dispatcher.prototype, api);
      return { Dispatcher, Pool, Agent };
    }
  } catch {
    // A layout this file does not know: the entry point below has the same classes.
  }
  try {
    return require("undici") as typeof Undici;
  } catch (error) {
    // An app bundled into one file without node_modules: undici is loaded at run time, not bundled.
    throw new Error(
      `tandem loads undici at run time and cannot find it from ${import.meta.url}: install undici next to the app, or keep it external when bundling`,
      { cause: error },
    );
  }
}

/**
 * undici's client requires its HTTP/2 module as it loads, and that module requires node:http2,
 * which brings node:tls and OpenSSL's TLS code with it: ~0.9 MB of resident memory in a process
 * that never negotiates h2, as no dispatcher of tandem's does (none sets `allowH2`). This puts a
 * stand-in for that module in require's cache before the client loads. The stand-in loads the real
 * module the first time a connection negotiates h2 and hands it the call, so a dispatcher of the
 * app's own with `allowH2` works as before. Nothing is deferred when undici's client is already
 * loaded, or when undici's layout is not the one this knows.
 */
function deferHttp2(): void {
  let file: string;
  try {
    file = require.resolve("undici/lib/dispatcher/client-h2.js");
  } catch {
    return;
  }
  if (require.cache[file] !== undefined) return;
  type ConnectH2 = (...args: unknown[]) => unknown;
  let connectH2: ConnectH2 | undefined;
  const standIn = new Module(file);
  standIn.filename = file;
  standIn.loaded = true;
  standIn.exports = function connectH2OnFirstUse(...args: unknown[]): unknown {
    if (connectH2 === undefined) {
      if (require.cache[file] === standIn) delete require.cache[file];
      connectH2 = require(file) as ConnectH2;
    }
    return connectH2(...args);
  };
  require.cache[file] = standIn;
}

export const { Dispatcher, Pool, Agent } = load();

export type Dispatcher = Undici.Dispatcher;
export type Pool = Undici.Pool;
export type Agent = Undici.Agent;

/** What undici's response body class takes: how to ask for more of the body, and how to stop it. */
export interface BodyReadableOptions {
  resume: () => void;
  abort: (reason?: Error) => void;
  contentType?: string | undefined;
  contentLength?: number | null | undefined;
  highWaterMark?: number | undefined;
}

/** undici's response body class, as `request()` makes one. */
export type BodyReadableClass = new (options: BodyReadableOptions) => Undici.Dispatcher.ResponseData["body"];

/**
 * The class of the bodies undici's `request()` answers with (its `text()`, `json()`, `bytes()`,
 * ...), for a request handler that makes its own; undefined should a release of undici move it,
 * and then `request()` stands in (the same bodies, made by undici's handler).
 */
export const BodyReadable: BodyReadableClass | undefined = loadBodyReadable();

function loadBodyReadable(): BodyReadableClass | undefined {
  try {
    const { Readable } = require("undici/lib/api/readable.js") as { Readable?: unknown };
    if (typeof Readable === "function" && typeof Readable.prototype.json === "function")
      return Readable as BodyReadableClass;
  } catch {
    // A layout this file does not know.
  }
  return undefined;
}
