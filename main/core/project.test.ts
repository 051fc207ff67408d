import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { test } from 'node:test';
import { CoreError } from './errors.ts';
import { LISTED_IMAGES_LIMIT, listFolder } from './project.ts';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-list-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('files.list: folders first, then projects, CSVs and images, in natural order; hidden and derived folders left out', async (t) => {
  const dir = tempDir(t);
  for (const f of ['img10.jpg', 'img2.JPG', 'Img1.png', 'notes.txt', '.hidden.jpg', 'labels.csv', 'a.seedbed']) fs.writeFileSync(nodePath.join(dir, f), '');
  for (const d of ['b-folder', 'A-folder', '.git', 'a.seedbed.d']) fs.mkdirSync(nodePath.join(dir, d));
  fs.symlinkSync(nodePath.join(dir, 'missing'), nodePath.join(dir, 'dangling.jpg'));
  const listing = await listFolder(dir);
  assert.deepEqual(
    listing.entries.map((e) => `${e.kind}:${e.name}`),
    ['dir:A-folder', 'dir:b-folder', 'project:a.seedbed', 'csv:labels.csv', 'image:Img1.png', 'image:img2.JPG', 'image:img10.jpg'],
  );
  assert.equal(listing.imageCount, 3);
  assert.equal(listing.parent, nodePath.dirname(dir));
});

test('files.list: a huge folder lists only the first images but counts them all', async (t) => {
  const dir = tempDir(t);
  const total = LISTED_IMAGES_LIMIT + 25;
  for (let i = 1; i <= total; i++) fs.writeFileSync(nodePath.join(dir, `photo_${i}.jpg`), '');
  fs.mkdirSync(nodePath.join(dir, 'zz-sub'));
  const listing = await listFolder(dir);
  assert.equal(listing.imageCount, total);
  const images = listing.entries.filter((e) => e.kind === 'image');
  assert.equal(images.length, LISTED_IMAGES_LIMIT);
  assert.deepEqual(images.slice(0, 3).map((e) => e.name), ['photo_1.jpg', 'photo_2.jpg', 'photo_3.jpg']);
  assert.equal(listing.entries[0]!.name, 'zz-sub', 'folders are never cut off');
});

test('files.list: a missing folder or a file is an error a person can act on', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(listFolder(nodePath.join(dir, 'nope')), (err: unknown) => err instanceof CoreError && err.code === 'not_found' && /does not exist/.test(err.message));
  fs.writeFileSync(nodePath.join(dir, 'file.jpg'), '');
  await assert.rejects(listFolder(nodePath.join(dir, 'file.jpg')), (err: unknown) => err instanceof CoreError && err.code === 'invalid_input');
});
