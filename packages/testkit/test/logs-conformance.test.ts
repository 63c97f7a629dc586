import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CANARY, describeConformance, logsSuite, type StartedSidecar } from "@tandem/testkit";
import { afterAll } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "tandem-logs-"));
mkdirSync(join(dir, "secrets"));
writeFileSync(join(dir, "secrets", "db-password"), CANARY);
const logFile = join(dir, "sidecar.log");
const config = join(dir, "tandem.yaml");
writeFileSync(
  config,
  `service: logs-conformance
secrets: { dir: ./secrets }
telemetry:
  logs: { level: debug, sinks: [stdout, file], file: { path: ./sidecar.log, maxSize: 1MiB, maxFiles: 2 } }
`,
);

// Library mode: the runtime's pino writes here. Sidecar mode: the sidecar's file sink.
const written: string[] = [];
const adopted: StartedSidecar[] = [];
afterAll(async () => {
  for (const sidecar of adopted) await sidecar.stop();
});

function parse(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describeConformance(
  "logs",
  (context) =>
    logsSuite(context, {
      lines: (mode) =>
        mode === "library" ? parse(written.join("")) : existsSync(logFile) ? parse(readFileSync(logFile, "utf8")) : [],
      canary: CANARY,
      config,
      adopt: (sidecar) => adopted.push(sidecar),
    }),
  {
    config,
    runtime: {
      logDestination: {
        write: (line: string) => {
          written.push(line);
        },
      },
    },
  },
);
