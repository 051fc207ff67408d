// electron-builder.yml against what the installed app needs. `npm run dist` cannot run here
// (it downloads Electron), so this checks the parts that can be checked without it: the
// config is valid for the electron-builder we depend on, it ships the files the app loads,
// every package the bundles import is a production dependency (devDependencies are not
// shipped), and every native module sits outside the asar archive.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import nodePath from 'node:path';
import { test } from 'node:test';
import * as esbuild from 'esbuild';

// Every assert.ok carries a message (see main/hosts/server/server.test.ts for why).

const ROOT = nodePath.resolve(import.meta.dirname, '..', '..', '..');
const requireHere = createRequire(nodePath.join(ROOT, 'package.json'));
const requireBuilderLib = createRequire(requireHere.resolve('app-builder-lib/package.json', { paths: [nodePath.dirname(requireHere.resolve('electron-builder/package.json'))] }));

interface PackageJson {
  main?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}
interface BuilderConfig {
  files: string[];
  asarUnpack: string[];
  extraResources: { from: string; to: string }[];
  electronFuses?: Record<string, boolean>;
  fileAssociations: { ext: string; mimeType?: string }[];
}

const pkg = JSON.parse(fs.readFileSync(nodePath.join(ROOT, 'package.json'), 'utf8')) as PackageJson;
const yaml = requireBuilderLib('js-yaml') as { load(text: string): unknown };
const config = yaml.load(fs.readFileSync(nodePath.join(ROOT, 'electron-builder.yml'), 'utf8')) as BuilderConfig;

test('electron-builder.yml is valid for the electron-builder in node_modules', async () => {
  const { validateConfiguration } = requireBuilderLib('./out/util/config/config.js') as {
    validateConfiguration(config: unknown, logger: unknown): Promise<void>;
  };
  const { DebugLogger } = requireBuilderLib('builder-util/out/DebugLogger.js') as { DebugLogger: new (enabled: boolean) => unknown };
  await validateConfiguration(config, new DebugLogger(false));
  await assert.rejects(validateConfiguration({ ...config, asarUnpak: [] }, new DebugLogger(false)), /asarUnpak/, 'the validator does reject mistakes');
});

/** Whether `path` (relative to the app folder) is packed, by the `files` patterns used here. */
function isPacked(path: string): boolean {
  let packed = false;
  for (const pattern of config.files) {
    const negated = pattern.startsWith('!');
    const glob = negated ? pattern.slice(1) : pattern;
    assert.match(glob, /^[\w./-]+(\/\*\*|\/\*\*\/\*|\/\*\*\/\*\.map)?$/, `a pattern this test understands: ${pattern}`);
    const matches = glob.endsWith('/**/*.map')
      ? path.startsWith(glob.slice(0, -'**/*.map'.length)) && path.endsWith('.map')
      : glob.endsWith('/**/*') || glob.endsWith('/**')
        ? path.startsWith(glob.slice(0, glob.lastIndexOf('/**') + 1))
        : path === glob;
    if (matches) packed = !negated;
  }
  return packed;
}

test('the installer ships the entry point, preload, worker, renderer and sample', () => {
  assert.equal(pkg.main, 'dist/main/electron.mjs', 'Electron starts package.json "main"');
  for (const file of [pkg.main, 'package.json', 'dist/main/preload.cjs', 'dist/main/decode.worker.js', 'dist/renderer/index.html', 'dist/renderer/assets/index.js']) {
    assert.ok(isPacked(file), `${file} is packed`);
  }
  assert.ok(!isPacked('dist/main/electron.mjs.map'), 'source maps stay out');
  assert.ok(!isPacked('resources/sample/glass/glass1.jpg'), 'the sample is not in the archive');
  assert.deepEqual(config.extraResources, [{ from: 'resources/sample', to: 'sample' }], 'main.ts reads the sample from resources/sample');
  assert.ok(fs.existsSync(nodePath.join(ROOT, 'resources', 'sample')), 'the sample folder exists');
});

test('fuses: no Node.js by environment or flags, the app only from its archive', () => {
  assert.deepEqual(config.electronFuses, {
    runAsNode: false,
    enableNodeOptionsEnvironmentVariable: false,
    enableNodeCliInspectArguments: false,
    onlyLoadAppFromAsar: true,
    grantFileProtocolExtraPrivileges: false,
  });
  assert.ok(config.fileAssociations.every((a) => a.ext === 'seedbed' && a.mimeType), 'Linux needs a MIME type to associate .seedbed files');
});

/** A bundle made from source the way scripts/build.mjs makes it (dist/ may be older than the source). */
async function bundle(entry: string, built: string): Promise<string> {
  const result = await esbuild.build({
    entryPoints: [nodePath.join(ROOT, entry)],
    outfile: built, // in memory (write: false): names the output, writes nothing
    write: false,
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

function importedPackages(code: string): Set<string> {
  const names = new Set<string>();
  const pattern = /^\s*(?:import|export)\b[^"'\n]*?(?:from\s*)?["']([^"']+)["'];?\s*$|\bimport\(\s*["']([^"']+)["']\s*\)|\brequire\(\s*["']([^"']+)["']\s*\)/gm;
  for (const match of code.matchAll(pattern)) {
    const specifier = match[1] ?? match[2] ?? match[3]!;
    if (specifier.startsWith('.') || specifier.startsWith('/')) continue;
    const parts = specifier.split('/');
    names.add(specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
  }
  return names;
}

test('every package the shipped bundles import is a production dependency', async () => {
  const shipped = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})]);
  const builtin = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  const bundles: [string, string, string[]][] = [
    ['main/hosts/electron/main.ts', 'electron.mjs', ['electron']],
    ['main/core/media/decode.worker.ts', 'decode.worker.js', []],
  ];
  for (const [entry, built, extra] of bundles) {
    const imported = importedPackages(await bundle(entry, built));
    assert.ok(imported.size > 0, `${built}: imports were found`);
    for (const name of imported) {
      if (builtin.has(name) || builtin.has(name.replace(/^node:/, '')) || extra.includes(name)) continue;
      assert.ok(shipped.has(name), `${built} imports "${name}", which is not in package.json dependencies: the installed app would not have it`);
    }
    if (!extra.includes('electron')) assert.ok(!imported.has('electron'), `${built} runs in a worker thread, where "electron" does not exist`);
  }
});

/** A production package and every package it depends on, as installed. */
function productionPackages(): Map<string, string> {
  const found = new Map<string, string>();
  const visit = (name: string, from: string) => {
    // Node's own lookup, by hand: `exports` may hide package.json from require.resolve.
    let dir: string | null = null;
    for (let at = from; ; at = nodePath.dirname(at)) {
      const candidate = nodePath.join(at, 'node_modules', name);
      if (fs.existsSync(nodePath.join(candidate, 'package.json'))) {
        dir = candidate;
        break;
      }
      if (at === nodePath.dirname(at)) break;
    }
    if (!dir || found.has(dir)) return; // Not installed: an optional dependency for another platform.
    found.set(dir, name);
    const manifest = JSON.parse(fs.readFileSync(nodePath.join(dir, 'package.json'), 'utf8')) as PackageJson;
    for (const dep of [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.optionalDependencies ?? {})]) visit(dep, dir);
  };
  for (const dep of [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})]) visit(dep, ROOT);
  return found;
}

function hasNativeCode(dir: string, depth = 0): boolean {
  if (depth > 6) return false;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const full = nodePath.join(dir, entry.name);
    if (entry.isDirectory() ? hasNativeCode(full, depth + 1) : /\.(node|so(\.\d+)*|dylib|dll)$/.test(entry.name)) return true;
  }
  return false;
}

test('every installed production package with native code is unpacked from the asar', () => {
  for (const pattern of config.asarUnpack) {
    assert.match(pattern, /^node_modules\/[^*]+\/\*\*\/\*$/, `a pattern this test understands: ${pattern}`);
  }
  const prefixes = config.asarUnpack.map((p) => p.slice(0, -'**/*'.length));
  const native = [...productionPackages()].filter(([dir]) => hasNativeCode(dir));
  assert.ok(native.some(([, name]) => name === 'better-sqlite3'), `better-sqlite3 has native code (found: ${native.map(([, n]) => n).join(', ')})`);
  for (const [dir, name] of native) {
    const inApp = nodePath.relative(ROOT, dir).split(nodePath.sep).join('/') + '/';
    assert.ok(prefixes.some((prefix) => inApp.startsWith(prefix)), `${name} (${inApp}) holds native code but is not in asarUnpack`);
  }
});
