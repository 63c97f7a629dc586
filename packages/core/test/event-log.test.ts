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
});
