// The soak's upstream instances (testkit's fault-injecting upstream), run as a child process
// (`fork`) so that serving the load never runs on the test's event loop. The parent sets each
// instance's fault over IPC; each change is acknowledged with the time it took effect.
import { type Fault, startFaultyUpstream } from "@tandem/testkit";

const count = Number(process.argv[2] ?? "3");
const upstream = await startFaultyUpstream(count);
process.send?.({ type: "ready", urls: upstream.instances.map((i) => i.url) });

process.on("message", (m: { type: string; index?: number; fault?: Fault; id?: number }) => {
  if (m.type === "set" && m.index !== undefined) {
    const instance = upstream.instances[m.index];
    if (instance === undefined) throw new Error(`soak-upstreams: no instance ${m.index}`);
    instance.set(m.fault ?? {});
    process.send?.({ type: "ack", id: m.id, at: Date.now() });
  } else if (m.type === "close") {
    void upstream.close().then(() => {
      process.send?.({ type: "closed", id: m.id });
      process.disconnect?.();
    });
  }
});
process.on("disconnect", () => {
  void upstream.close().finally(() => process.exit(0));
});
