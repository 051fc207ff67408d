#!/usr/bin/env node
// The `seedbed` command: runs the bundled CLI that `npm run build` writes to dist/.
import fs from 'node:fs';

const cli = new URL('../dist/main/cli.js', import.meta.url);
if (!fs.existsSync(cli)) {
  console.error('Seedbed is not built yet: run `npm run build` in its folder, then try again.');
  process.exit(1);
}
await import(cli.href);
