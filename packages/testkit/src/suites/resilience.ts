import { CircuitOpenError, ConfigError, TimeoutError } from "tandem";
import { expect, it } from "vitest";
import type { ConformanceContext } from "../conformance.js";

/** The policies `resilienceSuite` expects in the config file. */
export const RESILIENCE_CONFIG = `policies:
  flaky:
    retry: { attempts: 3, backoff: { base: 1ms, max: 5ms } }
  slow:
    timeout: 50ms
  fragile:
    circuitBreaker: { consecutiveFailures: 2, breakFor: 10s }
`;

/**
 * `rt.resilience.execute`: the same retries, timeouts, breaker and errors in both modes, with
 * the policies of `RESILIENCE_CONFIG`.
 */
export function resilienceSuite(context: ConformanceContext): void {
  it("retries a failing call under its policy and returns the first success", async () => {
    let attempts = 0;
    const result = await context.runtime.resilience.execute("flaky", async () => {
      attempts++;
      if (attempts < 3) throw new Error("transient");
      return "ok";
    });
    expect(result).toBe("ok");
    expect(attempts).toBe(3);
  });

  it("times an attempt out, aborting the signal it handed the work", async () => {
    let signal: AbortSignal | undefined;
    const error = (await context.runtime.resilience
      .execute("slow", (s) => {
        signal = s;
        return new Promise((resolve) => setTimeout(resolve, 1000));
      })
      .catch((e: unknown) => e)) as TimeoutError;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.details).toMatchObject({ policy: "slow", bound: "attempt", timeoutMs: 50 });
    expect(signal?.aborted).toBe(true);
  });

  it("opens the breaker and then fails fast with CircuitOpenError", async () => {
    const fail = () => Promise.reject(new Error("down"));
    await context.runtime.resilience.execute("fragile", fail).catch(() => {});
    await context.runtime.resilience.execute("fragile", fail).catch(() => {});
    let ran = false;
    const error = await context.runtime.resilience
      .execute("fragile", async () => {
        ran = true;
      })
      .catch((e) => e);
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(ran).toBe(false);
  });

  it("names the policies there are when asked for one that is not", async () => {
    const error = (await context.runtime.resilience
      .execute("nope", async () => 1)
      .catch((e: unknown) => e)) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe('no policy named "nope" in the config; policies: flaky, slow, fragile');
  });

  it("records retries and breaker transitions in the metrics", async () => {
    const { body } = await context.runtime.metrics.expose();
    expect(body).toMatch(/tandem_retries_total\{policy="flaky"\} 2/);
    expect(body).toMatch(/tandem_circuit_transitions_total\{policy="fragile",to="open"\} 1/);
    expect(body).toMatch(/tandem_rejected_total\{policy="fragile",reason="circuit_open"\} 1/);
  });
}
