/**
 * The files hosts serve for an image of the open project: its thumbnail (made at import,
 * remade when missing) and a display-sized preview (made on first request). Both are JPEGs
 * in the project's data folder, rendered by the decode workers from the image's source file.
 */
import fs from 'node:fs/promises';
import nodePath from 'node:path';
import type { Database } from 'better-sqlite3';
import type { CoreContext } from '../context.ts';
import { CoreError } from '../errors.ts';
import { decodePool } from './decode-pool.ts';
import { DEFAULT_LIMITS } from './image-safety.ts';
import {
  PREVIEW_MAX_SIDE,
  PREVIEW_QUALITY,
  previewRelativePath,
  THUMB_MAX_SIDE,
  THUMB_QUALITY,
  thumbRelativePath,
} from './thumbnails.ts';

export type MediaKind = 'thumb' | 'preview';

export interface MediaFile {
  /** Absolute path of the file to serve. */
  path: string;
  mime: string;
}

interface ImageFiles {
  path: string;
  sha256: string;
  thumb: string | null;
}

/** Renditions being made now, by output path: two requests for one preview make it once. */
const rendering = new Map<string, Promise<MediaFile>>();

/**
 * The thumbnail or preview of an image of the open project. Throws `not_found` for an id the
 * project does not have, or when none of the image's source files exists any more.
 */
/** Every path an image was found at, its first path first. */
export function imageSources(db: Database, imageId: number): { sha256: string; fileName: string; sources: string[] } {
  const image = db.prepare('SELECT path, sha256 FROM images WHERE id = ?').get(imageId) as { path: string; sha256: string } | undefined;
  if (!image) throw new CoreError('not_found', `There is no image ${imageId} in this project.`);
  const others = db.prepare('SELECT path FROM image_paths WHERE image_id = ? AND path != ? ORDER BY added_at, path').pluck().all(imageId, image.path) as string[];
  return { sha256: image.sha256, fileName: nodePath.basename(image.path), sources: [image.path, ...others] };
}

export async function resolveMedia(ctx: CoreContext, kind: MediaKind, imageId: number): Promise<MediaFile> {
  const store = ctx.requireStore();
  const image = Number.isSafeInteger(imageId)
    ? (store.db.prepare('SELECT path, sha256, thumb FROM images WHERE id = ?').get(imageId) as ImageFiles | undefined)
    : undefined;
  if (!image) throw new CoreError('not_found', `There is no image ${String(imageId)} in this project.`);
  const relative = kind === 'thumb' ? (image.thumb ?? thumbRelativePath(image.sha256)) : previewRelativePath(image.sha256);
  const outPath = nodePath.join(store.dataDir, relative);
  if (await isFile(outPath)) return { path: outPath, mime: 'image/jpeg' };

  let pending = rendering.get(outPath);
  if (!pending) {
    const { sources } = imageSources(store.db, imageId);
    pending = render(ctx, kind, image.sha256, sources, outPath).finally(() => rendering.delete(outPath));
    rendering.set(outPath, pending);
  }
  const file = await pending;
  if (kind === 'thumb' && image.thumb !== relative && store.db.open) {
    store.db.prepare('UPDATE images SET thumb = ? WHERE id = ?').run(relative, imageId);
  }
  return file;
}

async function render(
  ctx: CoreContext,
  kind: MediaKind,
  sha256: string,
  sources: string[],
  outPath: string,
): Promise<MediaFile> {
  const answer = await decodePool(ctx).decode(
    {
      type: 'render',
      sources,
      sha256,
      outPath,
      maxSide: kind === 'thumb' ? THUMB_MAX_SIDE : PREVIEW_MAX_SIDE,
      quality: kind === 'thumb' ? THUMB_QUALITY : PREVIEW_QUALITY,
      limits: DEFAULT_LIMITS,
    },
    // Someone is looking at the screen for this one: it goes ahead of queued import work.
    { priority: 'high' },
  );
  switch (answer.type) {
    case 'rendered':
      return { path: answer.path, mime: 'image/jpeg' };
    case 'unavailable':
      throw new CoreError('not_found', answer.reason);
    case 'refused':
      throw new CoreError('io_error', `Seedbed cannot show ${sources[0]}: ${answer.reason}.`);
    case 'fatal':
      throw new CoreError('io_error', answer.message);
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await fs.stat(path)).isFile();
  } catch {
    return false;
  }
}
