import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { EventLog } from "@tandem/core";
import { describe, expect, it } from "vitest";

describe("EventLog", () => {
  it("replays what a client missed and says when it missed too much", () => {
    const log = new EventLog(3);
    for (let i = 1; i <= 5; i++) log.publish("change", { i });
    expect(log.since(3)?.map((e) => e.id)).toEqual([4, 5]);
    expect(log.since(5)).toEqual([]);
    // Event 2 has left the log: the client must re-sync from a snapshot.
    expect(log.since(1)).toBeUndefined();
  });

  it("answers an id from another log (a restarted sidecar) with a reset event", async () => {
    const log = new EventLog(8);
    log.publish("change", { n: 1 });
    const server = createServer((req, res) => log.serve(res, req.headers["last-event-id"] as string | undefined));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    const controller = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/`, {
      headers: { "last-event-id": "deadbeef-5" },
      signal: controller.signal,
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = "";
    while (!text.includes("event: reset")) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toMatch(/id: [0-9a-f]{8}-1\nevent: reset\ndata: \{\}/);
    controller.abort();
    log.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
});
