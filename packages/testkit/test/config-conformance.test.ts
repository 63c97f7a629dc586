import { configFixture, configSuite, describeConformance } from "@tandem/testkit";
import { pino } from "pino";

const fixtures = configFixture();
const lines: string[] = [];
const logger = pino({ level: "info" }, { write: (line: string) => lines.push(line) });

describeConformance(
  "config, flags and secrets",
  (context) => configSuite(context, fixtures, () => [...lines, ...(context.sidecar?.logs ?? [])]),
  { config: (mode) => fixtures.configPath(mode), runtime: { logger } },
);
