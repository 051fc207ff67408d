/**
 * Decode worker: reads, hashes, checks and decodes image files and writes their thumbnails
 * and previews, so the main thread never touches pixels. Built to dist/main/decode.worker.js.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import nodePath from 'node:path';
import sharp, { type Metadata } from 'sharp';
import { imageStats } from '../clean/image-stats.ts';
import { serveRequests } from '../jobs/worker-protocol.ts';
import { augment, decodeForAugment, imageSeed, modelViews, toJpeg } from '../augment/pipeline.ts';
import type {
  AugmentPreviewAnswer,
  AugmentPreviewRequest,
  DeriveAnswer,
  DeriveRequest,
  DecodeAnswer,
  DecodeForImport,
  DecodeRequest,
  ImportAnswer,
  MeasureAnswer,
  MeasureImage,
  RefusedFile,
  RenderAnswer,
  RenderRendition,
} from './decode-protocol.ts';
import {
  classifyFile,
  decodeErrorReason,
  EMPTY_FILE,
  fileTooLargeReason,
  isSupportedFormat,
  lacksEndMarker,
  readErrorReason,
  pixelLimitReason,
  SNIFF_BYTES,
  unsupportedReason,
  type ImageLimits,
  type SupportedFormat,
} from './image-safety.ts';
import { renderJpeg, THUMB_MAX_SIDE, THUMB_QUALITY, thumbRelativePath, writeFileAtomically } from './thumbnails.ts';

// Each worker decodes one image at a time; parallelism comes from the pool's worker count.
// libvips' operation cache only helps repeated work on the same image, which an import never does.
sharp.concurrency(1);
sharp.cache(false);

const refused = (reason: string): RefusedFile => ({ type: 'refused', reason });

type ReadResult = { bytes: Buffer } | { refused: string; missing?: boolean };

/**
 * Reads a file after checking it is a regular, non-empty, not oversized image by its first
 * bytes. Synchronous on purpose: this thread does nothing else meanwhile, and each async call
 * would wait its turn in libuv's small thread pool, which sharp uses too.
 */
function readImageFile(path: string, limits: ImageLimits): ReadResult & { format?: SupportedFormat } {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (err) {
    return { refused: readErrorReason(err), missing: (err as NodeJS.ErrnoException).code === 'ENOENT' };
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) return { refused: 'not an image file (it is not a regular file)' };
    if (stat.size === 0) return { refused: EMPTY_FILE };
    if (stat.size > limits.maxBytes) return { refused: fileTooLargeReason(stat.size, limits.maxBytes) };
    const head = Buffer.alloc(Math.min(SNIFF_BYTES, stat.size));
    const headRead = fs.readSync(fd, head, 0, head.length, 0);
    const verdict = classifyFile(path, head.subarray(0, headRead));
    if ('refuse' in verdict) return { refused: verdict.refuse };
    const bytes = Buffer.allocUnsafe(stat.size);
    let filled = 0;
    while (filled < bytes.length) {
      const n = fs.readSync(fd, bytes, filled, bytes.length - filled, filled);
      if (n === 0) break;
      filled += n;
    }
    return { bytes: filled === bytes.length ? bytes : bytes.subarray(0, filled), format: verdict.decode };
  } catch (err) {
    return { refused: readErrorReason(err) };
  } finally {
    try {
      fs.closeSync(fd);
    } catch {
      // nothing left to do with this file
    }
  }
}

interface HeaderFacts {
  format: SupportedFormat;
  hasAlpha: boolean;
  width: number;
  height: number;
  orientation: number;
}

/** Reads the image header: its real format and size; refuses unsupported formats and bombs. */
async function readHeader(bytes: Buffer, sniffed: SupportedFormat, limits: ImageLimits): Promise<HeaderFacts | RefusedFile> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { failOn: 'none' }).metadata();
  } catch (err) {
    return refused(decodeErrorReason(sniffed, (err as Error).message, lacksEndMarker(sniffed, bytes)));
  }
  let format: string = meta.format ?? sniffed;
  if (format === 'heif') format = meta.compression === 'av1' ? 'avif' : 'heic';
  if (format === 'heic') return refused(unsupportedReason('heic'));
  if (!isSupportedFormat(format)) return refused(`unsupported format: ${format.toUpperCase()} images are not supported; convert to JPEG or PNG`);
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (width <= 0 || height <= 0) return refused(decodeErrorReason(format, 'the image has no size'));
  if (width * height > limits.maxPixels) return refused(pixelLimitReason(width, height, limits.maxPixels));
  const orientation = meta.orientation ?? 1;
  const turned = orientation >= 5 && orientation <= 8;
  return {
    format,
    hasAlpha: meta.hasAlpha ?? true,
    width: meta.autoOrient?.width ?? (turned ? height : width),
    height: meta.autoOrient?.height ?? (turned ? width : height),
    orientation,
  };
}

function fatalWrite(dir: string, err: unknown): { type: 'fatal'; message: string } {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOSPC' ? 'the disk is full' :
    code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'Seedbed has no permission to write there' :
    code === 'ENOTDIR' || code === 'EEXIST' ? 'a file is in the way where a folder should be' :
    (err as Error).message;
  return { type: 'fatal', message: `Seedbed could not write image renditions to ${dir}: ${why}.` };
}

async function decodeForImport(request: DecodeForImport): Promise<ImportAnswer> {
  const read = readImageFile(request.path, request.limits);
  if ('refused' in read) return refused(read.refused);
  const { bytes } = read;
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const header = await readHeader(bytes, read.format ?? 'jpeg', request.limits);
  if ('type' in header) return header;
  const thumb = thumbRelativePath(sha256);
  const thumbPath = nodePath.join(request.dataDir, thumb);
  // A thumbnail is only ever written after a full decode of these exact bytes succeeded.
  if (!fs.existsSync(thumbPath)) {
    let jpeg: Buffer;
    try {
      jpeg = await renderJpeg(bytes, THUMB_MAX_SIDE, THUMB_QUALITY, request.limits, header.hasAlpha);
    } catch (err) {
      return refused(decodeErrorReason(header.format, (err as Error).message, lacksEndMarker(header.format, bytes)));
    }
    try {
      writeFileAtomically(thumbPath, jpeg);
    } catch (err) {
      return fatalWrite(nodePath.dirname(thumbPath), err);
    }
  }
  const { hasAlpha: _, ...facts } = header;
  return { type: 'decoded', sha256, ...facts, bytes: bytes.length, thumb };
}

async function renderRendition(request: RenderRendition): Promise<RenderAnswer> {
  const missing: string[] = [];
  let changed: string | null = null;
  let unreadable: { path: string; reason: string } | null = null;
  for (const source of request.sources) {
    const read = readImageFile(source, request.limits);
    if ('refused' in read) {
      if (read.missing) missing.push(source);
      else unreadable ??= { path: source, reason: read.refused };
      continue;
    }
    if (createHash('sha256').update(read.bytes).digest('hex') !== request.sha256) {
      changed ??= source;
      continue;
    }
    let jpeg: Buffer;
    try {
      jpeg = await renderJpeg(read.bytes, request.maxSide, request.quality, request.limits);
    } catch (err) {
      const format = read.format ?? 'jpeg';
      return refused(decodeErrorReason(format, (err as Error).message, lacksEndMarker(format, read.bytes)));
    }
    try {
      writeFileAtomically(request.outPath, jpeg);
    } catch (err) {
      return fatalWrite(nodePath.dirname(request.outPath), err);
    }
    return { type: 'rendered', path: request.outPath };
  }
  if (changed) {
    return { type: 'unavailable', changed: true, reason: `The file ${changed} has changed since it was imported, so Seedbed cannot show the image it imported.` };
  }
  if (unreadable) return { type: 'unavailable', changed: false, reason: `Seedbed cannot read ${unreadable.path}: ${unreadable.reason}.` };
  const reason =
    missing.length === 1
      ? `The image file ${missing[0]} is no longer there (Seedbed never moves or deletes source files; was it moved?).`
      : `None of the files this image was imported from is there any more: ${missing.join(', ')}.`;
  return { type: 'unavailable', changed: false, reason };
}

async function measure(request: MeasureImage): Promise<MeasureAnswer> {
  const problems: string[] = [];
  let missing = 0;
  for (const source of request.sources) {
    if (!fs.existsSync(source)) {
      missing++;
      problems.push(`${source} is no longer there`);
      continue;
    }
    try {
      return { type: 'stats', stats: await imageStats(source), path: source };
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return { type: 'unmeasurable', reason: problems.join('; ') || 'the image has no file', missing: missing === request.sources.length };
}

/**
 * The first source that still holds the imported content (a file edited since import is
 * skipped: a copy or preview must show the image the project knows), or why none does.
 */
function firstSource(sources: readonly string[], sha256: string): { path: string } | { reason: string } {
  const changed: string[] = [];
  for (const path of sources) {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(path);
    } catch {
      continue;
    }
    if (createHash('sha256').update(bytes).digest('hex') === sha256) return { path };
    changed.push(path);
  }
  if (changed.length) return { reason: `${changed.join(', ')} changed since it was imported` };
  return { reason: sources.length ? `${sources.join(', ')} ${sources.length === 1 ? 'is' : 'are'} no longer there` : 'the image has no file' };
}

async function augmentPreview(request: AugmentPreviewRequest): Promise<AugmentPreviewAnswer> {
  const source = firstSource(request.sources, request.sha256);
  if ('reason' in source) return { type: 'unreadable', reason: source.reason };
  try {
    const made = await modelViews(source.path, request.sha256, request.policy, request.seed, request.views);
    const original = await toJpeg(made.input, request.quality);
    const tiles = await Promise.all(made.views.map((v) => toJpeg(v, request.quality)));
    return { type: 'augmented', original: new Uint8Array(original), tiles: tiles.map((t) => new Uint8Array(t)) };
  } catch (err) {
    return { type: 'unreadable', reason: (err as Error).message };
  }
}

async function derive(request: DeriveRequest): Promise<DeriveAnswer> {
  const source = firstSource(request.sources, request.sha256);
  if ('reason' in source) return { type: 'unreadable', reason: source.reason };
  let jpeg: Buffer;
  try {
    const view = await augment(await decodeForAugment(source.path, request.maxSide), request.policy, imageSeed(request.seed, request.sha256), request.view);
    jpeg = await toJpeg(view, request.quality);
  } catch (err) {
    return { type: 'unreadable', reason: (err as Error).message };
  }
  try {
    fs.mkdirSync(nodePath.dirname(request.outPath), { recursive: true });
    writeFileAtomically(request.outPath, jpeg);
  } catch (err) {
    return fatalWrite(nodePath.dirname(request.outPath), err);
  }
  return { type: 'derived', path: request.outPath, bytes: jpeg.length };
}

serveRequests<DecodeRequest, DecodeAnswer>((request) => {
  switch (request.type) {
    case 'import':
      return decodeForImport(request);
    case 'stats':
      return measure(request);
    case 'augment-preview':
      return augmentPreview(request);
    case 'derive':
      return derive(request);
    default:
      return renderRendition(request);
  }
});
