#!/usr/bin/env node
// A small upstream for the examples and the demo: answers any request with JSON, and each
// instance takes faults at run time through its control endpoint:
//
//   POST /fault  {"errorRate":0.5,"status":503,"latencyMs":20,"resetRate":0}   -> 204
//   POST /fault  {}                                                           -> healthy again
//   GET  /stats                                                               -> counters
//
// Faults are spread evenly (an errorRate of 0.5 fails every other request), so runs repeat.
// Run: node stub.mjs [--count 3] [--port 0]; prints one JSON line per instance with its URL.
import { createServer } from "node:http";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

/**
 * Starts one instance on 127.0.0.1 (port 0: a random one).
 * @param {{ port?: number, name?: string }} [options]
 */
export async function startStub(options = {}) {
  const name = options.name ?? "payments";
  let fault = {};
  const stats = { requests: 0, failed: 0, reset: 0, ok: 0 };
  let sinceFault = 0;
  let failedSinceFault = 0;
  let resetSinceFault = 0;
  const charges = new Map(); // idempotency key -> charge, so a retried POST charges once

  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://stub");
      if (url.pathname === "/fault" && req.method === "POST") {
        try {
          fault = JSON.parse(Buffer.concat(chunks).toString() || "{}");
        } catch {
          res.writeHead(400).end("bad JSON");
          return;
        }
        sinceFault = failedSinceFault = resetSinceFault = 0;
        res.writeHead(204).end();
        return;
      }
      if (url.pathname === "/stats" && req.method === "GET") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ name, fault, ...stats }));
        return;
      }
      stats.requests++;
      sinceFault++;
      const { errorRate = 0, resetRate = 0, status = 503, latencyMs = 0 } = fault;
      // Even spacing: fail when the running share of failures falls below the rate.
      const reset = resetRate > 0 && resetSinceFault < Math.floor(sinceFault * resetRate + 1e-9);
      if (reset) resetSinceFault++;
      const fail = !reset && errorRate > 0 && failedSinceFault < Math.floor(sinceFault * errorRate + 1e-9);
      if (fail) failedSinceFault++;
      const answer = () => {
        if (reset) {
          stats.reset++;
          req.socket.destroy();
          return;
        }
        if (fail) {
          stats.failed++;
          res.writeHead(status, { "content-type": "text/plain" }).end(`${name} failing (injected)`);
          return;
        }
        stats.ok++;
        const key = req.headers["idempotency-key"];
        let body;
        if (typeof key === "string" && charges.has(key)) body = charges.get(key);
        else {
          body = { id: `${name}-${stats.ok}`, status: "ok", port: server.address().port, path: url.pathname };
          if (typeof key === "string") {
            charges.set(key, body);
            if (charges.size > 10_000) charges.delete(charges.keys().next().value);
          }
        }
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
      };
      if (latencyMs > 0) setTimeout(answer, latencyMs);
      else answer();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    stats,
    /** Sets this instance's faults, as POST /fault does. */
    setFault(next) {
      fault = next;
      sinceFault = failedSinceFault = resetSinceFault = 0;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { values } = parseArgs({
    options: { count: { type: "string", default: "1" }, port: { type: "string", default: "0" } },
  });
  const count = Number(values.count);
  const stubs = [];
  for (let i = 0; i < count; i++) {
    const port = Number(values.port) === 0 ? 0 : Number(values.port) + i;
    const stub = await startStub({ port, name: `payments-${i}` });
    stubs.push(stub);
    console.log(JSON.stringify({ event: "listening", instance: i, url: stub.url }));
  }
  const stop = async () => {
    await Promise.all(stubs.map((s) => s.close()));
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
