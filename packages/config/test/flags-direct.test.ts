import { type Client, type EvaluationContext, type Hook, type HookContext, OpenFeature } from "@openfeature/server-sdk";
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

// Another provider's definitions: `static` is off there.
const other = JSON.stringify({
  flags: { static: { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "off" } },
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

const firstLine = (x: unknown) => (typeof x === "string" ? x.split("\n")[0] : x);

type Evaluate = (key: string, value: unknown, context?: object, options?: object) => Promise<unknown>;
const call = (client: Client, method: string) =>
  (client as unknown as Record<string, Evaluate>)[method]?.bind(client) as Evaluate;

describe("rt.flags evaluating without the SDK's hook machinery", () => {
  let direct: Client;
  let domain: string;
  let provider: TandemFlagProvider;
  let sdk: Client;
  let evaluations = 0;
  const proto = Object.getPrototypeOf(OpenFeature.getClient("probe")) as { evaluate: (...a: unknown[]) => unknown };
  const evaluate = proto.evaluate;

  beforeAll(async () => {
    const flags = await parseFlagDefinitions(definitions, "flags.json");
    provider = new TandemFlagProvider(flags);
    ({ client: direct, domain } = await bindClient(provider));
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

  /**
   * Hooks that write down every call they get (stage, hook context, details or error, hints,
   * hook data) and may add context, wait, or throw, as `behaviour` says for each stage.
   */
  function recordingHooks(log: unknown[], behaviour: Record<string, "add" | "wait" | "throw" | "add-later">) {
    const make = (name: string): Hook => {
      const note = (stage: string, context: HookContext, extra: Record<string, unknown>) => {
        log.push({
          hook: name,
          stage,
          flagKey: context.flagKey,
          defaultValue: context.defaultValue,
          flagValueType: context.flagValueType,
          context: { ...context.context },
          frozen: [Object.isFrozen(context), Object.isFrozen(context.context)],
          provider: context.providerMetadata.name,
          seen: context.hookData.get("seen") ?? null,
          ...extra,
        });
        context.hookData.set("seen", `${name}:${stage}`);
      };
      const act = (stage: string): unknown => {
        const what = behaviour[`${name}.${stage}`];
        if (what === "throw") throw new Error(`${name} ${stage} failed`);
        if (what === "add") return { region: "eu", [`${name}Saw`]: stage };
        if (what === "add-later") return Promise.resolve({ tier: "gold" });
        if (what === "wait") return new Promise((resolve) => setTimeout(resolve, 1));
        return undefined;
      };
      return {
        before: (context, hints) => {
          note("before", context, { hints: hints ?? null });
          return act("before") as EvaluationContext | undefined;
        },
        after: (context, details, hints) => {
          note("after", context, { details: { ...details }, hints: hints ?? null });
          return act("after") as undefined;
        },
        error: (context, error, hints) => {
          const e = error as { name?: string; code?: string; message?: string };
          note("error", context, { error: [e.name, e.code, e.message], hints: hints ?? null });
          return act("error") as undefined;
        },
        finally: (context, details, hints) => {
          note("finally", context, { details: { ...details }, hints: hints ?? null });
          return act("finally") as undefined;
        },
      };
    };
    return { global: make("global"), client: make("client"), call: make("call") };
  }

  const hookCases: [string, Record<string, "add" | "wait" | "throw" | "add-later">, string, string, unknown][] = [
    ["plain", {}, "Boolean", "beta", false],
    ["before hooks add context", { "global.before": "add", "call.before": "add-later" }, "Number", "tiered", 0],
    [
      "hooks that wait",
      { "client.before": "wait", "call.after": "wait", "global.finally": "wait" },
      "String",
      "regional",
      "none",
    ],
    ["a before hook throws", { "client.before": "throw" }, "Boolean", "beta", true],
    ["an after hook throws", { "call.after": "throw" }, "String", "regional", "none"],
    [
      "error and finally hooks throw",
      { "global.before": "throw", "client.error": "throw", "call.finally": "throw" },
      "Boolean",
      "beta",
      false,
    ],
    ["the flag is missing", {}, "Boolean", "missing", true],
    ["the variant is missing", { "call.error": "wait" }, "Boolean", "broken", true],
    ["the flag is disabled", {}, "Boolean", "off", false],
  ];

  it("runs global, client and call hooks exactly as the SDK does: the same calls, contexts, details, errors and logs", async () => {
    for (const [name, behaviour, type, key, fallback] of hookCases) {
      for (const method of [`get${type}Value`, `get${type}Details`]) {
        const run = async (client: Client) => {
          const log: unknown[] = [];
          const logged: unknown[] = [];
          const hooks = recordingHooks(log, behaviour);
          OpenFeature.clearHooks();
          OpenFeature.addHooks(hooks.global);
          client.clearHooks().addHooks(hooks.client);
          client.setLogger({
            // Stacks differ by where they were thrown through: their first line is compared.
            error: (...args: unknown[]) => logged.push(["error", ...args.map(firstLine)]),
            warn: (...args: unknown[]) => logged.push(["warn", ...args.map(firstLine)]),
            info: () => {},
            debug: () => {},
          });
          const got = await call(client, method)(
            key,
            fallback,
            { userId: "7" },
            {
              hooks: [hooks.call],
              hookHints: { case: name },
            },
          );
          return { got, log, logged };
        };
        const expected = await run(sdk);
        evaluations = 0;
        const got = await run(direct);
        expect(evaluations, `${name}: ${method} went through the SDK`).toBe(0);
        expect(got, `${name}: ${method}(${key})`).toEqual(expected);
      }
    }
  });

  it("hands the evaluation to the SDK when another provider is bound to its domain", async () => {
    await OpenFeature.setProviderAndWait(
      domain,
      new TandemFlagProvider(await parseFlagDefinitions(other, "other.json")),
    );
    evaluations = 0;
    expect(await direct.getBooleanValue("static", true)).toBe(false);
    expect(evaluations).toBe(1);
    await OpenFeature.setProviderAndWait(domain, provider);
    evaluations = 0;
    expect(await direct.getBooleanValue("static", false)).toBe(true);
    expect(evaluations).toBe(0);
  });
});
