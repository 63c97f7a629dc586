import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeConformance, RESILIENCE_CONFIG, resilienceSuite } from "@tandem/testkit";
import { pino } from "pino";

const file = join(mkdtempSync(join(tmpdir(), "tandem-resilience-")), "tandem.yaml");
writeFileSync(file, RESILIENCE_CONFIG);

describeConformance("resilience", resilienceSuite, { config: file, runtime: { logger: pino({ level: "silent" }) } });
