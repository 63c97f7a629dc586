// The orders service: a small HTTP API on tandem. The same code runs in both modes:
//
//   TANDEM_MODE=library TANDEM_CONFIG=tandem.yaml node server.mjs      (everything in-process)
//   tandem run --config tandem.yaml -- node server.mjs                 (next to a sidecar)
//
// POST /orders      {"customerId":"c1","items":[{"sku":"a","qty":1}],"amount":12.5}
//                   reserves stock at `inventory`, charges at `payments` (with an idempotency key,
//                   so the POST may be retried), stores the order, answers 201 with it
// GET  /orders/:id  the stored order, or 404
// GET  /healthz     200 with the runtime's status (mode, degraded)
// GET  /metrics     Prometheus text (the pod's merged metrics in sidecar mode)
//
// PORT (default 3000, 0 for a random one) and HOST (default 127.0.0.1) choose the listener; the
// first line on stdout is {"event":"listening","url":...}.
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { CircuitOpenError, createRuntime, httpServerMetrics, TandemError } from "tandem";

const rt = await createRuntime();
const log = rt.logger.child({ component: "orders" });

// --- config: the largest order, hot-reloaded -------------------------------------------------
let maxItems = rt.config.get("app.maxItems") ?? 20;
const maxItemsGauge = rt.metrics.gauge("orders_max_items", {
  help: "The app.maxItems limit in force.",
  aggregation: "max",
});
const configChanges = rt.metrics.counter("orders_config_changes_total", {
  help: "Config changes this service applied, by setting.",
  labelNames: ["setting"],
});
maxItemsGauge.set(undefined, maxItems);
rt.config.onChange((change) => {
  if (!change.changed.some((path) => path === "app.maxItems" || path.startsWith("app.maxItems"))) return;
  const next = rt.config.get("app.maxItems") ?? 20;
  log.info({ event: "config_changed", setting: "app.maxItems", from: maxItems, to: next }, "maxItems changed");
  maxItems = next;
  maxItemsGauge.set(undefined, maxItems);
  configChanges.inc({ setting: "app.maxItems" });
});

// --- metrics ---------------------------------------------------------------------------------
const ordersCreated = rt.metrics.counter("orders_created_total", {
  help: "Orders created, by checkout path (the new-checkout flag).",
  labelNames: ["checkout"],
});
const ordersFailed = rt.metrics.counter("orders_failed_total", {
  help: "Orders that could not be created, by reason.",
  labelNames: ["reason"],
});
const ROUTES = [
  ["POST", /^\/orders$/, "/orders"],
  ["GET", /^\/orders\/[^/]+$/, "/orders/:id"],
  ["GET", /^\/healthz$/, "/healthz"],
  ["GET", /^\/metrics$/, "/metrics"],
];
const routeOf = (req) => {
  const path = (req.url ?? "/").split("?")[0];
  return ROUTES.find(([method, pattern]) => method === req.method && pattern.test(path))?.[2];
};
// Records http_server_request_duration_seconds and runs each handler inside its request's span,
// so rt.logger lines carry the trace id (traceMixin) and rt.http continues the trace.
const measure = httpServerMetrics(rt.metrics, { tracer: rt.tracer, route: routeOf });

// --- storage: an in-memory map behind a named policy -----------------------------------------
// Honest about what it is: a Map. It still runs under rt.resilience.execute("storage", ...) so
// the timeout, retry and breaker of `policies.storage` apply, and it honours the abort signal
// like a real database client would.
const orders = new Map();
function storage(operation, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(operation());
    }, 1); // a database round trip, scaled down
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
const save = (order) =>
  rt.resilience.execute("storage", (signal) =>
    storage(() => {
      orders.set(order.id, order);
      if (orders.size > 50_000) orders.delete(orders.keys().next().value); // bounded
      return order;
    }, signal),
  );
const load = (id) => rt.resilience.execute("storage", (signal) => storage(() => orders.get(id), signal));

// --- handlers --------------------------------------------------------------------------------
class HttpError extends Error {
  constructor(status, code, detail) {
    super(detail);
    this.status = status;
    this.code = code;
  }
}

async function upstreamJson(name, request) {
  const res = await rt.http.request(name, request);
  if (res.statusCode >= 400) {
    await res.body.dump();
    throw new HttpError(502, `${name}_failed`, `${name} answered ${res.statusCode}`);
  }
  return res.body.json();
}

async function createOrder(input) {
  const items = Array.isArray(input?.items) ? input.items : [];
  if (items.length === 0) throw new HttpError(400, "bad_request", "items must be a non-empty array");
  if (items.length > maxItems)
    throw new HttpError(422, "too_many_items", `an order may have at most ${maxItems} items (app.maxItems)`);
  const customerId = String(input.customerId ?? "anonymous");
  const id = randomUUID();
  // The flag is evaluated in-process in both modes; the customer id keys fractional rollouts.
  const newCheckout = await rt.flags.getBooleanValue("new-checkout", false, { targetingKey: customerId, customerId });
  const reservation = await upstreamJson("inventory", {
    method: "POST",
    path: "/reservations",
    body: { orderId: id, items },
    idempotencyKey: `reserve-${id}`,
  });
  const charge = await upstreamJson("payments", {
    method: "POST",
    path: newCheckout ? "/v2/charges" : "/charges",
    body: { orderId: id, amount: Number(input.amount ?? 0), customerId },
    idempotencyKey: `charge-${id}`, // a POST is retried only with a key
  });
  const order = {
    id,
    customerId,
    items,
    amount: Number(input.amount ?? 0),
    checkout: newCheckout ? "new" : "classic",
    chargeId: charge.id,
    reservationId: reservation.id,
    createdAt: new Date().toISOString(),
  };
  await save(order);
  ordersCreated.inc({ checkout: order.checkout });
  log.info({ event: "order_created", orderId: id, checkout: order.checkout }, "order created");
  return order;
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > 64 * 1024) {
        reject(new HttpError(413, "payload_too_large", "body over 64 KiB"));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString() || "{}"));
      } catch {
        reject(new HttpError(400, "bad_request", "body is not JSON"));
      }
    });
    req.on("error", reject);
  });
}

function send(res, status, body, headers = {}) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(text);
}

async function handle(req, res) {
  const route = routeOf(req);
  if (route === "/orders") return send(res, 201, await createOrder(await readJson(req)));
  if (route === "/orders/:id") {
    const id = decodeURIComponent((req.url ?? "").split("?")[0].slice("/orders/".length));
    const order = await load(id);
    return order === undefined
      ? send(res, 404, { code: "not_found", detail: `no order ${id}` })
      : send(res, 200, order);
  }
  if (route === "/healthz") return send(res, 200, { status: "ok", ...rt.status() });
  if (route === "/metrics") {
    const { contentType, body } = await rt.metrics.expose(req.headers.accept);
    return send(res, 200, body, { "content-type": contentType });
  }
  send(res, 404, { code: "not_found", detail: `no route ${req.method} ${req.url}` });
}

const server = createServer((req, res) =>
  measure(req, res, () => handle(req, res)).catch((error) => {
    let status = 500;
    let code = "internal";
    if (error instanceof HttpError) ({ status, code } = error);
    else if (error instanceof CircuitOpenError) [status, code] = [503, "circuit_open"];
    else if (error instanceof TandemError) [status, code] = [error.status >= 500 ? 503 : 502, error.code];
    if (status >= 500 || code.endsWith("_failed")) ordersFailed.inc({ reason: code });
    if (status >= 500) log.warn({ event: "request_failed", code, err: error }, error.message);
    if (!res.headersSent) send(res, status, { code, detail: status === 500 ? "internal error" : error.message });
    else res.destroy();
  }),
);
server.keepAliveTimeout = 5000;

const port = Number(process.env.PORT ?? 3000);
server.listen(port, process.env.HOST ?? "127.0.0.1", () => {
  const { address, port: bound } = server.address();
  const url = `http://${address}:${bound}`;
  console.log(JSON.stringify({ event: "listening", url, mode: rt.mode }));
  log.info({ event: "started", url, ...rt.status(), maxItems }, `orders service on ${url} (${rt.mode} mode)`);
});

// SIGTERM (Kubernetes, tandem run): stop taking connections, drain, flush metrics and spans.
let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  log.info({ event: "stopping", signal }, "draining");
  server.close();
  server.closeIdleConnections();
  setTimeout(() => server.closeAllConnections(), 5000).unref();
  await rt.close();
  process.exit(0);
}
process.once("SIGTERM", () => void stop("SIGTERM"));
process.once("SIGINT", () => void stop("SIGINT"));
