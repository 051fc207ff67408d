// The window's two schemes. Electron's `protocol` comes in as an argument (main.ts passes the
// real one), so node:test can check the answers without an Electron binary.
import type { CustomScheme, Protocol } from 'electron';
import fs from 'node:fs/promises';
import nodePath from 'node:path';
import { MEDIA_SCHEME } from '../../../shared/contract/index.ts';
import type { Core } from '../../core/core.ts';
import { CoreError } from '../../core/errors.ts';
import { mimeFor } from '../mime.ts';
import { APP_CSP, APP_SCHEME, mediaRequestFor, rendererFileFor } from './urls.ts';

/**
 * Both schemes are `standard` (a real origin, `app://seedbed`, so relative URLs resolve and
 * localStorage works) and `secure` (a secure context; images from the media scheme are not
 * mixed content). The renderer's `<script type="module" crossorigin>` and `<link crossorigin>`
 * are CORS-mode requests to its own origin, which a standard scheme allows without
 * `corsEnabled`. `corsEnabled` stays off on purpose: it would let any other origin read these
 * responses. Neither scheme bypasses the CSP, and neither allows service workers.
 */
export const SCHEMES: CustomScheme[] = [
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true } },
  { scheme: MEDIA_SCHEME, privileges: { standard: true, secure: true } },
];

/** Must run before the app is ready, once. */
export function registerSchemes(protocol: Pick<Protocol, 'registerSchemesAsPrivileged'>): void {
  protocol.registerSchemesAsPrivileged(SCHEMES);
}

const SECURITY_HEADERS = {
  'Content-Security-Policy': APP_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

function notFound(): Response {
  return new Response('Not found', { status: 404, headers: { 'Content-Type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS } });
}

/** The answer to an `app://seedbed/…` request: a file of the built renderer, nothing outside its folder. */
export async function appResponse(request: Request, rendererDir: string): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return notFound();
  const file = rendererFileFor(request.url, rendererDir);
  if (!file) return notFound();
  try {
    const body = await fs.readFile(file);
    return new Response(request.method === 'HEAD' ? null : body, {
      headers: { 'Content-Type': mimeFor(nodePath.extname(file)), ...SECURITY_HEADERS },
    });
  } catch {
    return notFound();
  }
}

/** The answer to `seedbed-media://thumb/<id>` or `preview/<id>`: only images the open project knows. */
export async function mediaResponse(request: Request, core: Pick<Core, 'media'>): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return notFound();
  const wanted = mediaRequestFor(request.url);
  if (!wanted) return notFound();
  try {
    const media = await core.media(wanted.kind, wanted.id);
    const body = await fs.readFile(media.path);
    // Ids restart in every project: never let a cached picture outlive a project switch.
    return new Response(request.method === 'HEAD' ? null : body, {
      headers: { 'Content-Type': media.mime, 'Cache-Control': 'no-store', ...SECURITY_HEADERS },
    });
  } catch (err) {
    if (!(err instanceof CoreError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') console.error(err);
    return notFound();
  }
}

/** Serves both schemes on the default session (after `ready`). */
export function handleSchemes(protocol: Pick<Protocol, 'handle'>, rendererDir: string, core: Pick<Core, 'media'>): void {
  protocol.handle(APP_SCHEME, (request) => appResponse(request, rendererDir));
  protocol.handle(MEDIA_SCHEME, (request) => mediaResponse(request, core));
}
