import type { EventLog, RouteDefinition } from "@tandem/core";
import { z } from "zod";
import type { OpenApiDocument } from "./openapi.js";

/** What the built-in routes need from the sidecar. */
export interface SidecarControl {
  readonly version: string;
  readonly state: "starting" | "ready" | "draining" | "stopped";
  readonly lifecycle: EventLog;
  openapi(): OpenApiDocument;
  metrics(accept: string | undefined): Promise<{ contentType: string; body: string }>;
  /** Starts draining; the returned promise is not awaited by the route. */
  stop(reason: string): Promise<void>;
}

const Health = z.object({ status: z.string(), version: z.string() });

/** Routes every sidecar serves, whatever concerns it runs. */
export function builtinRoutes(control: SidecarControl): RouteDefinition[] {
  const health = (): { status: string; version: string } => ({ status: control.state, version: control.version });
  const readiness: RouteDefinition["handler"] = () => ({
    status: control.state === "ready" ? 200 : 503,
    body: health(),
  });
  const probes = (listener: "api" | "admin"): RouteDefinition[] => [
    {
      method: "GET",
      path: "/healthz",
      listener,
      tag: "lifecycle",
      summary: "Liveness: 200 while the process serves requests, draining included.",
      responses: { 200: { description: "The process is alive.", schema: Health } },
      handler: () => ({ body: health() }),
    },
    {
      method: "GET",
      path: "/readyz",
      listener,
      tag: "lifecycle",
      summary: "Readiness: 200 once config is loaded and listeners are up; 503 while starting or draining.",
      responses: {
        200: { description: "Ready.", schema: Health },
        503: { description: "Starting or draining.", schema: Health },
      },
      handler: readiness,
    },
  ];
  return [
    ...probes("api"),
    ...probes("admin"),
    {
      method: "GET",
      path: "/metrics",
      listener: "admin",
      tag: "lifecycle",
      summary: "Prometheus metrics of the sidecar (text 0.0.4, or OpenMetrics when the Accept header asks).",
      responses: { 200: { description: "The exposition.", contentType: "text/plain; version=0.0.4" } },
      handler: async ({ req, res }) => {
        const { contentType, body } = await control.metrics(req.headers.accept);
        res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
        res.end(body);
        return undefined;
      },
    },
    {
      method: "POST",
      path: "/v1/shutdown",
      listener: "admin",
      tag: "lifecycle",
      summary: "Drains and stops the sidecar, as SIGTERM does.",
      responses: { 202: { description: "Draining has started.", schema: z.object({ status: z.literal("draining") }) } },
      handler: () => {
        void control.stop("shutdown requested");
        return { status: 202, body: { status: "draining" } };
      },
    },
    {
      method: "GET",
      path: "/v1/openapi.json",
      tag: "lifecycle",
      summary: "This document.",
      responses: { 200: { description: "The OpenAPI 3.1 document of every route." } },
      handler: () => ({ body: control.openapi() }),
    },
    {
      method: "GET",
      path: "/v1/lifecycle/events",
      tag: "lifecycle",
      summary:
        "Server-Sent Events of the sidecar's lifecycle: `ready`, then `draining` when it begins to stop. Send `Last-Event-ID` to resume.",
      responses: { 200: { description: "An event stream.", contentType: "text/event-stream" } },
      handler: ({ req, res }) => {
        control.lifecycle.serve(res, headerValue(req.headers["last-event-id"]));
        return undefined;
      },
    },
  ];
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
