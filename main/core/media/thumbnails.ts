/**
 * Where the renditions of an image live in the project's data folder, and the sharp
 * pipelines that make them. The pipelines run in the decode workers only.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { threadId } from 'node:worker_threads';
import sharp, { type SharpOptions } from 'sharp';
import type { ImageLimits } from './image-safety.ts';

export const THUMB_MAX_SIDE = 256;
export const THUMB_QUALITY = 80;
export const PREVIEW_MAX_SIDE = 1600;
export const PREVIEW_QUALITY = 85;

/**
 * `thumbs/ab/abcdef….jpg`, relative to the data folder (stored in images.thumb). Written with
 * forward slashes on every system, so a project folder can move between machines.
 */
export function thumbRelativePath(sha256: string): string {
  return nodePath.posix.join('thumbs', sha256.slice(0, 2), `${sha256}.jpg`);
}

export function previewRelativePath(sha256: string): string {
  return nodePath.posix.join('previews', sha256.slice(0, 2), `${sha256}.jpg`);
}

/** Options for every decode: stop at truncation, refuse decompression bombs. */
export function decodeOptions(limits: ImageLimits): SharpOptions {
  return { failOn: 'truncated', limitInputPixels: limits.maxPixels };
}

/**
 * Decodes the whole image (a truncated file fails here) and encodes a JPEG of at most
 * `maxSide` pixels on its long side, EXIF orientation applied. Transparency goes on white;
 * `hasAlpha` false skips that pass, which costs as much as the resize.
 */
export function renderJpeg(bytes: Buffer, maxSide: number, quality: number, limits: ImageLimits, hasAlpha = true): Promise<Buffer> {
  let pipeline = sharp(bytes, decodeOptions(limits))
    .rotate()
    .resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true });
  if (hasAlpha) pipeline = pipeline.flatten({ background: '#ffffff' });
  // Huffman optimisation makes thumbnails ~5% smaller for ~10% more decode time at import.
  return pipeline.jpeg({ quality, optimiseCoding: false }).toBuffer();
}

/**
 * Writes a file so that readers never see half of it: a temporary name, then a rename.
 * Synchronous: it runs in the decode workers, where blocking their own thread is fine.
 */
export function writeFileAtomically(path: string, data: Buffer): void {
  fs.mkdirSync(nodePath.dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.${threadId}.tmp`;
  try {
    fs.writeFileSync(temp, data);
    fs.renameSync(temp, path);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}
