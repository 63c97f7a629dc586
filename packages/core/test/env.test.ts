import { ConfigError, resolveEnv } from "@tandem/core";
import { describe, expect, it } from "vitest";

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("resolveEnv", () => {
  it("defaults to library mode, the loopback sidecar, no token, not required", () => {
    expect(resolveEnv({})).toEqual({
      mode: "library",
      sidecar: { kind: "tcp", origin: "http://127.0.0.1:4600", host: "127.0.0.1", port: 4600 },
      token: undefined,
      sidecarRequired: false,
      configPath: undefined,
      logLevel: undefined,
    });
  });

  it("reads every variable", () => {
    const env = resolveEnv({
      TANDEM_MODE: "sidecar",
      TANDEM_SIDECAR: "unix:/run/tandem/api.sock",
      TANDEM_TOKEN: "t0k",
      TANDEM_SIDECAR_REQUIRED: "yes",
      TANDEM_CONFIG: "/etc/tandem.yaml",
      TANDEM_LOG_LEVEL: "debug",
    });
    expect(env).toEqual({
      mode: "sidecar",
      sidecar: { kind: "unix", path: "/run/tandem/api.sock" },
      token: "t0k",
      sidecarRequired: true,
      configPath: "/etc/tandem.yaml",
      logLevel: "debug",
    });
  });

  it("names the variable, the value and what is allowed for a bad mode", () => {
    const error = errorOf(() => resolveEnv({ TANDEM_MODE: "sidcar" }));
    expect(error.code).toBe("config_invalid");
    expect(error.message).toBe('TANDEM_MODE is "sidcar"; expected "library" or "sidecar"');
    expect(error.details).toEqual({ variable: "TANDEM_MODE", value: "sidcar", allowed: ["library", "sidecar"] });
  });

  it("refuses a sidecar beyond loopback unless explicitly allowed", () => {
    const error = errorOf(() => resolveEnv({ TANDEM_SIDECAR: "http://10.0.0.5:4600" }));
    expect(error.message).toContain("TANDEM_SIDECAR");
    expect(error.message).toContain("10.0.0.5");
    expect(error.message).toContain("TANDEM_ALLOW_REMOTE_SIDECAR");
    const allowed = resolveEnv({ TANDEM_SIDECAR: "http://10.0.0.5:4600", TANDEM_ALLOW_REMOTE_SIDECAR: "true" });
    expect(allowed.sidecar).toMatchObject({ kind: "tcp", host: "10.0.0.5", port: 4600 });
  });

  it.each([
    ["http://[::1]:4600", "::1"],
    ["http://localhost:4600", "localhost"],
    ["http://127.0.0.2:9", "127.0.0.2"],
  ])("accepts the loopback address %s", (value, host) => {
    expect(resolveEnv({ TANDEM_SIDECAR: value }).sidecar).toMatchObject({ kind: "tcp", host });
  });

  it.each([
    ["unix:relative.sock", "absolute"],
    ["https://127.0.0.1:4600", "protocol https:"],
    ["http://127.0.0.1:4600/v1", "path"],
    ["http://user:pw@127.0.0.1:4600", "TANDEM_TOKEN"],
    ["not a url", "not a URL"],
  ])("explains why %s is refused", (value, why) => {
    expect(errorOf(() => resolveEnv({ TANDEM_SIDECAR: value })).message).toContain(why);
  });

  it("rejects booleans and log levels it does not know", () => {
    expect(errorOf(() => resolveEnv({ TANDEM_SIDECAR_REQUIRED: "maybe" })).details).toMatchObject({
      variable: "TANDEM_SIDECAR_REQUIRED",
      value: "maybe",
    });
    expect(errorOf(() => resolveEnv({ TANDEM_LOG_LEVEL: "loud" })).message).toContain("TANDEM_LOG_LEVEL");
  });

  it("treats empty variables as unset", () => {
    expect(resolveEnv({ TANDEM_MODE: " ", TANDEM_TOKEN: "", TANDEM_CONFIG: "" })).toMatchObject({
      mode: "library",
      token: undefined,
      configPath: undefined,
    });
  });
});
