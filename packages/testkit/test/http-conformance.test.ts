import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeConformance, httpConfig, httpSuite, startFaultyUpstream } from "@tandem/testkit";
import { pino } from "pino";
import { afterAll } from "vitest";

const upstream = await startFaultyUpstream(3);
afterAll(() => upstream.close());
const file = join(mkdtempSync(join(tmpdir(), "tandem-http-")), "tandem.yaml");
writeFileSync(file, httpConfig(upstream));

describeConformance("http", (context) => httpSuite(context, () => upstream), {
  config: file,
  runtime: { logger: pino({ level: "silent" }) },
});
