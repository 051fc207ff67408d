/**
 * Near-duplicates without embeddings (hashes + thumbnail alignment) on a real photo and
 * copies of it, and thumbnail alignment itself: a zoom or shift of one photo lines up, two
 * different photos do not.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { alignment, detail, TINY_SIDE } from './align.ts';
import { nearDuplicates } from './analyse.ts';
import { CLEAN_SETTINGS } from './detect.ts';
import { imageStats, type ImageStats } from './image-stats.ts';

const TRASHNET = nodePath.resolve(import.meta.dirname, '../../../../shared/data/trashnet');
const skip = fs.existsSync(TRASHNET) ? false : 'needs ../shared/data/trashnet';
const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-analyse-test-'));
const stats = new Map<string, ImageStats>();

before(async () => {
  if (skip) return;
  const photo = nodePath.join(TRASHNET, 'metal', 'metal1.jpg');
  const other = nodePath.join(TRASHNET, 'paper', 'paper1.jpg');
  const { width, height } = await sharp(photo).metadata();
  const files: Record<string, string> = { photo, other, resized: nodePath.join(dir, 'resized.jpg'), crop: nodePath.join(dir, 'crop.jpg') };
  await sharp(photo).resize(Math.round(width! * 0.8)).jpeg({ quality: 90 }).toFile(files.resized!);
  const cw = Math.round(width! * 0.9);
  const ch = Math.round(height! * 0.9);
  await sharp(photo).extract({ left: Math.round((width! - cw) / 2), top: Math.round((height! - ch) / 2), width: cw, height: ch }).jpeg({ quality: 90 }).toFile(files.crop!);
  for (const [name, path] of Object.entries(files)) stats.set(name, await imageStats(path));
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

const thumb = (name: string) => detail(Uint8Array.from(Buffer.from(stats.get(name)!.tiny, 'base64')));
const raw = (name: string) => Float32Array.from(Buffer.from(stats.get(name)!.tiny, 'base64'));

test('a thumbnail is TINY_SIDE² pixels; a centre crop lines up with its photo, another photo does not', { skip }, () => {
  assert.equal(Buffer.from(stats.get('photo')!.tiny, 'base64').length, TINY_SIDE * TINY_SIDE);
  assert.ok(alignment(raw('photo'), raw('crop')) >= CLEAN_SETTINGS.nearDuplicates.alignRaw, `crop aligns: ${alignment(raw('photo'), raw('crop'))}`);
  assert.ok(alignment(thumb('photo'), thumb('crop')) >= CLEAN_SETTINGS.nearDuplicates.alignDetail, `crop detail aligns: ${alignment(thumb('photo'), thumb('crop'))}`);
  assert.ok(alignment(thumb('photo'), thumb('other')) < CLEAN_SETTINGS.nearDuplicates.alignDetail, `another photo does not: ${alignment(thumb('photo'), thumb('other'))}`);
});

test('without embeddings: a resize and a crop join their photo, another photo stays apart', { skip }, () => {
  const names = ['photo', 'resized', 'crop', 'other'];
  const rows = names.map((n) => stats.get(n)!);
  const groups = nearDuplicates(
    { x: null, dims: 0, n: rows.length, pHashes: rows.map((s) => s.pHash), dHashes: rows.map((s) => s.dHash), tinies: rows.map((s) => s.tiny) },
    CLEAN_SETTINGS.nearDuplicates,
  );
  assert.deepEqual(groups.map((g) => g.members.map((m) => names[m])), [['photo', 'resized', 'crop']], 'one group of the photo and its two copies');
  assert.equal(groups[0]!.hamming, 0, 'the resize is hash-identical to its photo');
});
