import { protocol } from 'electron';
import fs from 'node:fs/promises';
import nodePath from 'node:path';
import { MEDIA_SCHEME } from '../../../shared/contract/index.ts';
import type { Core } from '../../core/core.ts';
import { CoreError } from '../../core/errors.ts';
import { mimeFor } from '../mime.ts';
import { APP_CSP, APP_SCHEME, mediaRequestFor, rendererFileFor } from './urls.ts';

/**
 * Must run before the app is ready. Both schemes are `standard` (real origins, relative
 * URLs) and `secure`; neither bypasses CSP, and no service workers.
 */
export function registerSchemes(): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true } },
    { scheme: MEDIA_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } },
  ]);
}

const SECURITY_HEADERS = {
  'Content-Security-Policy': APP_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

function notFound(): Response {
  return new Response('Not found', { status: 404, headers: { 'Content-Type': 'text/plain', ...SECURITY_HEADERS } });
}

/** `app://seedbed/…`: the built renderer, nothing outside its folder. */
export function handleAppScheme(rendererDir: string): void {
  protocol.handle(APP_SCHEME, async (request) => {
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
  });
}

/** `seedbed-media://thumb/<id>` and `preview/<id>`: only images the open project knows. */
export function handleMediaScheme(core: Core): void {
  protocol.handle(MEDIA_SCHEME, async (request) => {
    const wanted = mediaRequestFor(request.url);
    if (!wanted) return notFound();
    try {
      const media = await core.media(wanted.kind, wanted.id);
      const body = await fs.readFile(media.path);
      // Ids restart in every project: never let a cached picture outlive a project switch.
      return new Response(body, { headers: { 'Content-Type': media.mime, 'Cache-Control': 'no-store', ...SECURITY_HEADERS } });
    } catch (err) {
      if (!(err instanceof CoreError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') console.error(err);
      return notFound();
    }
  });
}
