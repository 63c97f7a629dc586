import { readFileSync } from "node:fs";

/**
 * This package's version, from its package.json. The path is relative to dist/, where both this
 * module and the CLI bundle (dist/tandem-cli.cjs) sit, so it holds for either.
 */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}
