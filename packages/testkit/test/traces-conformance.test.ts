import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeConformance, startOtlpReceiver, tracesSuite } from "@tandem/testkit";
import { pino } from "pino";
import { afterAll } from "vitest";

const SERVICE = "traces-conformance";
const receiver = await startOtlpReceiver();
afterAll(() => receiver.close());
const config = join(mkdtempSync(join(tmpdir(), "tandem-traces-")), "tandem.yaml");
writeFileSync(config, `service: ${SERVICE}\n`);

// Library mode exports straight to the receiver; in sidecar mode the service exports to the
// sidecar (the endpoint in its own environment is ignored), which forwards to the receiver.
const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url };
describeConformance("traces", (context) => tracesSuite(context, receiver, SERVICE), {
  config,
  runtime: { logger: pino({ level: "silent" }), env: { ...endpoint, OTEL_BSP_SCHEDULE_DELAY: "50" } },
  sidecar: { env: endpoint },
});
