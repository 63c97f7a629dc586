import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL("../..", import.meta.url));

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Sidecar processes run the CLI bundle: it is rebuilt from the dist under test first.
    globalSetup: [`${root}scripts/bundle-cli.mjs`],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Load, kill and soak tests measure a process under a known load: one file at a time, so that
    // two load tests never share the machine's two cores.
    fileParallelism: false,
    reporters: ["default", ["json", { outputFile: `${root}.vitest-reliability.json` }]],
  },
});
