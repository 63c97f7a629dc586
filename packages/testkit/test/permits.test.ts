import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type StartedSidecar, samples, sidecarRuntime, spawnSidecarApp, startSidecar } from "@tandem/testkit";
import { BulkheadRejectedError } from "tandem";
import { describe, expect, it } from "vitest";

const file = join(mkdtempSync(join(tmpdir(), "tandem-permits-")), "tandem.yaml");
writeFileSync(
  file,
  `policies:
  single:
    totalTimeout: 300ms
    bulkhead: { maxConcurrent: 1, maxQueued: 0 }
`,
);

/** A real process that holds the `single` policy's only slot until it is killed. */
function holder(sidecar: StartedSidecar) {
  const child = spawnSidecarApp(
    sidecar,
    `void rt.resilience.execute("single", () => { console.log("holding"); return new Promise(() => {}); });`,
    ["ignore", "pipe", "inherit"],
  );
  const holding = new Promise<void>((resolve) =>
    child.stdout?.on("data", (c) => String(c).includes("holding") && resolve()),
  );
  return { child, holding };
}

describe("rt.resilience.execute in sidecar mode", () => {
  it("shares one bulkhead between processes, and reclaims the slot of a process that died", async () => {
    const sidecar = await startSidecar({ config: file });
    const { child, holding } = holder(sidecar);
    await holding;
    const rt = await sidecarRuntime(sidecar);
    const refused = await rt.resilience.execute("single", async () => 1).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BulkheadRejectedError);
    // The holder dies without a word; its lease (total timeout + 5 s) runs out.
    child.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 5600));
    expect(await rt.resilience.execute("single", async () => 2)).toBe(2);
    const { body } = await rt.metrics.expose();
    expect(samples(body, "tandem_rejected_total")).toContain(
      'tandem_rejected_total{policy="single",reason="bulkhead"} 1',
    );
    await rt.close();
    await sidecar.stop();
  }, 20_000);

  it("runs the policy in-process when the sidecar is gone, and counts it", async () => {
    const sidecar = await startSidecar({ config: file });
    const rt = await sidecarRuntime(sidecar);
    expect(await rt.resilience.execute("single", async () => "via sidecar")).toBe("via sidecar");
    sidecar.kill("SIGKILL");
    await sidecar.exited;
    expect(await rt.resilience.execute("single", async () => "in-process")).toBe("in-process");
    // The count reaches the pod's metrics once a sidecar is back where it was.
    const back = await startSidecar({
      config: file,
      listen: new URL(sidecar.api).host,
      token: sidecar.token as string,
    });
    const { body } = await rt.metrics.expose();
    expect(samples(body, "tandem_sidecar_fallback_total")).toEqual(["tandem_sidecar_fallback_total 1"]);
    await rt.close();
    await back.stop();
  });
});
