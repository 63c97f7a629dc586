import { AbortedError, CircuitOpenError, ConfigError, TimeoutError } from "tandem";
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

  it("returns the fallback when the policy gives up, a value or a function of the error", async () => {
    const rt = context.runtime;
    const fail = () => Promise.reject(new Error("down"));
    expect(await rt.resilience.execute("flaky", fail, { fallback: "cached" })).toBe("cached");
    expect(await rt.resilience.execute("flaky", fail, { fallback: (e) => `after ${(e as Error).message}` })).toBe(
      "after down",
    );
    // A policy that does not exist is a mistake to see, not to paper over.
    await expect(rt.resilience.execute("nope", fail, { fallback: 1 })).rejects.toBeInstanceOf(ConfigError);
  });

  it("aborts one call through its own signal, without retrying it or touching the breaker", async () => {
    const rt = context.runtime;
    const controller = new AbortController();
    let attempts = 0;
    let seen: AbortSignal | undefined;
    const call = rt.resilience
      .execute(
        "flaky",
        (signal) => {
          attempts++;
          seen = signal;
          return new Promise((_, reject) => signal.addEventListener("abort", () => reject(new Error("stopped"))));
        },
        { signal: controller.signal },
      )
      .catch((e: unknown) => e);
    const other = rt.resilience.execute("flaky", async () => "unaffected");
    setTimeout(() => controller.abort(), 20);
    expect(await call).toBeInstanceOf(AbortedError);
    expect(attempts).toBe(1);
    expect(seen?.aborted).toBe(true);
    expect(await other).toBe("unaffected");
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
    // Two in the first test, two for each of the two fallback calls.
    expect(body).toMatch(/tandem_retries_total\{policy="flaky"\} 6/);
    expect(body).toMatch(/tandem_circuit_transitions_total\{policy="fragile",to="open"\} 1/);
    expect(body).toMatch(/tandem_rejected_total\{policy="fragile",reason="circuit_open"\} 1/);
  });
}
