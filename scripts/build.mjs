#!/usr/bin/env node
// `npm run build`: bundles the main-process code with esbuild into dist/main/ and the
// renderer with Vite into dist/renderer/. One line per step.
//   dist/main/cli.js          the `seedbed` command (bin/seedbed.mjs imports it)
//   dist/main/electron.mjs    Electron's main process
//   dist/main/preload.cjs     Electron's sandboxed preload (self-contained: it cannot require packages)
//   dist/main/<name>.js       every main/core/**/<name>.worker.ts, beside the bundles that start them
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const root = path.resolve(import.meta.dirname, '..');
const outDir = path.join(root, 'dist', 'main');
process.chdir(root);

function findWorkers(dir, found = []) {
  if (!fs.existsSync(dir)) return found;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) findWorkers(full, found);
    else if (entry.name.endsWith('.worker.ts')) found.push(full);
  }
  return found;
}

/** Runs one step and prints one line; `reported`: the tool already printed its errors. */
async function step(label, run, { reported = false } = {}) {
  const started = performance.now();
  try {
    const note = await run();
    const ms = Math.round(performance.now() - started);
    console.log(`build: ${label} (${ms} ms)${note ? ` ${note}` : ''}`);
  } catch (err) {
    console.error(reported ? `build: ${label} failed (errors above)` : `build: ${label} failed:\n${err?.message ?? err}`);
    process.exit(1);
  }
}

const esbuild = await import('esbuild');

const workers = findWorkers(path.join(root, 'main', 'core'));

fs.rmSync(outDir, { recursive: true, force: true });

await step(`main process → dist/main (${3 + workers.length} bundles)`, async () => {
  const common = {
    bundle: true,
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    logLevel: 'warning',
    legalComments: 'none',
  };
  // node_modules stay external: native modules (better-sqlite3, sharp) must load from there.
  const nodeBundle = { ...common, format: 'esm', packages: 'external' };
  await Promise.all([
    esbuild.build({ ...nodeBundle, entryPoints: ['main/hosts/cli/main.ts'], outfile: path.join(outDir, 'cli.js') }),
    // .mjs: Electron loads its main file as ESM by the extension.
    esbuild.build({ ...nodeBundle, entryPoints: ['main/hosts/electron/main.ts'], outfile: path.join(outDir, 'electron.mjs') }),
    workers.length > 0 &&
      esbuild.build({
        ...nodeBundle,
        entryPoints: Object.fromEntries(workers.map((w) => [path.basename(w, '.ts'), w])),
        outdir: outDir,
      }),
    esbuild.build({
      ...common,
      entryPoints: ['main/hosts/electron/preload.ts'],
      outfile: path.join(outDir, 'preload.cjs'),
      format: 'cjs',
      // A sandboxed preload may require only a few Electron modules: everything else is bundled in.
      external: ['electron'],
    }),
  ]);
  return workers.length ? `workers: ${workers.map((w) => path.basename(w, '.ts')).join(', ')}` : '';
}, { reported: true });

const viteConfig = path.join(root, 'renderer', 'vite.config.ts');
if (!fs.existsSync(viteConfig)) {
  console.log('build: renderer skipped (renderer/vite.config.ts does not exist yet)');
} else if (!fs.existsSync(path.join(root, 'renderer', 'src', 'main.ts'))) {
  console.log('build: renderer skipped (renderer/src/main.ts does not exist yet)');
} else {
  await step('renderer → dist/renderer', async () => {
    const { build } = await import('vite');
    await build({ configFile: viteConfig, logLevel: 'warn', clearScreen: false });
  });
}
