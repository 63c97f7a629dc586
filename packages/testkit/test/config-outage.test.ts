import { ProviderEvents } from "@openfeature/server-sdk";
import { ConfigMapFixture, eventually, startSidecar } from "@tandem/testkit";
import { pino } from "pino";
import { createRuntime } from "tandem";
import { describe, expect, it } from "vitest";

const FLAGS = { flags: { f: { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "on" } } };

describe("sidecar mode while the sidecar is away", () => {
  it("keeps the last good config and flags, reports STALE, and resyncs when the sidecar is back", async () => {
    const fixture = new ConfigMapFixture();
    const write = (n: number) =>
      fixture.swap({
        "tandem.yaml": `flags: { source: flags.json, staleAfter: 300ms }\napp:\n  n: ${n}\n`,
        "flags.json": JSON.stringify(FLAGS),
      });
    write(1);
    const first = await startSidecar({ config: fixture.path("tandem.yaml") });
    const rt = await createRuntime({
      env: {},
      mode: "sidecar",
      sidecar: first.api,
      token: first.token as string,
      sidecarRequired: true,
      logger: pino({ level: "silent" }),
    });
    const events: string[] = [];
    const flags = rt.flags as unknown as { addHandler(e: string, h: () => void): void };
    flags.addHandler(ProviderEvents.Stale, () => events.push("STALE"));
    flags.addHandler(ProviderEvents.Ready, () => events.push("READY"));
    events.length = 0;

    first.kill("SIGKILL");
    await first.exited;
    // Reads go on from the last good snapshot, with no round trip to fail.
    expect(rt.config.get("app.n")).toBe(1);
    expect(await rt.flags.getBooleanValue("f", false)).toBe(true);
    await eventually(() => expect(events).toEqual(["STALE"]));

    write(2);
    const second = await startSidecar({
      config: fixture.path("tandem.yaml"),
      listen: new URL(first.api).host,
      token: first.token as string,
    });
    await eventually(() => expect(rt.config.get("app.n")).toBe(2));
    await eventually(() => expect(events).toEqual(["STALE", "READY"]));
    await rt.close();
    await second.stop();
  });
});
