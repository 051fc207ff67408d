import assert from 'node:assert/strict';
import fs from 'node:fs';
import nodePath from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { runImport } from '../data/import.ts';
import { CoreError } from '../errors.ts';
import { TestContext } from '../jobs/test-context.ts';
import { resolveMedia } from './media-files.ts';
import { orientedJpeg, solidJpeg } from './test-images.ts';

function write(path: string, bytes: Buffer): string {
  fs.mkdirSync(nodePath.dirname(path), { recursive: true });
  fs.writeFileSync(path, bytes);
  return path;
}

function imageIdAt(ctx: TestContext, path: string): number {
  return ctx.requireStore().db.prepare('SELECT image_id FROM image_paths WHERE path = ?').pluck().get(path) as number;
}

function notFound(pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof CoreError, String(err));
    assert.equal(err.code, 'not_found');
    assert.match(err.message, pattern);
    return true;
  };
}

test('thumbnails are served from the cache and remade when missing', async () => {
  const ctx = new TestContext();
  try {
    const path = write(nodePath.join(ctx.dir, 'src', 'a.jpg'), await solidJpeg(1, 640, 480));
    ctx.openProject();
    await runImport(ctx, { paths: [path], split: 'auto' });
    const id = imageIdAt(ctx, path);
    const thumb = await resolveMedia(ctx, 'thumb', id);
    assert.equal(thumb.mime, 'image/jpeg');
    assert.ok(thumb.path.startsWith(ctx.requireStore().dataDir + nodePath.sep));
    const meta = await sharp(thumb.path).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 256, 192]);
    fs.rmSync(thumb.path);
    const again = await resolveMedia(ctx, 'thumb', id);
    assert.equal(again.path, thumb.path);
    assert.ok(fs.existsSync(again.path), 'the missing thumbnail was made again');
    assert.equal((await sharp(again.path).metadata()).width, 256);
  } finally {
    await ctx.close();
  }
});

test('a preview is display-sized, oriented, made once and cached', async () => {
  const ctx = new TestContext();
  try {
    const big = write(nodePath.join(ctx.dir, 'src', 'big.jpg'), await orientedJpeg(3000, 1000, 6));
    const small = write(nodePath.join(ctx.dir, 'src', 'small.jpg'), await solidJpeg(2, 320, 240));
    ctx.openProject();
    await runImport(ctx, { paths: [big, small], split: 'auto' });
    const [first, second] = await Promise.all([
      resolveMedia(ctx, 'preview', imageIdAt(ctx, big)),
      resolveMedia(ctx, 'preview', imageIdAt(ctx, big)),
    ]);
    assert.equal(first.path, second.path);
    assert.equal(first.mime, 'image/jpeg');
    assert.ok(first.path.startsWith(nodePath.join(ctx.requireStore().dataDir, 'previews')));
    const meta = await sharp(first.path).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 533, 1600], 'long side 1600, portrait as displayed');
    const madeAt = fs.statSync(first.path).mtimeMs;
    const cached = await resolveMedia(ctx, 'preview', imageIdAt(ctx, big));
    assert.equal(cached.path, first.path);
    assert.equal(fs.statSync(cached.path).mtimeMs, madeAt, 'served from the cache');
    const smallPreview = await sharp((await resolveMedia(ctx, 'preview', imageIdAt(ctx, small))).path).metadata();
    assert.deepEqual([smallPreview.width, smallPreview.height], [320, 240], 'small images are not enlarged');
  } finally {
    await ctx.close();
  }
});

test('unknown ids and vanished or changed source files are not_found, naming the file', async () => {
  const ctx = new TestContext();
  try {
    const first = write(nodePath.join(ctx.dir, 'src', 'one.jpg'), await solidJpeg(3));
    const copy = write(nodePath.join(ctx.dir, 'src', 'copy.jpg'), await solidJpeg(3));
    const lone = write(nodePath.join(ctx.dir, 'src', 'lone.jpg'), await solidJpeg(4));
    ctx.openProject();
    await runImport(ctx, { paths: [nodePath.join(ctx.dir, 'src')], split: 'auto' });
    await assert.rejects(resolveMedia(ctx, 'thumb', 999_999), notFound(/There is no image 999999 in this project\./));
    await assert.rejects(resolveMedia(ctx, 'preview', -1), notFound(/There is no image -1/));

    // The first path is gone, the copy still holds the content: the preview comes from the copy.
    const id = imageIdAt(ctx, first);
    assert.equal(imageIdAt(ctx, copy), id);
    fs.rmSync(first);
    const preview = await resolveMedia(ctx, 'preview', id);
    assert.ok(fs.existsSync(preview.path));

    const loneId = imageIdAt(ctx, lone);
    fs.rmSync(lone);
    await assert.rejects(resolveMedia(ctx, 'preview', loneId), notFound(new RegExp(`The image file ${lone.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is no longer there`)));
    fs.writeFileSync(lone, await solidJpeg(5));
    await assert.rejects(resolveMedia(ctx, 'preview', loneId), notFound(/has changed since it was imported/));
    // The thumbnail made at import still serves.
    assert.ok(fs.existsSync((await resolveMedia(ctx, 'thumb', loneId)).path));
  } finally {
    await ctx.close();
  }
});
