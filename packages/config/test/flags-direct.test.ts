import {
  type Client,
  ErrorCode,
  type EvaluationContext,
  type Hook,
  type HookContext,
  OpenFeature,
  ProviderEvents,
} from "@openfeature/server-sdk";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
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
  let reference: TandemFlagProvider;
  let sdk: Client;
  let evaluations = 0;
  const proto = Object.getPrototypeOf(OpenFeature.getClient("probe")) as { evaluate: (...a: unknown[]) => unknown };
  const evaluate = proto.evaluate;

  beforeAll(async () => {
    const flags = await parseFlagDefinitions(definitions, "flags.json");
    provider = new TandemFlagProvider(flags);
    ({ client: direct, domain } = await bindClient(provider));
    // The reference: the same definitions behind a client the SDK evaluates as it always does.
    reference = new TandemFlagProvider(flags);
    await OpenFeature.setProviderAndWait("reference", reference);
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

  type Behaviour = "add" | "wait" | "throw" | "reject" | "add-later";

  /**
   * Hooks that write down every call they get (stage, `this`, hook context, details or error,
   * hints, hook data) and may add context, wait, throw or reject, as `behaviour` says for each.
   */
  function recordingHooks(log: unknown[], behaviour: Record<string, Behaviour>) {
    const make = (name: string): Hook => {
      const note = (hook: unknown, stage: string, context: HookContext, extra: Record<string, unknown>) => {
        log.push({
          hook: name,
          stage,
          bound: hook === hooks[name as keyof typeof hooks],
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
        if (what === "reject") return Promise.reject(new Error(`${name} ${stage} rejected`));
        if (what === "add") return { region: "eu", [`${name}Saw`]: stage };
        if (what === "add-later") return Promise.resolve({ tier: "gold" });
        if (what === "wait") return new Promise((resolve) => setTimeout(resolve, 1));
        return undefined;
      };
      return {
        before(context, hints) {
          note(this, "before", context, { hints: hints ?? null });
          return act("before") as EvaluationContext | undefined;
        },
        after(context, details, hints) {
          note(this, "after", context, { details: { ...details }, hints: hints ?? null });
          return act("after") as undefined;
        },
        error(context, error, hints) {
          const e = error as { name?: string; code?: string; message?: string };
          note(this, "error", context, { error: [e.name, e.code, e.message], hints: hints ?? null });
          return act("error") as undefined;
        },
        finally(context, details, hints) {
          note(this, "finally", context, { details: { ...details }, hints: hints ?? null });
          return act("finally") as undefined;
        },
      };
    };
    const hooks = { global: make("global"), client: make("client"), call: make("call") };
    return hooks;
  }

  // name, hook behaviours, what the call passes as options, type, flag, default.
  const hookCases: [
    string,
    Record<string, Behaviour>,
    "call" | "hints" | "no hooks" | "none",
    string,
    string,
    unknown,
  ][] = [
    ["plain", {}, "call", "Boolean", "beta", false],
    ["before hooks add context", { "global.before": "add", "call.before": "add-later" }, "call", "Number", "tiered", 0],
    [
      "hooks that wait",
      { "client.before": "wait", "call.after": "wait", "global.finally": "wait" },
      "call",
      "String",
      "regional",
      "none",
    ],
    ["a before hook throws", { "client.before": "throw" }, "call", "Boolean", "beta", true],
    ["a before hook rejects", { "call.before": "reject" }, "call", "Boolean", "beta", true],
    ["an after hook throws", { "call.after": "throw" }, "call", "String", "regional", "none"],
    ["an after hook rejects", { "global.after": "reject" }, "hints", "String", "regional", "none"],
    [
      "error and finally hooks throw",
      { "global.before": "throw", "client.error": "throw", "call.finally": "reject" },
      "call",
      "Boolean",
      "beta",
      false,
    ],
    ["the flag is missing", {}, "call", "Boolean", "missing", true],
    ["the variant is missing", { "call.error": "wait" }, "no hooks", "Boolean", "broken", true],
    ["the flag is disabled", {}, "none", "Boolean", "off", false],
    ["a split", { "client.before": "add" }, "hints", "Boolean", "split", false],
    ["an object", {}, "no hooks", "Object", "layout", {}],
  ];

  it("runs global, client and call hooks exactly as the SDK does: the same calls, contexts, details, errors and logs", async () => {
    for (const [name, behaviour, passed, type, key, fallback] of hookCases) {
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
          const context = { userId: "7" };
          const hookHints = { case: name };
          const options =
            passed === "call"
              ? { hooks: [hooks.call], hookHints }
              : passed === "hints"
                ? { hookHints }
                : passed === "no hooks"
                  ? { hooks: [] }
                  : undefined;
          const got = await call(client, method)(key, fallback, context, options);
          // What the call handed over after it: the SDK leaves the context as it was and freezes the hints.
          const after = {
            context: { ...context },
            contextFrozen: Object.isFrozen(context),
            hintsFrozen: Object.isFrozen(hookHints),
          };
          return { got, log, logged, after };
        };
        const expected = await run(sdk);
        evaluations = 0;
        const got = await run(direct);
        expect(evaluations, `${name}: ${method} went through the SDK`).toBe(0);
        expect(got, `${name}: ${method}(${key})`).toStrictEqual(expected);
      }
    }
  });

  it("answers as the SDK does when the provider throws, with hooks and without", async () => {
    const log: unknown[] = [];
    for (const [client, which] of [
      [sdk, reference],
      [direct, provider],
    ] as const) {
      const spy = vi.spyOn(which, "resolve").mockImplementation(() => {
        throw Object.assign(new Error("evaluator broke"), { code: "PARSE_ERROR" });
      });
      try {
        log.push(await client.getBooleanDetails("beta", true, { userId: "7" }));
        log.push(await client.getStringValue("regional", "none"));
        client.addHooks({ after: () => {} });
        log.push(await client.getBooleanDetails("beta", true, { userId: "7" }));
        log.push(await client.getStringValue("regional", "none"));
        client.clearHooks();
      } finally {
        spy.mockRestore();
      }
    }
    expect(log.slice(4)).toStrictEqual(log.slice(0, 4));
    expect(log[0]).toMatchObject({
      value: true,
      reason: "ERROR",
      errorCode: "PARSE_ERROR",
      errorMessage: "evaluator broke",
    });
  });

  it("evaluates while the provider is stale and hands a failed provider to the SDK", async () => {
    provider.markStale("the sidecar is away");
    reference.markStale("the sidecar is away");
    evaluations = 0;
    expect(await direct.getBooleanDetails("beta", false, { userId: "7" })).toStrictEqual(
      await sdk.getBooleanDetails("beta", false, { userId: "7" }),
    );
    expect(evaluations).toBe(1);
    for (const p of [provider, reference]) p.events.emit(ProviderEvents.Error, { errorCode: ErrorCode.PROVIDER_FATAL });
    evaluations = 0;
    const fatal = await direct.getBooleanDetails("beta", false, { userId: "7" });
    expect(evaluations).toBe(1);
    expect(fatal).toStrictEqual(await sdk.getBooleanDetails("beta", false, { userId: "7" }));
    expect(fatal.errorCode).toBe(ErrorCode.PROVIDER_FATAL);
    for (const p of [provider, reference]) p.markReady();
  });

  it("answers from the provider bound after a before hook waited, as the SDK does", async () => {
    const replacement = () => parseFlagDefinitions(other, "other.json").then((f) => new TandemFlagProvider(f));
    const answers = [];
    for (const [client, domainOf, original] of [
      [sdk, "reference", reference],
      [direct, domain, provider],
    ] as const) {
      const swapped = await replacement();
      client.addHooks({
        before: async () => {
          await OpenFeature.setProviderAndWait(domainOf, swapped);
        },
      });
      answers.push(await client.getBooleanDetails("static", true));
      client.clearHooks();
      await OpenFeature.setProviderAndWait(domainOf, original);
    }
    expect(answers[1]).toStrictEqual(answers[0]);
    expect(answers[0]).toMatchObject({ value: false, variant: "off" });
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
