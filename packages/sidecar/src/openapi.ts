import type { RouteDefinition, StandardSchemaV1 } from "@tandem/core";
import { z } from "zod";

/** The OpenAPI 3.1 document of a set of routes. */
export interface OpenApiDocument {
  openapi: "3.1.0";
  info: { title: string; version: string; description: string };
  servers: { url: string; description: string }[];
  paths: Record<string, Record<string, unknown>>;
  components: Record<string, unknown>;
}

const PROBLEM_SCHEMA = {
  type: "object",
  description: "An RFC 9457 problem document. `code` is stable; switch on it, not on `detail`.",
  required: ["type", "title", "status", "detail", "code"],
  properties: {
    type: { type: "string", examples: ["urn:tandem:problem:not_found"] },
    title: { type: "string" },
    status: { type: "integer" },
    detail: { type: "string" },
    code: { type: "string" },
    instance: { type: "string" },
    details: { type: "object", additionalProperties: true },
  },
};

const problemResponse = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
});

/**
 * Builds the OpenAPI document from the very route definitions the server routes with, so the
 * document lists exactly what is served. Request and response schemas written with zod are
 * converted to JSON Schema; other Standard Schema libraries are documented as free-form.
 */
export function buildOpenApi(routes: readonly RouteDefinition[], version: string): OpenApiDocument {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const params = [...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    const responses: Record<string, unknown> = {};
    for (const [status, response] of Object.entries(route.responses)) {
      const type = response.contentType ?? "application/json";
      responses[status] = {
        description: response.description,
        ...(response.schema === undefined && type === "application/json"
          ? {}
          : { content: { [type]: { schema: response.schema === undefined ? {} : jsonSchemaOf(response.schema) } } }),
      };
    }
    const listener = route.listener ?? "api";
    const existing = paths[route.path]?.[route.method.toLowerCase()] as Record<string, unknown> | undefined;
    if (existing !== undefined) {
      // The same operation on both listeners (the probes) is documented once.
      (existing["x-tandem-listeners"] as string[]).push(listener);
      continue;
    }
    const secured = route.path.startsWith("/v1/");
    if (secured) responses["401"] ??= problemResponse("The bearer token is missing or wrong.");
    if (route.body !== undefined) {
      responses["400"] ??= problemResponse("The body is not JSON or does not match the schema.");
      responses["413"] ??= problemResponse("The body is larger than the limit.");
    }
    responses.default ??= problemResponse("Any other error, as a problem document.");
    const operation: Record<string, unknown> = {
      operationId: operationId(route),
      tags: [route.tag],
      summary: route.summary,
      ...(route.description === undefined ? {} : { description: route.description }),
      ...(params.length === 0 ? {} : { parameters: params }),
      ...(route.body === undefined
        ? {}
        : {
            requestBody: {
              required: true,
              content: { "application/json": { schema: jsonSchemaOf(route.body) } },
            },
          }),
      responses,
      ...(secured ? { security: [{ bearerAuth: [] }] } : { security: [] }),
      "x-tandem-listeners": [listener],
    };
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, unknown>)[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "tandem sidecar API",
      version,
      description:
        "The HTTP API of the tandem sidecar. Paths under /v1/ need `Authorization: Bearer <TANDEM_TOKEN>` when a token is set. Errors are application/problem+json. `x-tandem-listeners` says which listener serves an operation: `api` (default 127.0.0.1:4600) or `admin` (default 127.0.0.1:4601).",
    },
    servers: [
      { url: "http://127.0.0.1:4600", description: "API listener (default)" },
      { url: "http://127.0.0.1:4601", description: "admin listener (default)" },
    ],
    paths,
    components: {
      schemas: { Problem: PROBLEM_SCHEMA },
      securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", description: "The value of TANDEM_TOKEN." } },
    },
  };
}

function jsonSchemaOf(schema: StandardSchemaV1): unknown {
  if (schema["~standard"].vendor !== "zod") return {};
  const json = z.toJSONSchema(schema as unknown as z.ZodType, { io: "input", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  delete json.$schema;
  return json;
}

function operationId(route: RouteDefinition): string {
  const words = route.path
    .split("/")
    .filter((s) => s !== "" && s !== "v1")
    .map((s) => s.replace(/[{}]/g, "").replace(/[^a-zA-Z0-9]+(.)/g, (_, c: string) => c.toUpperCase()));
  const name = words.map((w, i) => (i === 0 ? w : w.charAt(0).toUpperCase() + w.slice(1))).join("");
  return `${route.method.toLowerCase()}${name.charAt(0).toUpperCase()}${name.slice(1)}`;
}
