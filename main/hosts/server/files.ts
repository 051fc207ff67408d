import crypto from 'node:crypto';
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import nodePath from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Core } from '../../core/core.ts';
import { CoreError } from '../../core/errors.ts';
import { containedPath, safeSegments } from '../request-path.ts';
import { mimeFor } from '../mime.ts';
import { sendPage } from './responses.ts';

/** Serves the built renderer: `/` is index.html; nothing outside the folder is reachable. */
export async function serveStatic(
  req: IncomingMessage,
  res: ServerResponse,
  rendererDir: string,
  rawPath: string,
): Promise<void> {
  const segments = rawPath === '/' ? ['index.html'] : safeSegments(rawPath.slice(1));
  if (!segments) return sendPage(res, 400, 'That address is not allowed.');
  const file = containedPath(rendererDir, segments);
  if (!file) return sendPage(res, 400, 'That address is not allowed.');
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
  } catch {
    if (rawPath === '/') {
      return sendPage(res, 503, 'The studio page is not built yet: run `npm run build`, then start `seedbed serve` again.');
    }
    return sendPage(res, 404, 'There is nothing at this address.');
  }
  if (!stat.isFile()) return sendPage(res, 404, 'There is nothing at this address.');
  const hashed = segments[0] === 'assets';
  await sendFile(req, res, file, stat, mimeFor(nodePath.extname(file)), hashed ? 'private, max-age=31536000, immutable' : 'no-cache');
}

/**
 * Thumbnails and previews, only for images of the open project. Image ids restart in every
 * project, so a bare `/media/thumb/12` is revalidated each time (the ETag carries the file's
 * own path): switching projects never shows the previous project's picture under that id.
 * The renderer adds `?v=<content hash>`; such a URL always means the same picture and may
 * be cached for good.
 */
export async function serveMedia(
  req: IncomingMessage,
  res: ServerResponse,
  core: Core,
  kind: 'thumb' | 'preview',
  rawId: string,
  versioned: boolean,
): Promise<void> {
  if (!/^[1-9][0-9]{0,14}$/.test(rawId)) return sendPage(res, 404, 'There is no such image.');
  let media: { path: string; mime: string };
  try {
    media = await core.media(kind, Number(rawId));
  } catch (err) {
    if (err instanceof CoreError && (err.code === 'not_found' || err.code === 'no_project')) {
      return sendPage(res, 404, 'There is no such image in the open project.');
    }
    console.error(err);
    return sendPage(res, 500, 'Seedbed could not read this image; the server log has the details.');
  }
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(media.path);
  } catch {
    return sendPage(res, 404, 'There is no such image in the open project.');
  }
  await sendFile(req, res, media.path, stat, media.mime, versioned ? 'private, max-age=31536000, immutable' : 'private, max-age=0, must-revalidate');
}

async function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  file: string,
  stat: fs.Stats,
  mime: string,
  cacheControl: string,
): Promise<void> {
  const tag = crypto.createHash('sha1').update(`${file}\0${stat.size}\0${stat.mtimeMs}`).digest('base64url').slice(0, 20);
  const etag = `"${tag}"`;
  const headers = {
    'Content-Type': mime,
    'Cache-Control': cacheControl,
    ETag: etag,
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Length': stat.size });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  try {
    await pipeline(fs.createReadStream(file), res);
  } catch {
    // The client went away, or the file vanished mid-way: the response is already cut.
    res.destroy();
  }
}
