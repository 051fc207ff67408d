#!/usr/bin/env node
// `npm start` (after the build): launches the desktop app.
//  1. Finds Electron's binary. It is downloaded when the `electron` package installs; where
//     that could not happen (no internet), one quick check decides whether a download can
//     work now, and if not, one sentence points to the browser host instead.
//  2. Makes a copy of better-sqlite3 built for Electron's ABI (once per Electron version,
//     cached in node_modules/.cache/seedbed/): a prebuilt binary when one can be fetched,
//     else a local node-gyp build against Electron's headers.
//  3. Starts Electron on dist/main/electron.mjs with SEEDBED_SQLITE_BINDING pointing at it.
// Arguments after `npm start --` go to the app (e.g. `npm start -- --project my.seedbed`).
// `node scripts/start.mjs --print-sqlite-binding` prepares step 2 only and prints the path
// (for test fixtures that launch Electron themselves).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const require = createRequire(path.join(root, 'package.json'));
const NO_ELECTRON =
  "Electron's binary is not installed and cannot be downloaded here; run `npm run serve` to use Seedbed in your browser instead.";
const PROBE_TIMEOUT_MS = 4_000;
const DOWNLOAD_TIMEOUT_MS = 5 * 60_000;
const BUILD_TIMEOUT_MS = 10 * 60_000;

function fail(sentence) {
  console.error(sentence);
  process.exit(1);
}

function electronPackageDir() {
  try {
    return path.dirname(require.resolve('electron/package.json'));
  } catch {
    return null;
  }
}

/**
 * The binary `electron` installed, or null (never triggers a download). Honours
 * ELECTRON_OVERRIDE_DIST_PATH (a local Electron build) the way the electron package does.
 */
function installedElectron(pkgDir) {
  const pathFile = path.join(pkgDir, 'path.txt');
  const executable = fs.existsSync(pathFile) ? fs.readFileSync(pathFile, 'utf8').trim() : null;
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  const bin = override ? path.join(override, executable || 'electron') : executable ? path.join(pkgDir, 'dist', executable) : null;
  return bin && fs.existsSync(bin) ? bin : null;
}

/** True when the server Electron downloads from answers within a few seconds. */
function canReachDownloads() {
  const base = process.env.ELECTRON_MIRROR || process.env.npm_config_electron_mirror || 'https://github.com/';
  return new Promise((resolve) => {
    let url;
    try {
      url = new URL(base);
    } catch {
      resolve(false);
      return;
    }
    // A company mirror may be plain http; anything else cannot be downloaded from.
    const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : null;
    if (!client) {
      resolve(false);
      return;
    }
    const req = client.request(url, { method: 'HEAD', timeout: PROBE_TIMEOUT_MS }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function resolveElectron() {
  const pkgDir = electronPackageDir();
  if (!pkgDir) fail(NO_ELECTRON);
  const bin = installedElectron(pkgDir);
  if (bin) return { bin, pkgDir };
  if (!(await canReachDownloads())) fail(NO_ELECTRON);
  console.error('start: downloading Electron (about 100 MB, once)…');
  const result = spawnSync(process.execPath, [path.join(pkgDir, 'install.js')], {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: DOWNLOAD_TIMEOUT_MS,
  });
  const downloaded = result.status === 0 ? installedElectron(pkgDir) : null;
  if (!downloaded) fail(NO_ELECTRON);
  return { bin: downloaded, pkgDir };
}

/** npm's own node-gyp, or one installed in node_modules. */
function nodeGyp() {
  const candidates = [
    process.env.npm_execpath && path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => c && fs.existsSync(c)) ?? null;
}

function run(cmd, args, cwd) {
  const result = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: BUILD_TIMEOUT_MS, encoding: 'utf8' });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() };
}

const BINDING_IN_PACKAGE = path.join('build', 'Release', 'better_sqlite3.node');

/**
 * better-sqlite3 compiled for this Electron, built once and cached. It is built in a folder
 * of its own and moved into place when complete, so parallel launches (the e2e workers) never
 * see, or clobber, a half-built copy.
 */
function sqliteBindingFor(electronVersion) {
  const source = path.dirname(require.resolve('better-sqlite3/package.json'));
  const sqliteVersion = JSON.parse(fs.readFileSync(path.join(source, 'package.json'), 'utf8')).version;
  const cache = path.join(root, 'node_modules', '.cache', 'seedbed', `better-sqlite3-${sqliteVersion}-electron-${electronVersion}-${process.platform}-${process.arch}`);
  const binding = path.join(cache, BINDING_IN_PACKAGE);
  if (fs.existsSync(binding)) return binding;

  console.error(`start: preparing the database module for Electron ${electronVersion} (once)…`);
  const work = `${cache}.building-${process.pid}`;
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(cache), { recursive: true });
  const builtHere = path.join(source, 'build');
  fs.cpSync(source, work, { recursive: true, filter: (src) => src !== builtHere && !src.startsWith(builtHere + path.sep) });

  const attempts = [];
  try {
    const prebuild = path.join(path.dirname(require.resolve('prebuild-install/package.json')), 'bin.js');
    attempts.push(['a prebuilt binary', process.execPath, [prebuild, '--runtime=electron', `--target=${electronVersion}`, `--arch=${process.arch}`, '--verbose']]);
  } catch {
    // No prebuild-install: go straight to compiling.
  }
  const gyp = nodeGyp();
  if (gyp) {
    attempts.push([
      'a local build',
      process.execPath,
      [gyp, 'rebuild', '--release', '--runtime=electron', `--target=${electronVersion}`, `--arch=${process.arch}`, '--dist-url=https://electronjs.org/headers'],
    ]);
  }
  const problems = [];
  for (const [what, cmd, args] of attempts) {
    const result = run(cmd, args, work);
    if (result.ok && fs.existsSync(path.join(work, BINDING_IN_PACKAGE))) {
      try {
        // A folder left by an interrupted build of an older start.mjs holds no binding.
        if (fs.existsSync(cache) && !fs.existsSync(binding)) fs.rmSync(cache, { recursive: true, force: true });
        fs.renameSync(work, cache);
      } catch (err) {
        // Another launch finished first: use its copy.
        fs.rmSync(work, { recursive: true, force: true });
        if (!fs.existsSync(binding)) throw err;
      }
      return binding;
    }
    problems.push(`${what}: ${result.output.split('\n').slice(-3).join(' ')}`);
  }
  fs.rmSync(work, { recursive: true, force: true });
  console.error(problems.join('\n'));
  fail(
    `Seedbed could not prepare its database module for Electron ${electronVersion} (no prebuilt copy could be downloaded and no C++ build tools were found); run \`npm run serve\` to use Seedbed in your browser instead.`,
  );
}

/**
 * Linux: Chromium's sandbox needs unprivileged user namespaces or a setuid-root
 * chrome-sandbox helper. With neither, Electron stops with a FATAL line about the SUID
 * helper; say beforehand how to fix it.
 */
function warnAboutLinuxSandbox(bin, args) {
  if (process.platform !== 'linux' || process.getuid?.() === 0 || args.includes('--no-sandbox')) return;
  const helper = path.join(path.dirname(bin), 'chrome-sandbox');
  let stat;
  try {
    stat = fs.statSync(helper);
  } catch {
    return;
  }
  if (stat.uid === 0 && (stat.mode & 0o4000) !== 0) return;
  const read = (file) => {
    try {
      return fs.readFileSync(file, 'utf8').trim();
    } catch {
      return null;
    }
  };
  const namespaces =
    read('/proc/sys/kernel/unprivileged_userns_clone') !== '0' && read('/proc/sys/kernel/apparmor_restrict_unprivileged_userns') !== '1';
  if (namespaces) return;
  console.warn(
    `start: this system blocks the user namespaces Chromium's sandbox uses; if Electron stops with a "SUID sandbox" error, run: sudo chown root ${helper} && sudo chmod 4755 ${helper}`,
  );
}

const printBindingOnly = process.argv.includes('--print-sqlite-binding');
const mainFile = path.join(root, 'dist', 'main', 'electron.mjs');
if (!printBindingOnly && !fs.existsSync(mainFile)) fail('Seedbed is not built yet: run `npm run build` first (or just `npm start`, which builds).');

const { bin, pkgDir } = await resolveElectron();
const electronVersion = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
const binding = sqliteBindingFor(electronVersion);
if (printBindingOnly) {
  console.log(binding);
  process.exit(0);
}

// npm runs scripts in the package folder; a relative --project means the user's own folder.
const userCwd = process.env.INIT_CWD || process.cwd();
const appArgs = process.argv.slice(2).map((arg, i, all) => {
  if (all[i - 1] === '--project') return path.resolve(userCwd, arg);
  if (arg.startsWith('--project=')) return `--project=${path.resolve(userCwd, arg.slice('--project='.length))}`;
  // `npm start -- my.seedbed`: a bare project file, as the OS passes a double-clicked one.
  if (!arg.startsWith('-') && arg.toLowerCase().endsWith('.seedbed')) return path.resolve(userCwd, arg);
  return arg;
});
const args = [mainFile, ...appArgs];
if (process.platform === 'linux' && process.getuid?.() === 0 && !args.includes('--no-sandbox')) {
  // Chromium refuses to run as root with its sandbox on; the window's own sandbox settings stay.
  console.warn('start: running as root, so Chromium starts without its OS-level sandbox.');
  args.push('--no-sandbox');
}
warnAboutLinuxSandbox(bin, args);
const env = { ...process.env, SEEDBED_SQLITE_BINDING: binding };
delete env.ELECTRON_RUN_AS_NODE;
const child = spawn(bin, args, { cwd: root, env, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
child.on('error', (err) => fail(`Electron could not start (${err.message}); run \`npm run serve\` to use Seedbed in your browser instead.`));
