#!/usr/bin/env node
// The CLI runs from one bundled module (scripts/bundle-cli.mjs): a sidecar then holds one module
// instead of ~450, ~12 MB less resident memory.
import { main } from "../dist/tandem-cli.js";

process.exit(await main(process.argv.slice(2)));
