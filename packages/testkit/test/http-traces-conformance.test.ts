import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  describeConformance,
  httpTracesConfig,
  httpTracesSuite,
  startFaultyUpstream,
  startOtlpReceiver,
} from "@tandem/testkit";
import { pino } from "pino";
import { afterAll } from "vitest";

const receiver = await startOtlpReceiver();
const upstream = await startFaultyUpstream(1);
afterAll(async () => {
  await upstream.close();
  await receiver.close();
});
const config = join(mkdtempSync(join(tmpdir(), "tandem-http-traces-")), "tandem.yaml");
writeFileSync(config, httpTracesConfig(upstream, "http-traces-conformance"));

// Library mode: the service's attempt spans go straight to the receiver. Sidecar mode: the
// sidecar makes them, children of the service's span, and exports them itself.
const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "50" };
describeConformance("http traces", (context) => httpTracesSuite(context, receiver, upstream), {
  config,
  runtime: { logger: pino({ level: "silent" }), env: endpoint },
  sidecar: { env: endpoint },
});
