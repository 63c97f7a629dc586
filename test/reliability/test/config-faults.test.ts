import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, sidecarRuntime, startSidecar } from "@tandem/testkit";
import { createRuntime } from "tandem";
import { request } from "undici";
import { afterAll, describe, expect, it } from "vitest";
import { sampleSum } from "./support/upstream-faults.js";

// Config faults end to end: one tandem.yaml watched at once by a real sidecar (and through it a
// sidecar-mode app) and by an in-process runtime. Each fault must be rejected by both modes the
// same way: the last good config stays in force, the rejection is counted and logged with the
// file and the reason, and the next good write is applied.

const dir = mkdtempSync(join(tmpdir(), "tandem-config-faults-"));
const file = join(dir, "tandem.yaml");

/** A valid config whose version shows in `app.version`; the flow mappings make a cut fatal. */
function good(version: number): string {
  return `app:
  version: ${version}
  greeting: "hello v${version}"
upstreams:
  billing:
    endpoints: [http://127.0.0.1:9]
    timeout: { attempt: 1s, total: 2s }
    retry: { attempts: 2, on: [503] }
`;
}

/** Replaces the file in one rename, as a careful writer (or the kubelet) does. */
function writeAtomically(text: string): void {
  const tmp = join(dir, ".tandem.yaml.tmp");
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

writeAtomically(good(1));
const sidecar = await startSidecar({ config: file });
const app = await sidecarRuntime(sidecar);
const libraryLogs: string[] = [];
const library = await createRuntime({
  mode: "library",
  configPath: file,
  env: {},
  logDestination: {
    write(line: string) {
      libraryLogs.push(line);
    },
  },
});
afterAll(async () => {
  await app.close();
  await library.close();
  await sidecar.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Served {
  sidecar: unknown;
  app: unknown;
  library: unknown;
}

/** `app.version` as the sidecar's /v1/config, the sidecar-mode app and the in-process runtime serve it. */
async function served(): Promise<Served> {
  const res = await request(`${sidecar.api}/v1/config`, { headers: { authorization: `Bearer ${sidecar.token}` } });
  const body = (await res.body.json()) as { values: { app: { version: number } } };
  return {
    sidecar: body.values.app.version,
    app: app.config.get("app.version"),
    library: library.config.get("app.version"),
  };
}

async function rejectedCounts(): Promise<{ sidecar: number; library: number }> {
  const metrics = await request(`${sidecar.admin}/metrics`);
  const labels = { result: "rejected" };
  return {
    sidecar: sampleSum(await metrics.body.text(), "tandem_config_reloads_total", labels),
    library: sampleSum((await library.metrics.expose()).body, "tandem_config_reloads_total", labels),
  };
}

interface Rejection {
  event: string;
  source: string;
  reason: string;
  msg: string;
}

function rejections(lines: readonly string[]): Rejection[] {
  return lines.flatMap((line) => {
    try {
      const entry = JSON.parse(line) as Rejection;
      return entry.event === "config_rejected" ? [entry] : [];
    } catch {
      return [];
    }
  });
}

/** Per fault, what each side logged, for the report. */
const observed: string[] = [];
afterAll(() => {
  console.log(`config faults:\n${observed.join("\n")}`);
});

let version = 1;

/** Removes whatever a fault left where the file was (a directory, links), leaving no file. */
function clear(): void {
  rmSync(file, { recursive: true, force: true });
  rmSync(join(dir, "loop.yaml"), { force: true });
}

const FAULTS: [string, () => void, RegExp][] = [
  [
    "a file truncated mid-write",
    () => {
      const text = good(version + 1);
      // The writer stopped half-way, inside a flow mapping: `{ attempt: 1s, tot`.
      writeFileSync(file, text.slice(0, text.indexOf("total:") + 3));
    },
    /is not valid YAML at line \d+, column \d+/,
  ],
  [
    "the file replaced by a directory",
    () => {
      clear();
      mkdirSync(file);
    },
    /cannot be read \(EISDIR\)/,
  ],
  [
    "a symlink loop",
    () => {
      clear();
      symlinkSync(join(dir, "loop.yaml"), file);
      symlinkSync(file, join(dir, "loop.yaml"));
    },
    /cannot be read \(ELOOP\)/,
  ],
  ["invalid YAML", () => writeFileSync(file, "app:\n  version: 9\n   greeting: [unclosed\n"), /is not valid YAML/],
  [
    "a schema violation",
    () => writeFileSync(file, good(version + 1).replace("attempts: 2", "attempts: 99")),
    /is invalid, 1 problem:\n\s+- upstreams\.billing\.retry\.attempts: /,
  ],
];

describe("config faults, both modes watching one file", () => {
  it.each(FAULTS)(
    "%s: the last good config stays, counted and logged; the next good write applies",
    async (name, inflict, reason) => {
      const before = await rejectedCounts();
      const logged = { sidecar: rejections(sidecar.logs).length, library: rejections(libraryLogs).length };
      const kept = version;

      inflict();

      // Both sides saw it and said why, naming the file.
      let sidecarSaid: Rejection | undefined;
      let librarySaid: Rejection | undefined;
      await eventually(async () => {
        const now = await rejectedCounts();
        expect(now.sidecar).toBeGreaterThan(before.sidecar);
        expect(now.library).toBeGreaterThan(before.library);
        sidecarSaid = rejections(sidecar.logs)
          .slice(logged.sidecar)
          .find((r) => reason.test(r.reason));
        librarySaid = rejections(libraryLogs)
          .slice(logged.library)
          .find((r) => reason.test(r.reason));
        expect(sidecarSaid?.reason, sidecar.logs.slice(-3).join("\n")).toMatch(reason);
        expect(librarySaid?.reason).toMatch(reason);
      }, 10_000);
      for (const said of [sidecarSaid, librarySaid]) {
        expect(said?.source).toBe("config");
        expect(said?.reason).toContain(file);
        expect(said?.msg).toMatch(/the last good config stays in force/);
      }
      expect(await served()).toEqual({ sidecar: kept, app: kept, library: kept });

      // The fault is repaired: the next good write is applied everywhere.
      version++;
      if (name.includes("truncated")) {
        // The writer finishes what it started.
        const text = good(version);
        appendFileSync(file, text.slice(text.indexOf("total:") + 3));
      } else {
        clear();
        writeAtomically(good(version));
      }
      await eventually(async () => {
        expect(await served()).toEqual({ sidecar: version, app: version, library: version });
      }, 10_000);
      expect(app.config.get("app.greeting")).toBe(`hello v${version}`);
      const after = await rejectedCounts();
      observed.push(
        `${name}: rejected +${after.sidecar - before.sidecar} (sidecar) +${after.library - before.library} (library); logged "${sidecarSaid?.reason.split("\n").slice(0, 2).join(" ")}"`,
      );
    },
  );
});
