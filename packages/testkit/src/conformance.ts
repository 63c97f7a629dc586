import type { Mode, Runtime } from "tandem";
import { createRuntime, type RuntimeOptions } from "tandem";
import { afterAll, beforeAll, describe } from "vitest";
import { type StartedSidecar, type StartSidecarOptions, startSidecar } from "./start-sidecar.js";

/** What a conformance suite sees: the mode under test and a runtime in that mode. */
export interface ConformanceContext {
  readonly mode: Mode;
  /** The runtime under test; available inside tests and hooks. */
  readonly runtime: Runtime;
  /** The real sidecar process in sidecar mode; `undefined` in library mode. */
  readonly sidecar: StartedSidecar | undefined;
}

/** Options of `describeConformance`. */
export interface ConformanceOptions {
  /**
   * The config file: the runtime loads it in library mode, the sidecar process in sidecar mode.
   * A function gets each mode its own file, for suites that change files.
   */
  config?: string | ((mode: Mode) => string);
  /** More options for `createRuntime` in both modes. */
  runtime?: Omit<RuntimeOptions, "mode" | "sidecar" | "token" | "configPath">;
  /** More options for the sidecar process. */
  sidecar?: Omit<StartSidecarOptions, "config">;
}

/**
 * Registers `suite` twice: once against a library-mode runtime and once against a sidecar-mode
 * runtime talking to a real sidecar process. The assertions are the same; that is the promise
 * that switching `TANDEM_MODE` changes nothing.
 */
export function describeConformance(
  name: string,
  suite: (context: ConformanceContext) => void,
  options: ConformanceOptions = {},
): void {
  for (const mode of ["library", "sidecar"] as const) {
    describe(`${name} [${mode}]`, () => {
      let runtime: Runtime | undefined;
      let sidecar: StartedSidecar | undefined;
      beforeAll(async () => {
        const config = typeof options.config === "function" ? options.config(mode) : options.config;
        if (mode === "sidecar") {
          sidecar = await startSidecar({ ...options.sidecar, ...(config === undefined ? {} : { config }) });
        }
        runtime = await createRuntime({
          env: {},
          ...options.runtime,
          mode,
          sidecarRequired: mode === "sidecar",
          ...(config === undefined || mode === "sidecar" ? {} : { configPath: config }),
          ...(sidecar === undefined
            ? {}
            : { sidecar: sidecar.api, ...(sidecar.token === undefined ? {} : { token: sidecar.token }) }),
        });
      });
      afterAll(async () => {
        await runtime?.close();
        await sidecar?.stop();
      });
      suite({
        mode,
        get runtime(): Runtime {
          if (runtime === undefined) throw new Error("the runtime is available inside tests and hooks only");
          return runtime;
        },
        get sidecar() {
          return sidecar;
        },
      });
    });
  }
}
