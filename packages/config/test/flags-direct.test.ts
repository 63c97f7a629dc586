import { type Client, type Hook, OpenFeature } from "@openfeature/server-sdk";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseFlagDefinitions } from "../src/flags/flag-definitions.js";
import { bindClient } from "../src/flags/flags-client.js";
import { TandemFlagProvider } from "../src/flags/provider.js";

// Every kind of answer flagd gives: static, targeting match, split, default, disabled, each
// value type, flag metadata, a targeting rule that fails, and keys or types that do not fit.
const definitions = JSON.stringify({
  flags: {
    static: { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "on", metadata: { team: "x" } },
    beta: {
      state: "ENABLED",
      variants: { on: true, off: false },
      defaultVariant: "off",
      targeting: { if: [{ "==": [{ var: "userId" }, "7"] }, "on", null] },
    },
    split: {
      state: "ENABLED",
      variants: { on: true, off: false },
      defaultVariant: "off",
      targeting: { fractional: [{ cat: [{ var: "$flagd.flagKey" }, { var: "userId" }] }, ["on", 50], ["off", 50]] },
    },
    regional: {
      state: "ENABLED",
      variants: { eu: "eu-west", us: "us-east" },
      defaultVariant: "us",
      targeting: { if: [{ "==": [{ var: "region" }, "eu"] }, "eu", "us"] },
    },
    tiered: {
      state: "ENABLED",
      variants: { gold: 100, basic: 10 },
      defaultVariant: "basic",
      targeting: { if: [{ "==": [{ var: "tier" }, "gold"] }, "gold", "basic"] },
    },
    layout: {
      state: "ENABLED",
      variants: { a: { columns: 2, items: ["x"] }, b: { columns: 3, items: [] } },
      defaultVariant: "a",
    },
    off: { state: "DISABLED", variants: { on: true, off: false }, defaultVariant: "on" },
    broken: {
      state: "ENABLED",
      variants: { on: true, off: false },
      defaultVariant: "off",
      targeting: { if: [{ "==": [{ var: "userId" }, "7"] }, "missing-variant", "off"] },
    },
  },
});

const contexts = [
  {},
  { userId: "7" },
  { userId: "8", targetingKey: "8" },
  { userId: "u-42", region: "eu" },
  { region: "us", tier: "gold" },
];

const calls: [string, string, unknown][] = [
  ["Boolean", "static", false],
  ["Boolean", "beta", false],
  ["Boolean", "split", false],
  ["Boolean", "off", false],
  ["Boolean", "broken", true],
  ["Boolean", "missing", true],
  ["Boolean", "regional", false],
  ["String", "regional", "none"],
  ["String", "static", "none"],
  ["Number", "tiered", 0],
  ["Object", "layout", {}],
  ["Object", "static", { fallback: true }],
];

type Evaluate = (key: string, value: unknown, context?: object, options?: object) => Promise<unknown>;
const call = (client: Client, method: string) =>
  (client as unknown as Record<string, Evaluate>)[method]?.bind(client) as Evaluate;

describe("rt.flags evaluating without the SDK's hook machinery", () => {
  let direct: Client;
  let sdk: Client;
  let evaluations = 0;
  const proto = Object.getPrototypeOf(OpenFeature.getClient("probe")) as { evaluate: (...a: unknown[]) => unknown };
  const evaluate = proto.evaluate;

  beforeAll(async () => {
    const flags = await parseFlagDefinitions(definitions, "flags.json");
    direct = (await bindClient(new TandemFlagProvider(flags))).client;
    // The reference: the same definitions behind a client the SDK evaluates as it always does.
    await OpenFeature.setProviderAndWait("reference", new TandemFlagProvider(flags));
    sdk = OpenFeature.getClient("reference");
    proto.evaluate = function (this: unknown, ...args: unknown[]) {
      evaluations++;
      return evaluate.apply(this, args);
    };
  });
  afterAll(async () => {
    proto.evaluate = evaluate;
    await OpenFeature.close();
  });
  afterEach(() => {
    OpenFeature.clearHooks();
    OpenFeature.setContext({});
    direct.clearHooks().setContext({});
    sdk.clearHooks().setContext({});
  });

  /** Every call, by value and by details, on both clients: the direct answers must be the SDK's. */
  async function compareAll(): Promise<number> {
    evaluations = 0;
    let compared = 0;
    for (const [type, key, fallback] of calls) {
      for (const context of contexts) {
        for (const method of [`get${type}Value`, `get${type}Details`]) {
          const expected = await call(sdk, method)(key, fallback, context);
          const before = evaluations;
          const given = structuredClone(context);
          const got = await call(direct, method)(key, fallback, given);
          expect(evaluations, `${method}(${key}) went through the SDK`).toBe(before);
          expect(got, `${method}(${key}, ${JSON.stringify(context)})`).toEqual(expected);
          if (method.endsWith("Details"))
            expect(Object.isFrozen((got as { flagMetadata: object }).flagMetadata)).toBe(true);
          // The caller's context is read, never changed or frozen.
          expect(given).toEqual(context);
          expect(Object.isFrozen(given)).toBe(false);
          compared++;
        }
      }
    }
    return compared;
  }

  it("answers every value and every details object exactly as the SDK does, with only the call's context", async () => {
    expect(await compareAll()).toBe(calls.length * contexts.length * 2);
  });

  it("answers every value and every details object exactly as the SDK does, with global and client context merged", async () => {
    OpenFeature.setContext({ region: "eu" });
    direct.setContext({ tier: "gold" });
    sdk.setContext({ tier: "gold" });
    expect(await compareAll()).toBe(calls.length * contexts.length * 2);
    // The merged contexts decided: the global region and the client's tier reached the rules.
    expect(await direct.getStringValue("regional", "none")).toBe("eu-west");
    expect(await direct.getNumberValue("tiered", 0)).toBe(100);
    expect((await direct.getBooleanDetails("static", false)).flagMetadata).toEqual({ team: "x" });
    // The call's context wins over the client's and the global one, as in the SDK.
    expect(await direct.getNumberValue("tiered", 0, { tier: "basic" })).toBe(10);
    OpenFeature.setContext({});
    expect(await direct.getStringValue("regional", "none")).toBe("us-east");
    expect(await direct.getNumberValue("tiered", 0)).toBe(100);
  });

  it("hands the evaluation back to the SDK while any hook is registered, and takes it again once none is", async () => {
    const seen: string[] = [];
    const hook: Hook = {
      before: (context) => {
        seen.push(`before ${context.flagKey}`);
      },
      after: (_context, details) => {
        seen.push(`after ${String(details.value)}`);
      },
    };
    direct.addHooks(hook);
    await direct.getBooleanValue("beta", false, { userId: "7" });
    expect(seen).toEqual(["before beta", "after true"]);
    direct.clearHooks();

    OpenFeature.addHooks(hook);
    await direct.getStringDetails("regional", "none", { region: "eu" });
    expect(seen.slice(2)).toEqual(["before regional", "after eu-west"]);
    OpenFeature.clearHooks();

    await direct.getNumberValue("tiered", 0, {}, { hooks: [hook] });
    expect(seen.slice(4)).toEqual(["before tiered", "after 10"]);

    evaluations = 0;
    seen.length = 0;
    await direct.getBooleanValue("beta", false, { userId: "7" });
    expect(seen).toEqual([]);
    expect(evaluations).toBe(0);
  });
});
