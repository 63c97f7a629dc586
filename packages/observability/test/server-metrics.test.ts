import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fastifyServerMetrics, httpServerMetrics, PodMetrics } from "@tandem/observability";
import Fastify from "fastify";
import { describe, expect, it } from "vitest";

function lines(text: string, prefix: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(prefix));
}

describe("inbound HTTP metrics", () => {
  it("measures node:http requests by method, route, status and error, bounding methods", async () => {
    const pod = new PodMetrics({ self: "s" });
    const measure = httpServerMetrics(pod.ownMetrics(), {
      route: (req) => (req.url?.startsWith("/orders/") ? "/orders/:id" : undefined),
    });
    const server = createServer((req, res) => {
      measure(req, res);
      res.statusCode = req.url === "/fail" ? 503 : 200;
      res.end("ok");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await fetch(`${base}/orders/1`);
    await fetch(`${base}/orders/2`);
    await fetch(`${base}/fail`, { method: "POST" });
    await fetch(`${base}/x`, { method: "PURGE" });
    await new Promise((r) => setTimeout(r, 50));
    server.closeAllConnections();
    server.close();
    const counts = lines(pod.text(false), "http_server_request_duration_seconds_count");
    expect(counts.sort()).toEqual([
      'http_server_request_duration_seconds_count{http_request_method="GET",http_route="/orders/:id",http_response_status_code="200"} 2',
      'http_server_request_duration_seconds_count{http_request_method="POST",http_response_status_code="503",error_type="503"} 1',
      'http_server_request_duration_seconds_count{http_request_method="_OTHER",http_response_status_code="200"} 1',
    ]);
  });

  it("measures Fastify requests with the route template Fastify matched", async () => {
    const pod = new PodMetrics({ self: "s" });
    const app = Fastify();
    await app.register(fastifyServerMetrics(pod.ownMetrics()));
    app.get("/orders/:id", async () => ({ ok: true }));
    await app.inject({ method: "GET", url: "/orders/7" });
    await app.inject({ method: "GET", url: "/orders/8" });
    await app.inject({ method: "GET", url: "/nowhere" });
    await app.close();
    const counts = lines(pod.text(false), "http_server_request_duration_seconds_count");
    expect(counts.sort()).toEqual([
      'http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="404"} 1',
      'http_server_request_duration_seconds_count{http_request_method="GET",http_route="/orders/:id",http_response_status_code="200"} 2',
    ]);
  });
});
