// Pure URL rules of the Electron host (no `electron` import, so node:test can check them).
import nodePath from 'node:path';
import { fileURLToPath } from 'node:url';
import { MEDIA_SCHEME } from '../../../shared/contract/index.ts';
import { PROJECT_EXTENSION } from '../../core/store/open.ts';
import { containedPath, safeSegments } from '../request-path.ts';

/** The renderer's own scheme and origin: everything the window shows comes from here. */
export const APP_SCHEME = 'app';
export const APP_HOST = 'seedbed';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_ENTRY_URL = `${APP_ORIGIN}/index.html`;

/**
 * The CSP of every page the window loads: only our own scripts, images from our media
 * scheme, no plugins, no frames either way, and no network connection at all. Inline
 * styles stay allowed: Svelte writes `style` attributes.
 */
export const APP_CSP = [
  "default-src 'self'",
  `img-src 'self' ${MEDIA_SCHEME}: blob: data:`,
  "connect-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "script-src 'self'",
  "object-src 'none'",
  "frame-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The file under `rendererDir` an `app://seedbed/…` URL names, or null when it names none. */
export function rendererFileFor(url: string, rendererDir: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== `${APP_SCHEME}:` || parsed.host !== APP_HOST) return null;
  // The URL parser has already folded `..`; the segment check refuses what is left (encoded
  // separators, NUL) before the containment check.
  const path = parsed.pathname === '/' || parsed.pathname === '' ? '/index.html' : parsed.pathname;
  const segments = safeSegments(path.slice(1));
  return segments ? containedPath(rendererDir, segments) : null;
}

/** `seedbed-media://thumb/12` → { kind: 'thumb', id: 12 }; anything else → null. */
export function mediaRequestFor(url: string): { kind: 'thumb' | 'preview'; id: number } | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== `${MEDIA_SCHEME}:`) return null;
  if (parsed.host !== 'thumb' && parsed.host !== 'preview') return null;
  const match = /^\/([1-9][0-9]{0,14})\/?$/.exec(parsed.pathname);
  return match ? { kind: parsed.host, id: Number(match[1]) } : null;
}

/** True for addresses the system browser may open: plain web pages and nothing else. */
export function isExternalWebUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return (parsed.protocol === 'https:' || parsed.protocol === 'http:') && parsed.hostname !== '';
  } catch {
    return false;
  }
}

/** True when a frame's URL (or an origin, `app://seedbed`) is a page of ours. */
export function isAppUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === `${APP_SCHEME}:` && parsed.host === APP_HOST;
  } catch {
    return false;
  }
}

/**
 * The only permission any page gets: our own page may write to the clipboard (the "Copy"
 * buttons use `navigator.clipboard.writeText`, which Chromium gates behind this permission).
 * Everything else (camera, notifications, devices, …) is refused.
 */
export function isPermissionGranted(permission: string, requestingUrl: string): boolean {
  return permission === 'clipboard-sanitized-write' && isAppUrl(requestingUrl);
}

export interface LaunchArgs {
  /**
   * `--project FILE`, or a bare `*.seedbed` argument (how Windows and Linux hand over a
   * project file the user double-clicked): the project to open at start.
   */
  project: string | null;
  /** `--user-data-dir=DIR`: where Electron and Seedbed keep their state (tests). */
  userDataDir: string | null;
}

/**
 * Seedbed's own switches among Electron's argv (which also holds the executable, the main
 * script in development, and Chromium's switches).
 */
export function parseLaunchArgs(argv: readonly string[]): LaunchArgs {
  const out: LaunchArgs = { project: null, userDataDir: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-')) {
      const file = projectFileArgument(arg);
      if (file && !out.project) out.project = file;
      continue;
    }
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (name !== '--project' && name !== '--user-data-dir') continue;
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) continue;
      value = next;
      i++;
    }
    if (!value) continue;
    if (name === '--project') out.project = value;
    else out.userDataDir = value;
  }
  return out;
}

/** A double-clicked project as the OS passes it: a path, or a file:// URL (Linux `%U`). */
function projectFileArgument(arg: string): string | null {
  let path = arg;
  if (/^file:\/\//i.test(arg)) {
    try {
      path = fileURLToPath(arg);
    } catch {
      return null;
    }
  }
  return nodePath.extname(path).toLowerCase() === PROJECT_EXTENSION ? path : null;
}
