import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import type { Concern } from "@tandem/core";
import { startSidecar } from "@tandem/testkit";
import { pino } from "pino";
import { ConfigError, createRuntime, SidecarUnavailableError } from "tandem";
import { describe, expect, it } from "vitest";

function memoryLogger() {
  const lines: Record<string, unknown>[] = [];
  return { logger: pino({}, { write: (l: string) => lines.push(JSON.parse(l)) }), lines };
}

async function deadAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return `http://127.0.0.1:${port}`;
}

function recordingConcern(calls: string[]): Concern {
  return {
    name: "recording",
    local: async () => {
      calls.push("local");
      return { facets: {}, close: async () => void calls.push("close local") };
    },
    remote: async ({ client }) => {
      calls.push(`remote ${(await client.get<{ status: string }>("/readyz")).status}`);
      return { facets: {}, close: async () => void calls.push("close remote") };
    },
  };
}

describe("createRuntime", () => {
  it("runs in library mode by default", async () => {
    const rt = await createRuntime({ env: {}, logger: pino({ level: "silent" }) });
    expect(rt.mode).toBe("library");
    expect(rt.status()).toEqual({ requestedMode: "library", mode: "library", degraded: false, sidecarFallbacks: 0 });
    await rt.close();
    await rt.close();
  });

  it("throws a ConfigError naming TANDEM_MODE for a bad value", async () => {
    const error = await createRuntime({ env: { TANDEM_MODE: "sidcar" } }).catch((e) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain('TANDEM_MODE is "sidcar"');
  });

  it("falls back to library mode when the sidecar is away and not required, logging it once", async () => {
    const { logger, lines } = memoryLogger();
    const calls: string[] = [];
    const sidecar = await deadAddress();
    const rt = await createRuntime({
      env: { TANDEM_MODE: "sidecar", TANDEM_SIDECAR: sidecar },
      readyTimeoutMs: 300,
      logger,
      concerns: [recordingConcern(calls)],
    });
    expect(rt.mode).toBe("library");
    expect(rt.status()).toEqual({
      requestedMode: "sidecar",
      mode: "library",
      degraded: true,
      sidecarFallbacks: 1,
      sidecar,
    });
    const fallback = lines.filter((l) => l.event === "sidecar_fallback");
    expect(fallback).toHaveLength(1);
    expect(fallback[0]?.reason).toContain("was not ready within 300 ms");
    expect(calls).toEqual(["local"]);
    await rt.close();
    expect(calls).toEqual(["local", "close local"]);
  });

  it("fails with SidecarUnavailableError when the sidecar is required", async () => {
    const error = await createRuntime({
      env: { TANDEM_MODE: "sidecar", TANDEM_SIDECAR: await deadAddress(), TANDEM_SIDECAR_REQUIRED: "true" },
      readyTimeoutMs: 200,
      logger: pino({ level: "silent" }),
    }).catch((e) => e);
    expect(error).toBeInstanceOf(SidecarUnavailableError);
  });

  it("builds remote implementations against a ready sidecar, and closes them", async () => {
    const sidecar = await startSidecar();
    const calls: string[] = [];
    const rt = await createRuntime({
      env: {},
      mode: "sidecar",
      sidecar: sidecar.api,
      token: sidecar.token as string,
      logger: pino({ level: "silent" }),
      concerns: [recordingConcern(calls)],
    });
    expect(rt.status()).toMatchObject({ mode: "sidecar", degraded: false, sidecar: sidecar.api });
    expect(calls).toEqual(["remote ready"]);
    await rt.close();
    expect(calls).toEqual(["remote ready", "close remote"]);
    await sidecar.stop();
  });
});
