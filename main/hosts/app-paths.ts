import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder that holds package.json, resources/ and dist/. This file sits two levels
 * below it both as source (main/hosts/) and once bundled (dist/main/), so one relative
 * path serves both.
 */
export const APP_ROOT = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The 30 bundled TrashNet photos the sample project is made from. */
export function defaultSampleDir(): string {
  return nodePath.join(APP_ROOT, 'resources', 'sample');
}

/** The built renderer (index.html and its assets). */
export function rendererDir(): string {
  return nodePath.join(APP_ROOT, 'dist', 'renderer');
}

/** Where the app keeps its own state (recent projects, the sample project). */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SEEDBED_STATE_DIR) return nodePath.resolve(env.SEEDBED_STATE_DIR);
  if (process.platform === 'win32' && env.APPDATA) return nodePath.join(env.APPDATA, 'Seedbed');
  const config = env.XDG_CONFIG_HOME && nodePath.isAbsolute(env.XDG_CONFIG_HOME)
    ? env.XDG_CONFIG_HOME
    : nodePath.join(os.homedir(), '.config');
  return nodePath.join(config, 'seedbed');
}

let cachedVersion: string | null = null;

/** The app's version from package.json ("0.0.0" if it cannot be read). */
export function appVersion(): string {
  if (cachedVersion) return cachedVersion;
  try {
    const pkg: unknown = JSON.parse(fs.readFileSync(nodePath.join(APP_ROOT, 'package.json'), 'utf8'));
    const version = pkg && typeof pkg === 'object' && 'version' in pkg ? pkg.version : null;
    cachedVersion = typeof version === 'string' ? version : '0.0.0';
  } catch {
    cachedVersion = '0.0.0';
  }
  return cachedVersion;
}
