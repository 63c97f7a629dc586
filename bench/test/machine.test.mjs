// What a result records of the machine and the software it measured, and the line the page shows.
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { machineLine, software } from "../lib/machine.mjs";

describe("the machine a run records", () => {
  it("names the kernel, and a virtual machine as one", () => {
    const m = { cpu: "AMD EPYC", cores: 2, ramGiB: 4, os: "Linux 6.1.0", distro: "Debian 12", node: "v24.11.1" };
    expect(machineLine(m)).toBe("AMD EPYC, 2 cores, 4 GiB RAM, Debian 12, kernel 6.1.0, Node v24.11.1");
    expect(machineLine({ ...m, virtual: true })).toBe(
      "AMD EPYC, 2 cores, 4 GiB RAM, Debian 12, kernel 6.1.0, a virtual machine, Node v24.11.1",
    );
    // Older results have the OS line only.
    expect(machineLine({ ...m, distro: undefined })).toBe("AMD EPYC, 2 cores, 4 GiB RAM, Linux 6.1.0, Node v24.11.1");
  });

  it("records the versions of the packages measured, as installed", () => {
    const found = software();
    const require = createRequire(import.meta.url);
    // autocannon exports its package.json; the others are found from their entry point.
    expect(found.autocannon).toBe(require("autocannon/package.json").version);
    for (const name of ["undici", "cockatiel", "opossum", "@openfeature/flagd-core"]) {
      expect(found[name], name).toMatch(/^\d+\.\d+\.\d+/);
    }
  });
});
