import { EventLog, type Logger, type RouteDefinition } from "@tandem/core";
import { z } from "zod";
import type { LocalConfigSources } from "./local/local-config.js";

const Stats = z.object({
  applied: z.int(),
  rejected: z.int(),
  unchanged: z.int(),
  lastError: z.object({ source: z.enum(["config", "flags"]), message: z.string(), at: z.string() }).optional(),
});

const ConfigBody = z.object({
  generation: z.int().describe("Increases with every change the sidecar applies."),
  values: z
    .record(z.string(), z.unknown())
    .describe(
      "The validated configuration, defaults applied, durations in ms; secret references kept as ${secret:name}.",
    ),
  secretNames: z.array(z.string()).describe("Secrets the values reference; fetch each from /v1/secrets/{name}."),
  secretPaths: z.array(z.string()).describe("Paths whose values hold secrets once resolved."),
  reloads: Stats,
});

const FlagsBody = z.object({
  generation: z.int(),
  definitions: z.record(z.string(), z.unknown()).describe("Flag definitions in the flagd format."),
});

const lastEventId = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

/**
 * The sidecar's configuration routes: snapshots of the config and the flags, their change
 * streams (Server-Sent Events, resumable with `Last-Event-ID`), and secrets by name. Secret
 * values leave only through `/v1/secrets/{name}`, and every read is logged without the value.
 */
export function configRoutes(sources: LocalConfigSources, log: Logger): RouteDefinition[] {
  const configEvents = new EventLog(64);
  const flagEvents = new EventLog(64);
  let flagsGeneration = 1;
  sources.onUpdate((kind) => {
    if (kind === "config") configEvents.publish("config", { generation: sources.store.snapshot().generation });
    else flagEvents.publish("flags", { generation: ++flagsGeneration });
  });
  return [
    {
      method: "GET",
      path: "/v1/config",
      tag: "config",
      summary: "The configuration in force.",
      description:
        "Secret values are never part of it: references stay as ${secret:name}. A client resolves them through /v1/secrets/{name}.",
      responses: { 200: { description: "The snapshot.", schema: ConfigBody } },
      handler: () => {
        const loaded = sources.loaded;
        return {
          body: {
            generation: sources.store.snapshot().generation,
            values: loaded.template,
            secretNames: loaded.secretNames,
            secretPaths: loaded.secretPaths,
            reloads: sources.stats,
          },
        };
      },
    },
    {
      method: "GET",
      path: "/v1/config/events",
      tag: "config",
      summary: "Server-Sent Events: `config` with the new generation after each applied change.",
      description: "Fetch /v1/config on each event. A `reset` event means events were missed: fetch it too.",
      responses: { 200: { description: "An event stream.", contentType: "text/event-stream" } },
      handler: ({ req, res }) => {
        configEvents.serve(res, lastEventId(req.headers["last-event-id"]));
        return undefined;
      },
    },
    {
      method: "GET",
      path: "/v1/flags",
      tag: "flags",
      summary: "The flag definitions in force, in the flagd format, for in-process evaluation.",
      responses: { 200: { description: "The definitions.", schema: FlagsBody } },
      handler: () => ({ body: { generation: flagsGeneration, definitions: JSON.parse(sources.flagDefinitions) } }),
    },
    {
      method: "GET",
      path: "/v1/flags/events",
      tag: "flags",
      summary: "Server-Sent Events: `flags` after each applied change of the definitions.",
      responses: { 200: { description: "An event stream.", contentType: "text/event-stream" } },
      handler: ({ req, res }) => {
        flagEvents.serve(res, lastEventId(req.headers["last-event-id"]));
        return undefined;
      },
    },
    {
      method: "GET",
      path: "/v1/secrets",
      tag: "secrets",
      summary: "The names of the secrets there are (never their values).",
      responses: { 200: { description: "Names.", schema: z.object({ names: z.array(z.string()) }) } },
      handler: () => ({ body: { names: sources.secrets.names() } }),
    },
    {
      method: "GET",
      path: "/v1/secrets/{name}",
      tag: "secrets",
      summary: "One secret's value. Each read is logged, without the value.",
      responses: {
        200: { description: "The secret.", schema: z.object({ name: z.string(), value: z.string() }) },
        404: { description: "No secret has that name.", contentType: "application/problem+json" },
      },
      handler: async ({ params }) => {
        const name = params.name as string;
        const value = await sources.secrets.get(name);
        log.info({ event: "secret_read", name }, "secret read");
        return { body: { name, value }, headers: { "cache-control": "no-store" } };
      },
    },
  ];
}
