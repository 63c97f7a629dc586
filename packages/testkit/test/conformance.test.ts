import { describeConformance, runtimeSuite } from "@tandem/testkit";
import { pino } from "pino";

describeConformance("runtime", runtimeSuite, { runtime: { logger: pino({ level: "silent" }) } });
