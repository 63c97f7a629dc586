// Regenerates docs/benchmarks.md and its charts (docs/benchmarks/*.svg) from bench/results/*.json.
// For each scenario whose results file exists, bench/report/<name>.mjs renders it:
// `render(result, allResults) => { markdown, charts? }` (charts: file name -> SVG text). A scenario
// without results is listed as not run. Run by `pnpm bench` after the scenarios, or alone:
// `node bench/report.mjs`.

import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { buildReport, SCENARIOS } from "./lib/report-page.mjs";

const docs = new URL("../docs/", import.meta.url);
const chartsDir = new URL("./benchmarks/", docs);
const { page, charts, rendered } = await buildReport(new URL("./results/", import.meta.url));

mkdirSync(chartsDir, { recursive: true });
for (const f of readdirSync(chartsDir))
  if (f.endsWith(".svg") && charts[f] === undefined) rmSync(new URL(f, chartsDir));
for (const [file, svg] of Object.entries(charts)) writeFileSync(new URL(file, chartsDir), svg);
writeFileSync(new URL("benchmarks.md", docs), page);
console.log(
  `wrote docs/benchmarks.md (${rendered} of ${SCENARIOS.length} scenarios) and ${Object.keys(charts).length} charts`,
);
