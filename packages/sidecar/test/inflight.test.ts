import type { ServerResponse } from "node:http";
import { describe, expect, it } from "vitest";
import { InflightList } from "../src/internal/inflight.js";

const answer = (name: string) => ({ name }) as unknown as ServerResponse;
const names = (list: InflightList) => [...list].map((entry) => (entry.res as unknown as { name: string }).name);

describe("InflightList", () => {
  it("holds the answers added and not yet removed, whatever the order of removal", () => {
    const list = new InflightList();
    const a = list.add(answer("a"));
    const b = list.add(answer("b"));
    const c = list.add(answer("c"));
    const d = list.add(answer("d"));
    expect(list.size).toBe(4);
    expect(names(list).sort()).toEqual(["a", "b", "c", "d"]);
    expect(list.remove(b)).toBe(true); // the middle
    expect(list.remove(d)).toBe(true); // the head
    expect(list.remove(a)).toBe(true); // the tail
    expect(names(list)).toEqual(["c"]);
    expect(list.size).toBe(1);
    expect(list.remove(c)).toBe(true);
    expect(list.size).toBe(0);
    expect(names(list)).toEqual([]);
    list.add(answer("e"));
    expect(names(list)).toEqual(["e"]);
  });

  it("removes an entry once: a second removal changes nothing", () => {
    const list = new InflightList();
    const a = list.add(answer("a"));
    list.add(answer("b"));
    expect(list.remove(a)).toBe(true);
    expect(list.remove(a)).toBe(false);
    expect(list.size).toBe(1);
    expect(names(list)).toEqual(["b"]);
  });

  it("lets a removed entry point at no other", () => {
    const list = new InflightList();
    list.add(answer("a"));
    const b = list.add(answer("b"));
    list.add(answer("c"));
    list.remove(b);
    expect(b.prev).toBeUndefined();
    expect(b.next).toBeUndefined();
  });
});
