import {
  ConfigError,
  fromProblem,
  NotAvailableError,
  registerProblemDecoder,
  SidecarUnavailableError,
  TandemError,
  TimeoutError,
  toProblem,
} from "@tandem/core";
import { describe, expect, it } from "vitest";

describe("problem documents", () => {
  it("round-trips each core error to the same class, code, message and details", () => {
    const errors = [
      new ConfigError("TANDEM_MODE is bad", { details: { variable: "TANDEM_MODE" } }),
      new SidecarUnavailableError("down"),
      new TimeoutError("slow", { details: { timeoutMs: 5 } }),
      new NotAvailableError("rt.metrics.counter()"),
    ];
    for (const error of errors) {
      const problem = JSON.parse(JSON.stringify(toProblem(error, "/v1/x")));
      expect(problem).toMatchObject({
        type: `urn:tandem:problem:${error.code}`,
        status: error.status,
        instance: "/v1/x",
      });
      const decoded = fromProblem(problem.status, problem);
      expect(decoded.constructor).toBe(error.constructor);
      expect(decoded.message).toBe(error.message);
      expect(decoded.details).toEqual(error.details);
    }
  });

  it("never puts the message or stack of an unexpected error on the wire", () => {
    const problem = toProblem(new Error("password=hunter2 at /srv/app.js:12"));
    expect(problem).toEqual({
      type: "urn:tandem:problem:internal",
      title: "Internal",
      status: 500,
      detail: "internal error",
      code: "internal",
    });
  });

  it("keeps unknown codes as a TandemError with the code, and uses registered decoders", () => {
    const unknown = fromProblem(429, { code: "rate_limited", detail: "slow down", status: 429 });
    expect(unknown).toBeInstanceOf(TandemError);
    expect(unknown.code).toBe("rate_limited");
    expect(unknown.status).toBe(429);
    class RateLimitedError extends TandemError {}
    registerProblemDecoder("rate_limited", (p) => new RateLimitedError("rate_limited", p.detail));
    expect(fromProblem(429, { code: "rate_limited", detail: "slow down", status: 429 })).toBeInstanceOf(
      RateLimitedError,
    );
  });

  it("turns a body that is not a problem into an error that carries the status", () => {
    const error = fromProblem(502, "<html>bad gateway</html>");
    expect(error.status).toBe(502);
    expect(error.message).toContain("502");
    expect(error.message).toContain("bad gateway");
    expect(fromProblem(404, undefined).code).toBe("not_found");
  });

  it("recognises tandem errors from another copy of the package", () => {
    const foreign = Object.assign(new Error("x"), { [Symbol.for("tandem.error")]: true });
    expect(TandemError.is(foreign)).toBe(true);
    expect(TandemError.is(new Error("x"))).toBe(false);
  });
});
