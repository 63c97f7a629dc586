import { describeConformance, metricsSuite } from "@tandem/testkit";
import { pino } from "pino";

describeConformance("metrics", metricsSuite, { runtime: { logger: pino({ level: "silent" }) } });
