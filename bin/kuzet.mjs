#!/usr/bin/env node
// Thin launcher so `npx kuzet …` runs the compiled CLI (build with `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const cli = fileURLToPath(new URL('../dist/engine/cli.js', import.meta.url));
if (!existsSync(cli)) {
  console.error('kuzet: dist/engine/cli.js is missing: run `npm run build` first');
  process.exit(2);
}
await import(cli);
