#!/usr/bin/env node
// The CLI runs from one bundled CommonJS module (scripts/bundle-cli.mjs): a sidecar then holds one
// module instead of ~450, and never starts Node's ES module loader (bin/package.json makes this
// file CommonJS too).
"use strict";

const { main } = require("../dist/tandem-cli.cjs");

main(process.argv.slice(2)).then((code) => process.exit(code));
