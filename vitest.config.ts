import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "bench/test/**/*.test.mjs"],
    // Sidecar processes run the CLI bundle: it is rebuilt from the dist under test first.
    globalSetup: ["./scripts/bundle-cli.mjs"],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Tests start real sidecar processes; two cores do not gain from more workers.
    maxWorkers: 2,
    reporters: ["default", ["json", { outputFile: ".vitest-results.json" }]],
  },
});
