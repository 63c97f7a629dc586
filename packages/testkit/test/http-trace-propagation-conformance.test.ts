import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeConformance, httpTracePropagationSuite, httpTracesConfig, startFaultyUpstream } from "@tandem/testkit";
import { pino } from "pino";
import { afterAll } from "vitest";

const upstream = await startFaultyUpstream(1);
afterAll(async () => {
  await upstream.close();
});
const config = join(mkdtempSync(join(tmpdir(), "tandem-http-propagation-")), "tandem.yaml");
writeFileSync(config, httpTracesConfig(upstream, "http-propagation-conformance"));

// No OTEL_EXPORTER_OTLP_ENDPOINT in either process: spans are exported nowhere, trace context
// still travels (library mode: from the service; sidecar mode: from the sidecar's forward proxy).
describeConformance(
  "http trace propagation without export",
  (context) => httpTracePropagationSuite(context, upstream),
  {
    config,
    runtime: { logger: pino({ level: "silent" }) },
  },
);
