import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const SHARED = path.resolve(ROOT, '..', 'shared');
/** Backbone weights for tests: the shared folder, never a download (see ../shared/models/README.md). */
export const MODELS_DIR = process.env.SEEDBED_MODELS_DIR ?? path.join(SHARED, 'models');

/** Flags this machine's Chromium needs: no sandbox as root, no GPU, no calls home. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Debian's Chromium, or whatever SEEDBED_CHROMIUM points at; Playwright's own download is never used. */
export function chromiumPath(): string | undefined {
  const candidates = [process.env.SEEDBED_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => !!p && fs.existsSync(p));
}

/** The Electron binary if it is installed, else null with the reason. */
export function electronBinary(): { path: string } | { reason: string } {
  try {
    const require = createRequire(import.meta.url);
    const pkgDir = path.dirname(require.resolve('electron/package.json'));
    const pathFile = path.join(pkgDir, 'path.txt');
    if (!fs.existsSync(pathFile)) {
      return { reason: 'Electron binary not installed (it downloads on first launch; this machine cannot reach its download server)' };
    }
    const bin = path.join(pkgDir, 'dist', fs.readFileSync(pathFile, 'utf8').trim());
    return fs.existsSync(bin) ? { path: bin } : { reason: `Electron binary missing at ${bin}` };
  } catch (err) {
    return { reason: `electron package not resolvable: ${(err as Error).message}` };
  }
}

/** A fresh temp folder per test: the project file and the app's state live there. */
export function freshDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `seedbed-e2e-${prefix}-`));
}

export interface ServeHandle {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `seedbed serve` on a free port and resolves with the URL it prints (token included). */
export async function startServe(projectPath: string, stateDir: string): Promise<ServeHandle> {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'bin', 'seedbed.mjs'), 'serve', '--project', projectPath, '--port', '0'],
    { cwd: ROOT, env: { ...process.env, SEEDBED_STATE_DIR: stateDir, SEEDBED_MODELS_DIR: MODELS_DIR }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`seedbed serve printed no URL in 30 s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /(http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`seedbed serve exited with ${code}:\n${output}`));
    });
  });
  return {
    url,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGINT');
        setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
      }),
  };
}
