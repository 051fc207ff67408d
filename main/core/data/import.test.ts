import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import nodePath from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import type { ImportReport, JobInfo } from '../../../shared/contract/index.ts';
import { CoreError } from '../errors.ts';
import { TestContext } from '../jobs/test-context.ts';
import { bmpFile, heicFile, noisyImage, orientedJpeg, pngBomb, randomBytes, solidJpeg, solidPng } from '../media/test-images.ts';
import { importReport, runImport, startImport } from './import.ts';
import { importHandlers, uploadDir } from './import-handlers.ts';
import { parseCsv } from './import-csv.ts';
import { applyLabels, ensureClass } from './labels-store.ts';

const TRASHNET = nodePath.resolve(import.meta.dirname, '../../../../shared/data/trashnet');
const haveData = fs.existsSync(TRASHNET);
const skip = haveData ? false : 'needs ../shared/data/trashnet';
const isRoot = process.getuid?.() === 0;

function write(root: string, relative: string, bytes: Buffer | string): string {
  const path = nodePath.join(root, relative);
  fs.mkdirSync(nodePath.dirname(path), { recursive: true });
  fs.writeFileSync(path, bytes);
  return path;
}

interface ImageDbRow {
  id: number;
  path: string;
  sha256: string;
  width: number;
  height: number;
  format: string;
  bytes: number;
  orientation: number;
  thumb: string | null;
}

function images(ctx: TestContext): ImageDbRow[] {
  return ctx.requireStore().db.prepare('SELECT * FROM images ORDER BY path').all() as ImageDbRow[];
}

function imageAt(ctx: TestContext, path: string): ImageDbRow | undefined {
  return ctx.requireStore().db.prepare('SELECT i.* FROM images i JOIN image_paths p ON p.image_id = i.id WHERE p.path = ?').get(path) as
    | ImageDbRow
    | undefined;
}

/** Class name and split of the image found at a path. */
function labelAt(ctx: TestContext, path: string): { className: string | null; split: string | null; source: string | null } {
  const row = ctx
    .requireStore()
    .db.prepare(
      `SELECT c.name AS className, s.split AS split, l.source AS source
       FROM image_paths p JOIN images i ON i.id = p.image_id
       LEFT JOIN labels l ON l.image_id = i.id LEFT JOIN classes c ON c.id = l.class_id
       LEFT JOIN splits s ON s.image_id = i.id WHERE p.path = ?`,
    )
    .get(path) as { className: string | null; split: string | null; source: string | null } | undefined;
  assert.ok(row, `an image was imported from ${path}`);
  return row;
}

function count(ctx: TestContext, table: string): number {
  return ctx.requireStore().db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
}

function tableSnapshot(ctx: TestContext): Record<string, unknown[]> {
  const db = ctx.requireStore().db;
  const all = (sql: string) => db.prepare(sql).all();
  return {
    images: all('SELECT * FROM images ORDER BY id'),
    image_paths: all('SELECT * FROM image_paths ORDER BY path'),
    classes: all('SELECT * FROM classes ORDER BY id'),
    labels: all('SELECT * FROM labels ORDER BY image_id'),
    label_history: all('SELECT * FROM label_history ORDER BY id'),
    splits: all('SELECT * FROM splits ORDER BY image_id'),
  };
}

async function thumbSize(ctx: TestContext, image: ImageDbRow): Promise<{ width: number; height: number }> {
  assert.ok(image.thumb, `image ${image.path} has a thumbnail`);
  assert.equal(image.thumb, `thumbs/${image.sha256.slice(0, 2)}/${image.sha256}.jpg`);
  const meta = await sharp(nodePath.join(ctx.requireStore().dataDir, image.thumb)).metadata();
  assert.equal(meta.format, 'jpeg');
  return { width: meta.width!, height: meta.height! };
}

function fingerprint(path: string): string {
  const stat = fs.statSync(path);
  return `${stat.size}:${stat.mtimeMs}:${createHash('sha256').update(fs.readFileSync(path)).digest('hex')}`;
}

test('bad input never stops the batch: every bad file is reported with its path and a reason', async (t) => {
  const ctx = new TestContext();
  const root = nodePath.join(ctx.dir, 'incoming');
  const chmodded: string[] = [];
  try {
    ctx.openProject();
    let seed = 10;
    const good: string[] = [];
    const addGood = async (name: string, bytes?: Buffer) => good.push(write(root, name, bytes ?? (await solidJpeg(seed++))));
    await addGood('photo.jpg');
    await addGood('transparent.png', await sharp({ create: { width: 40, height: 30, channels: 4, background: { r: 0, g: 90, b: 0, alpha: 0.5 } } }).png().toBuffer());
    await addGood('pic.webp', await sharp(await solidPng(seed++)).webp().toBuffer());
    await addGood('anim.gif', await sharp(await solidPng(seed++)).gif().toBuffer());
    await addGood('page.tiff', await sharp(await solidPng(seed++)).tiff().toBuffer());
    await addGood('modern.avif', await sharp(await solidPng(seed++)).avif().toBuffer());
    await addGood('really-a-png.jpg', await solidPng(seed++));
    // Odd and non-ASCII names import like any other.
    const oddNames = [
      'with space.jpg',
      'ünïcødé-ñame.jpg',
      'emoji 🌱🐝.jpg',
      `quote "double" 'single'.jpg`,
      '-leading-dash.jpg',
      '--help.jpg',
      `${'long-name-'.repeat(24)}.jpg`,
      'new\nline.jpg',
      '#hash %20 & ampersand;.jpg',
      'café-decomposed.jpg'.normalize('NFD'),
      '日本語の写真.JPG',
    ];
    for (const name of oddNames) await addGood(name);
    await addGood('nested/inner.jpg');

    const bad: Record<string, RegExp> = {};
    const addBad = (name: string, bytes: Buffer | string, reason: RegExp) => {
      write(root, name, bytes);
      bad[nodePath.join(root, name)] = reason;
    };
    const noisyJpeg = await noisyImage(400, 300).jpeg().toBuffer();
    const noisyPng = await noisyImage(200, 150).png().toBuffer();
    addBad('empty.jpg', Buffer.alloc(0), /^the file is empty \(0 bytes\)$/);
    addBad('truncated.jpg', noisyJpeg.subarray(0, Math.floor(noisyJpeg.length * 0.6)), /^the file is truncated: its JPEG data ends early/);
    addBad('truncated.png', noisyPng.subarray(0, Math.floor(noisyPng.length * 0.6)), /^the file is truncated: its PNG data ends early/);
    addBad('corrupt.jpg', Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), randomBytes(3000, 7), Buffer.from([0xff, 0xd9])]), /^the file is damaged: its JPEG data is corrupt and cannot be decoded/);
    addBad('random.jpg', randomBytes(5000), /^not an image: its content is not a JPEG, PNG, WebP, GIF, TIFF or AVIF image even though it is named \.jpg$/);
    addBad('text.png', 'this is not a picture\n', /^not an image: .* even though it is named \.png \(it holds text\)$/);
    addBad('image.bmp', bmpFile(), /^unsupported format: BMP images are not supported; convert to JPEG or PNG$/);
    addBad('IMG_0001.HEIC', heicFile(), /^unsupported format: HEIC images are not supported; convert to JPEG or PNG$/);
    addBad('drawing.svg', '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', /^unsupported format: SVG images are not supported/);
    addBad('notes.txt', 'remember to label the cats', /^not an image file$/);
    addBad('bomb.png', pngBomb(12_000, 12_000), /^the image is too large to open safely: 12,000 × 12,000 pixels \(144 megapixels; the limit is 100 megapixels\)$/);
    fs.symlinkSync('missing-target.jpg', nodePath.join(root, 'dangling.jpg'));
    bad[nodePath.join(root, 'dangling.jpg')] = /^broken link: it points to missing-target\.jpg, which does not exist$/;
    fs.symlinkSync('selfloop.jpg', nodePath.join(root, 'selfloop.jpg'));
    bad[nodePath.join(root, 'selfloop.jpg')] = /^symlink loop: this link points back to itself/;
    fs.symlinkSync('..', nodePath.join(root, 'nested', 'loop'));
    const loopReason = new RegExp(`^symlink loop: this folder leads back to ${root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; Seedbed did not follow it again$`);

    // Litter: skipped silently.
    write(root, '.DS_Store', randomBytes(100));
    write(root, 'Thumbs.db', randomBytes(100));
    write(root, 'desktop.ini', '[.ShellClassInfo]');
    write(root, '._photo.jpg', randomBytes(100));
    write(root, '__MACOSX/._photo.jpg', randomBytes(100));
    write(root, '.hidden/secret.jpg', await solidJpeg(999));

    // Unreadable file and folder (root reads them anyway).
    const locked = write(root, 'locked.jpg', await solidJpeg(seed++));
    const lockedFolder = nodePath.join(root, 'locked-folder');
    const insideLocked = write(root, 'locked-folder/inside.jpg', await solidJpeg(seed++));
    fs.chmodSync(locked, 0o000);
    fs.chmodSync(lockedFolder, 0o000);
    chmodded.push(locked, lockedFolder);

    const readable = good.filter((p) => fs.existsSync(p));
    const before = new Map(readable.map((p) => [p, fingerprint(p)]));

    const report = await runImport(ctx, { paths: [root], split: 'auto' });

    const byPath = new Map(report.skipped.map((s) => [s.path, s.reason]));
    for (const [path, reason] of Object.entries(bad)) {
      assert.ok(byPath.has(path), `${nodePath.basename(path)} is reported`);
      assert.match(byPath.get(path)!, reason, nodePath.basename(path));
    }
    const loops = report.skipped.filter((s) => s.reason.startsWith('symlink loop: this folder'));
    assert.equal(loops.length, 1, 'the loop is reported once');
    assert.equal(loops[0]!.path, nodePath.join(root, 'nested', 'loop'));
    assert.match(loops[0]!.reason, loopReason);
    for (const s of report.skipped) {
      assert.ok(!/DS_Store|Thumbs\.db|desktop\.ini|\._photo|__MACOSX|\.hidden/.test(s.path), `litter is not reported: ${s.path}`);
    }
    for (const path of good) assert.ok(imageAt(ctx, path), `${JSON.stringify(nodePath.basename(path))} imported`);

    const expectedImported = good.length + 2; // + locked.jpg and locked-folder/inside.jpg where readable
    await t.test('unreadable file and folder', (st) => {
      if (isRoot) {
        st.skip('running as root: chmod 000 does not stop root from reading, so both imported');
        assert.ok(imageAt(ctx, locked) && imageAt(ctx, insideLocked));
        return;
      }
      assert.equal(byPath.get(locked), 'Seedbed has no permission to read this file');
      assert.equal(byPath.get(lockedFolder), 'Seedbed has no permission to open this folder');
    });
    const unreadableCount = isRoot ? 0 : 2;
    const badFiles = Object.keys(bad).length;
    assert.equal(report.imported, expectedImported - unreadableCount);
    assert.equal(report.duplicates, 0);
    assert.equal(report.unchanged, 0);
    assert.equal(report.skipped.length, badFiles + 1 + unreadableCount);
    // Files looked at: the good, the bad and the unreadable file; folders (the loop, the locked one) are not files.
    assert.equal(report.scanned, expectedImported + badFiles - (isRoot ? 0 : 1));
    assert.deepEqual(report.classes, isRoot ? { nested: 1, 'locked-folder': 1 } : { nested: 1 });
    assert.equal(report.status, 'done');
    assert.equal(count(ctx, 'images'), report.imported);

    const formats = new Set(images(ctx).map((i) => i.format));
    assert.deepEqual([...formats].sort(), ['avif', 'gif', 'jpeg', 'png', 'tiff', 'webp']);
    assert.equal(imageAt(ctx, nodePath.join(root, 'really-a-png.jpg'))!.format, 'png');
    for (const image of images(ctx)) {
      const size = await thumbSize(ctx, image);
      assert.ok(Math.max(size.width, size.height) <= 256, 'thumbnails are at most 256 px');
    }
    // The report is stored: counts in jobs.result, skipped files in import_skips.
    const stored = importReport(ctx.requireStore().db, report.jobId);
    assert.deepEqual({ ...stored, elapsedSeconds: 0 }, { ...report, elapsedSeconds: 0 });
    // Sources are never modified.
    for (const [path, print] of before) assert.equal(fingerprint(path), print, `${path} untouched`);
  } finally {
    for (const p of chmodded) fs.chmodSync(p, 0o755);
    await ctx.close();
  }
});

test('class-named subfolders label their images; loose images import unlabeled; a split can be forced', async () => {
  const ctx = new TestContext();
  try {
    const root = nodePath.join(ctx.dir, 'pets');
    const a = write(root, 'cats/a.jpg', await solidJpeg(1));
    const b = write(root, 'cats/b.jpg', await solidJpeg(2));
    const c = write(root, 'Dogs/c.png', await solidPng(3));
    const d = write(root, 'birds/deeper/nested/d.jpg', await solidJpeg(4));
    const loose = write(root, 'loose.jpg', await solidJpeg(5));
    const dropped = write(ctx.dir, 'elsewhere/parrots/dropped.jpg', await solidJpeg(6));

    ctx.openProject('auto.seedbed');
    const report = await runImport(ctx, { paths: [root, dropped], split: 'auto' });
    assert.equal(report.imported, 6);
    assert.deepEqual(report.classes, { cats: 2, Dogs: 1, birds: 1 });
    assert.deepEqual(labelAt(ctx, a), { className: 'cats', split: null, source: 'imported' });
    assert.deepEqual(labelAt(ctx, b), { className: 'cats', split: null, source: 'imported' });
    assert.deepEqual(labelAt(ctx, c), { className: 'Dogs', split: null, source: 'imported' });
    assert.equal(labelAt(ctx, d).className, 'birds', 'deeper folders keep the class-level folder name');
    assert.equal(labelAt(ctx, loose).className, null);
    assert.equal(labelAt(ctx, dropped).className, null, 'a dropped loose file is unlabeled');
    const history = ctx.requireStore().db.prepare('SELECT class_name, source FROM label_history ORDER BY class_name COLLATE NOCASE').all();
    assert.deepEqual(history, [
      { class_name: 'birds', source: 'imported' },
      { class_name: 'cats', source: 'imported' },
      { class_name: 'cats', source: 'imported' },
      { class_name: 'Dogs', source: 'imported' },
    ]);
    const classes = ctx.requireStore().db.prepare('SELECT name, hotkey FROM classes ORDER BY position').all();
    assert.equal(classes.length, 3);
    assert.equal(count(ctx, 'splits'), 0);

    ctx.openProject('forced.seedbed');
    await runImport(ctx, { paths: [root], split: 'val' });
    for (const p of [a, b, c, d, loose]) assert.equal(labelAt(ctx, p).split, 'val');
    assert.equal(labelAt(ctx, a).className, 'cats');
    const source = ctx.requireStore().db.prepare('SELECT DISTINCT source FROM splits').pluck().all();
    assert.deepEqual(source, ['imported']);
  } finally {
    await ctx.close();
  }
});

test('a top level of train/val/test folders assigns splits, the next level classes', async () => {
  const ctx = new TestContext();
  try {
    const root = nodePath.join(ctx.dir, 'dataset');
    const files = {
      trainCat: write(root, 'Train/cat/1.jpg', await solidJpeg(11)),
      trainDog: write(root, 'Train/dog/2.jpg', await solidJpeg(12)),
      trainLoose: write(root, 'Train/5.jpg', await solidJpeg(15)),
      trainDeep: write(root, 'Train/cat/more/6.jpg', await solidJpeg(16)),
      validCat: write(root, 'valid/cat/3.jpg', await solidJpeg(13)),
      testDog: write(root, 'TEST/dog/4.jpg', await solidJpeg(14)),
      rootLoose: write(root, 'README.jpg', await solidJpeg(17)),
    };
    ctx.openProject('auto.seedbed');
    const report = await runImport(ctx, { paths: [root], split: 'auto' });
    assert.equal(report.imported, 7);
    assert.deepEqual(report.classes, { cat: 3, dog: 2 });
    assert.deepEqual(labelAt(ctx, files.trainCat), { className: 'cat', split: 'train', source: 'imported' });
    assert.deepEqual(labelAt(ctx, files.trainDog), { className: 'dog', split: 'train', source: 'imported' });
    assert.deepEqual(labelAt(ctx, files.trainLoose), { className: null, split: 'train', source: null });
    assert.deepEqual(labelAt(ctx, files.trainDeep), { className: 'cat', split: 'train', source: 'imported' });
    assert.deepEqual(labelAt(ctx, files.validCat), { className: 'cat', split: 'val', source: 'imported' });
    assert.deepEqual(labelAt(ctx, files.testDog), { className: 'dog', split: 'test', source: 'imported' });
    assert.deepEqual(labelAt(ctx, files.rootLoose), { className: null, split: null, source: null });
    assert.equal(count(ctx, 'classes'), 2, 'split folders are not classes');

    ctx.openProject('none.seedbed');
    await runImport(ctx, { paths: [root], split: 'none' });
    assert.equal(count(ctx, 'splits'), 0);
    assert.deepEqual(labelAt(ctx, files.testDog), { className: 'dog', split: null, source: 'imported' });

    ctx.openProject('test.seedbed');
    await runImport(ctx, { paths: [root], split: 'test' });
    for (const p of Object.values(files)) assert.equal(labelAt(ctx, p).split, 'test');
    assert.equal(labelAt(ctx, files.validCat).className, 'cat');
  } finally {
    await ctx.close();
  }
});

test('parseCsv handles quotes, commas, line breaks inside quotes and CRLF', () => {
  const text = '\ufeffpath,label\r\n"a, b.jpg","say ""hi"""\r\n  plain.jpg , cat \r\n\r\n"multi\nline.jpg",x\r\nlast.jpg,';
  assert.deepEqual([...parseCsv(text)], [
    ['path', 'label'],
    ['a, b.jpg', 'say "hi"'],
    ['plain.jpg', 'cat'],
    [''],
    ['multi\nline.jpg', 'x'],
    ['last.jpg', ''],
  ]);
});

test('a CSV of path,label[,split] imports its rows; bad rows are reported by row number', async () => {
  const ctx = new TestContext();
  try {
    const dir = nodePath.join(ctx.dir, 'csv-import');
    const a = write(dir, 'images/a.jpg', await solidJpeg(21));
    const comma = write(dir, 'images/with, comma.jpg', await solidJpeg(22));
    const quote = write(dir, 'images/quote "q".jpg', await solidJpeg(23));
    const absolute = write(ctx.dir, 'elsewhere/b.jpg', await solidJpeg(24));
    const multi = write(dir, 'images/multi\nline.jpg', await solidJpeg(25));
    write(dir, 'images/c.jpg', await solidJpeg(26));
    const csv = write(
      dir,
      'labels.csv',
      [
        'path,label,split',
        'images/a.jpg,cat,train',
        '"images/with, comma.jpg","dog",val',
        '"images/quote ""q"".jpg",,test',
        `${absolute},cat,`,
        'images/missing.jpg,cat,train',
        'images/a.jpg,dog,train',
        'images/c.jpg,cat,trian',
        '"images/multi\nline.jpg",bird,Validation',
        '',
      ].join('\r\n'),
    );
    ctx.openProject();
    const report = await runImport(ctx, { csvPath: csv, split: 'auto' });
    assert.equal(report.imported, 5);
    assert.equal(report.scanned, 8, 'each data row is looked at');
    assert.deepEqual(report.classes, { cat: 2, dog: 1, bird: 1 });
    assert.deepEqual(report.skipped, [
      { path: nodePath.join(dir, 'images/missing.jpg'), reason: 'row 6: the file does not exist' },
      { path: a, reason: 'row 7: this file is already listed in row 2' },
      { path: nodePath.join(dir, 'images/c.jpg'), reason: 'row 8: "trian" is not a split; use train, val or test' },
    ]);
    assert.deepEqual(labelAt(ctx, a), { className: 'cat', split: 'train', source: 'imported' });
    assert.deepEqual(labelAt(ctx, comma), { className: 'dog', split: 'val', source: 'imported' });
    assert.deepEqual(labelAt(ctx, quote), { className: null, split: 'test', source: null });
    assert.deepEqual(labelAt(ctx, absolute), { className: 'cat', split: null, source: 'imported' });
    assert.deepEqual(labelAt(ctx, multi), { className: 'bird', split: 'val', source: 'imported' });

    // No header row; a forced split wins over the file's.
    const bare = write(dir, 'bare.csv', `images/c.jpg,owl,test\n${nodePath.join(dir, 'images/bad.jpg')},owl\n`);
    write(dir, 'images/bad.jpg', 'not really a jpeg');
    const second = await runImport(ctx, { csvPath: bare, split: 'train' });
    assert.equal(second.imported, 1);
    assert.deepEqual(labelAt(ctx, nodePath.join(dir, 'images/c.jpg')), { className: 'owl', split: 'train', source: 'imported' });
    assert.deepEqual(second.skipped, [
      { path: nodePath.join(dir, 'images/bad.jpg'), reason: 'row 2: not an image: its content is not a JPEG, PNG, WebP, GIF, TIFF or AVIF image even though it is named .jpg (it holds text)' },
    ]);
  } finally {
    await ctx.close();
  }
});

test('the same content under two paths is one image with both paths', async () => {
  const ctx = new TestContext();
  try {
    const root = nodePath.join(ctx.dir, 'dupes');
    const bytes = await solidJpeg(31);
    const first = write(root, 'one/x.jpg', bytes);
    const second = write(root, 'two/y.jpg', bytes);
    write(root, 'two/z.jpg', await solidJpeg(32));
    ctx.openProject();
    const report = await runImport(ctx, { paths: [root], split: 'auto' });
    assert.equal(report.imported, 2);
    assert.equal(report.duplicates, 1);
    assert.equal(count(ctx, 'images'), 2);
    const image = imageAt(ctx, first)!;
    assert.equal(imageAt(ctx, second)!.id, image.id);
    assert.equal(image.path, first, 'the image keeps the first path it was found at');
    const paths = ctx.requireStore().db.prepare('SELECT path FROM image_paths WHERE image_id = ? ORDER BY path').pluck().all(image.id);
    assert.deepEqual(paths, [first, second]);
    assert.equal(labelAt(ctx, second).className, 'one', 'the first label stays');
    assert.deepEqual(report.classes, { one: 1, two: 2 }, 'files per class folder, as the user sorted them');
    assert.deepEqual(report.conflicts, [{ path: second, folderClass: 'two', keptClass: 'one' }], 'the disagreeing file is named');

    // Two imports of one folder at once still make one image per content.
    const other = nodePath.join(ctx.dir, 'twice');
    for (let i = 0; i < 12; i++) write(other, `f${i}.jpg`, await solidJpeg(40 + i));
    const jobs = [startImport(ctx, { paths: [other], split: 'auto' }), startImport(ctx, { paths: [other], split: 'auto' })];
    const ended = await Promise.all(jobs.map((j) => ctx.jobs.wait(j.id)));
    assert.deepEqual(ended.map((j) => j.status), ['done', 'done']);
    const reports = jobs.map((j) => importReport(ctx.requireStore().db, j.id));
    assert.equal(reports[0]!.imported + reports[1]!.imported, 12);
    assert.equal(reports[0]!.skipped.length + reports[1]!.skipped.length, 0);
    assert.equal(count(ctx, 'images'), 14);
  } finally {
    await ctx.close();
  }
});

test('re-importing changes nothing; a changed file is new content; import never overwrites a label or split', async () => {
  const ctx = new TestContext();
  try {
    const root = nodePath.join(ctx.dir, 'again');
    const a = write(root, 'cats/a.jpg', await solidJpeg(51));
    write(root, 'cats/b.jpg', await solidJpeg(52));
    const c = write(root, 'dogs/c.jpg', await solidJpeg(53));
    const d = write(root, 'dogs/d.jpg', await solidJpeg(54));
    write(root, 'broken.jpg', 'nope');
    ctx.openProject();
    const first = await runImport(ctx, { paths: [root], split: 'train' });
    assert.equal(first.imported, 4);
    const snapshot = tableSnapshot(ctx);
    const changedEvents = ctx.eventsOf('dataset.changed').length;
    assert.ok(changedEvents >= 1, 'the first import announced its changes');

    const again = await runImport(ctx, { paths: [root], split: 'train' });
    assert.equal(again.imported, 0);
    assert.equal(again.duplicates, 0);
    assert.equal(again.unchanged, 4);
    assert.equal(again.skipped.length, 1, 'the broken file is reported again');
    assert.deepEqual(again.classes, { cats: 2, dogs: 2 }, 'the report still describes the folders');
    assert.deepEqual(again.conflicts, []);
    assert.deepEqual(tableSnapshot(ctx), snapshot, 'no table changed');
    assert.equal(ctx.eventsOf('dataset.changed').length, changedEvents, 'nothing to announce');

    // A person's label and split win over what the folders say.
    const db = ctx.requireStore().db;
    const imageC = imageAt(ctx, c)!;
    applyLabels(db, [imageC.id], ensureClass(db, 'wolves'), 'human');
    db.prepare("UPDATE splits SET split = 'test', source = 'manual' WHERE image_id = ?").run(imageC.id);
    const historyBefore = count(ctx, 'label_history');
    // Same content, new modification time: unchanged, not re-decoded, and no relabel.
    fs.utimesSync(d, new Date(), new Date(Date.now() + 5000));
    const third = await runImport(ctx, { paths: [root], split: 'train' });
    assert.equal(third.unchanged, 4);
    assert.deepEqual(labelAt(ctx, c), { className: 'wolves', split: 'test', source: 'human' });
    assert.equal(count(ctx, 'label_history'), historyBefore);

    // New content at a known path is a new image; the path now points at it.
    const oldA = imageAt(ctx, a)!;
    fs.writeFileSync(a, await solidJpeg(55));
    const fourth = await runImport(ctx, { paths: [root], split: 'train' });
    assert.equal(fourth.imported, 1);
    assert.equal(fourth.unchanged, 3);
    const newA = imageAt(ctx, a)!;
    assert.notEqual(newA.id, oldA.id);
    assert.notEqual(newA.sha256, oldA.sha256);
    assert.deepEqual(labelAt(ctx, a), { className: 'cats', split: 'train', source: 'imported' });
    assert.equal(count(ctx, 'images'), 5);
  } finally {
    await ctx.close();
  }
});

test('an unlabeled image gets the label a later import finds for it', async () => {
  const ctx = new TestContext();
  try {
    const bytes = await solidJpeg(61);
    const loose = write(ctx.dir, 'loose/photo.jpg', bytes);
    const root = nodePath.join(ctx.dir, 'sorted');
    write(root, 'herons/photo-copy.jpg', bytes);
    ctx.openProject();
    await runImport(ctx, { paths: [loose], split: 'auto' });
    assert.equal(labelAt(ctx, loose).className, null);
    const report = await runImport(ctx, { paths: [root], split: 'auto' });
    assert.equal(report.duplicates, 1);
    assert.deepEqual(report.classes, { herons: 1 });
    assert.equal(labelAt(ctx, loose).className, 'herons');
  } finally {
    await ctx.close();
  }
});

test('EXIF orientation: stored size and thumbnail are as displayed', async () => {
  const ctx = new TestContext();
  try {
    const path = write(ctx.dir, 'phone/IMG_1234.jpg', await orientedJpeg(300, 100, 6));
    const meta = await sharp(path).metadata();
    assert.deepEqual([meta.width, meta.height, meta.orientation], [300, 100, 6], 'the file itself is landscape with orientation 6');
    ctx.openProject();
    await runImport(ctx, { paths: [path], split: 'auto' });
    const image = imageAt(ctx, path)!;
    assert.deepEqual([image.width, image.height, image.orientation, image.format], [100, 300, 6, 'jpeg']);
    const thumb = await thumbSize(ctx, image);
    assert.deepEqual(thumb, { width: 85, height: 256 });
    // The thumbnail is really turned: the file is portrait with no orientation left to apply.
    const thumbMeta = await sharp(nodePath.join(ctx.requireStore().dataDir, image.thumb!)).metadata();
    assert.ok(!thumbMeta.orientation || thumbMeta.orientation === 1);
  } finally {
    await ctx.close();
  }
});

test('cancel stops an import promptly and leaves every imported image whole', { skip }, async () => {
  const ctx = new TestContext({ workers: 1 });
  try {
    ctx.openProject();
    const handlers = importHandlers(ctx);
    const { jobId } = await handlers['import.start']({ paths: [TRASHNET], split: 'auto' });
    const progressed = new Promise<void>((resolve) => {
      const off = ctx.events.on((m) => {
        if (m.event === 'job.progress' && (m.data as JobInfo).id === jobId && (m.data as JobInfo).done >= 150) {
          off();
          resolve();
        }
      });
    });
    await progressed;
    const cancelledAt = Date.now();
    await handlers['jobs.cancel']({ jobId });
    const ended = await ctx.jobs.wait(jobId);
    assert.equal(ended.status, 'cancelled');
    assert.ok(Date.now() - cancelledAt < 500, 'cancel is prompt');
    const imported = count(ctx, 'images');
    await sleep(300); // results of files the worker was still decoding must not land
    assert.equal(count(ctx, 'images'), imported);
    assert.ok(imported >= 100 && imported < 2527, `${imported} images imported before the cancel`);

    const db = ctx.requireStore().db;
    // Each image complete: a path, its label, its thumbnail.
    assert.equal(db.prepare('SELECT count(*) FROM images i WHERE NOT EXISTS (SELECT 1 FROM image_paths p WHERE p.image_id = i.id)').pluck().get(), 0);
    assert.equal(db.prepare('SELECT count(*) FROM images i WHERE NOT EXISTS (SELECT 1 FROM labels l WHERE l.image_id = i.id)').pluck().get(), 0);
    assert.equal(count(ctx, 'label_history'), imported);
    for (const image of images(ctx)) assert.ok(fs.existsSync(nodePath.join(ctx.requireStore().dataDir, image.thumb!)));

    const report = await handlers['import.report']({ jobId });
    assert.equal(report.status, 'cancelled');
    assert.equal(report.imported + report.duplicates, count(ctx, 'image_paths'));
    assert.equal(report.imported, imported);
    assert.equal(Object.values(report.classes).reduce((a, b) => a + b, 0), report.imported + report.duplicates + report.unchanged);
    const row = db.prepare('SELECT status, done, total FROM jobs WHERE id = ?').get(jobId) as { status: string; done: number; total: number };
    assert.equal(row.status, 'cancelled');
    assert.equal(row.total, 2527);
    assert.ok(row.done >= imported && row.done < 2527);
    const listed = (await handlers['jobs.list']({})).find((j) => j.id === jobId);
    assert.equal(listed?.status, 'cancelled');

    // Importing again finishes the job: nothing doubled.
    const rest = await runImport(ctx, { paths: [nodePath.join(TRASHNET, 'trash')], split: 'none' });
    assert.equal(rest.status, 'done');
  } finally {
    await ctx.close();
  }
});

test('imports the 137 TrashNet trash images, labelled trash, with progress and dataset events', { skip }, async () => {
  const ctx = new TestContext();
  try {
    // A folder whose one class folder is TrashNet's trash folder (followed through a symlink).
    const root = nodePath.join(ctx.dir, 'trashnet-part');
    fs.mkdirSync(root);
    fs.symlinkSync(nodePath.join(TRASHNET, 'trash'), nodePath.join(root, 'trash'));
    ctx.openProject();
    const report: ImportReport = await runImport(ctx, { paths: [root], split: 'auto' });
    assert.equal(report.imported, 137);
    assert.deepEqual(report.classes, { trash: 137 });
    assert.deepEqual(report.skipped, []);
    const perClass = ctx
      .requireStore()
      .db.prepare('SELECT c.name, count(*) AS n FROM labels l JOIN classes c ON c.id = l.class_id GROUP BY c.name')
      .all();
    assert.deepEqual(perClass, [{ name: 'trash', n: 137 }]);
    const progress = ctx.eventsOf('job.progress').filter((j) => j.id === report.jobId);
    assert.ok(progress.length >= 2);
    const done = ctx.eventsOf('job.done').filter((j) => j.id === report.jobId);
    assert.equal(done.length, 1);
    assert.deepEqual([done[0]!.status, done[0]!.done, done[0]!.total], ['done', 137, 137]);
    assert.ok(ctx.eventsOf('dataset.changed').length >= 1);
    for (const image of images(ctx).slice(0, 10)) {
      const size = await thumbSize(ctx, image);
      assert.ok(Math.max(size.width, size.height) <= 256);
    }
  } finally {
    await ctx.close();
  }
});

test('handlers: start, report, uploads, and errors a person can act on', async () => {
  const ctx = new TestContext();
  try {
    const handlers = importHandlers(ctx);
    await assert.rejects(Promise.resolve().then(() => handlers['import.start']({ paths: ['/x'], split: 'auto' })), isCode('no_project'));
    const store = ctx.openProject();
    await assert.rejects(
      Promise.resolve().then(() => handlers['import.start']({ paths: [nodePath.join(ctx.dir, 'nowhere')], split: 'auto' })),
      (err: unknown) => isCode('not_found')(err) && /There is no file or folder at .*nowhere\./.test((err as Error).message),
    );
    await assert.rejects(Promise.resolve().then(() => handlers['import.csv']({ csvPath: nodePath.join(ctx.dir, 'no.csv'), split: 'auto' })), isCode('not_found'));
    await assert.rejects(Promise.resolve().then(() => handlers['import.report']({ jobId: 'nope' })), isCode('not_found'));
    assert.throws(() => handlers['jobs.cancel']({ jobId: 'nope' }), isCode('not_found'));
    assert.throws(() => uploadDir(store, '../../etc'), isCode('invalid_input'));
    await assert.rejects(Promise.resolve().then(() => handlers['import.uploaded']({ batchId: 'batch-000001', split: 'auto' })), isCode('not_found'));

    // An upload batch keeps the dropped items at its top: a dropped folder keeps its class folders.
    const batch = uploadDir(store, 'batch-000002');
    assert.equal(batch, nodePath.join(store.dataDir, 'uploads', 'batch-000002'));
    const roses = write(batch, 'flowers/roses/r.jpg', await solidJpeg(71));
    const single = write(batch, 'single.png', await solidPng(72));
    const { jobId } = await handlers['import.uploaded']({ batchId: 'batch-000002', split: 'auto' });
    const ended = await ctx.jobs.wait(jobId);
    assert.equal(ended.status, 'done');
    const report = await handlers['import.report']({ jobId });
    assert.equal(report.imported, 2);
    assert.deepEqual(report.classes, { roses: 1 });
    assert.equal(labelAt(ctx, roses).className, 'roses');
    assert.equal(labelAt(ctx, single).className, null);
    const listed = await handlers['jobs.list']({});
    assert.equal(listed[0]!.id, jobId);
    assert.equal(listed[0]!.kind, 'import');
    assert.match(listed[0]!.title, /^Import /);
  } finally {
    await ctx.close();
  }
});

test('a data folder that cannot take thumbnails fails the import with one clear message', async () => {
  const ctx = new TestContext();
  try {
    const root = nodePath.join(ctx.dir, 'few');
    for (let i = 0; i < 5; i++) write(root, `p${i}.jpg`, await solidJpeg(80 + i));
    const store = ctx.openProject();
    // A file where the thumbnails folder should be: no thumbnail can be written, for any image.
    fs.writeFileSync(nodePath.join(store.dataDir, 'thumbs'), 'in the way');
    await assert.rejects(runImport(ctx, { paths: [root], split: 'auto' }), (err: unknown) => {
      assert.ok(isCode('io_error')(err));
      assert.match((err as Error).message, /^Seedbed could not write image renditions to .*thumbs.*: /);
      return true;
    });
    const job = ctx.jobs.list()[0]!;
    assert.equal(job.status, 'failed');
    assert.match(job.error!, /could not write image renditions/);
    assert.equal(count(ctx, 'images'), 0);
    assert.equal(count(ctx, 'import_skips'), 0, 'the files are not blamed');
  } finally {
    await ctx.close();
  }
});

function isCode(code: string): (err: unknown) => boolean {
  return (err: unknown) => err instanceof CoreError && err.code === code;
}

/** Classes and image counts of the open project, by name. */
function classCounts(ctx: TestContext): Record<string, number> {
  const rows = ctx
    .requireStore()
    .db.prepare('SELECT c.name, count(l.image_id) AS n FROM classes c LEFT JOIN labels l ON l.class_id = c.id GROUP BY c.id ORDER BY c.name')
    .all() as { name: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.name, r.n]));
}

test('folders dropped together that hold only images are each a class named after the folder', async () => {
  const ctx = new TestContext();
  try {
    const glass = nodePath.join(ctx.dir, 'drop', 'glass');
    const metal = nodePath.join(ctx.dir, 'drop', 'metal');
    const g1 = write(glass, 'g1.jpg', await solidJpeg(101));
    const g2 = write(glass, 'g2.png', await solidPng(102));
    const m1 = write(metal, 'm1.jpg', await solidJpeg(103));
    // A sub-folder without images (notes, OS litter) does not make a folder a dataset root.
    write(glass, 'notes/where-found.txt', 'beach, June');
    write(metal, '.thumbnails/m1.jpg', await solidJpeg(104));
    write(metal, '.DS_Store', 'litter');

    ctx.openProject('dropped.seedbed');
    const report = await runImport(ctx, { paths: [glass, metal], split: 'auto' });
    assert.equal(report.imported, 3);
    assert.deepEqual(report.classes, { glass: 2, metal: 1 });
    assert.deepEqual(classCounts(ctx), { glass: 2, metal: 1 });
    assert.deepEqual(labelAt(ctx, g1), { className: 'glass', split: null, source: 'imported' });
    assert.deepEqual(labelAt(ctx, g2), { className: 'glass', split: null, source: 'imported' });
    assert.deepEqual(labelAt(ctx, m1), { className: 'metal', split: null, source: 'imported' });
    assert.equal(report.skipped.length, 1, 'the text file in notes/ is reported, as any non-image is');

    // A forced split applies as to any folder; a single folder on its own is a class folder too.
    ctx.openProject('forced.seedbed');
    await runImport(ctx, { paths: [glass], split: 'train' });
    assert.deepEqual(labelAt(ctx, g1), { className: 'glass', split: 'train', source: 'imported' });

    // Dropped onto a browser: the upload batch holds the dropped folders at its top.
    const store = ctx.openProject('uploaded.seedbed');
    const batch = uploadDir(store, 'batch-000003');
    const up1 = write(batch, 'glass/g1.jpg', await solidJpeg(101));
    const up2 = write(batch, 'metal/m1.jpg', await solidJpeg(103));
    const { jobId } = await importHandlers(ctx)['import.uploaded']({ batchId: 'batch-000003', split: 'auto' });
    assert.equal((await ctx.jobs.wait(jobId)).status, 'done');
    assert.equal(labelAt(ctx, up1).className, 'glass');
    assert.equal(labelAt(ctx, up2).className, 'metal');
  } finally {
    await ctx.close();
  }
});

test('a folder whose images sit in class sub-folders stays a dataset root, as TrashNet does', { skip }, async () => {
  const ctx = new TestContext();
  try {
    const root = nodePath.join(ctx.dir, 'trashnet-like');
    const picked: Record<string, string[]> = { cardboard: ['cardboard1.jpg', 'cardboard2.jpg'], glass: ['glass1.jpg'], trash: ['trash1.jpg'] };
    const copies: Record<string, string> = {};
    for (const [cls, names] of Object.entries(picked)) {
      for (const name of names) copies[name] = write(root, `${cls}/${name}`, fs.readFileSync(nodePath.join(TRASHNET, cls, name)));
    }
    // Images only deeper down still make the sub-folder the class.
    const deep = write(root, 'plastic/2023/june/p.jpg', await solidJpeg(111));
    ctx.openProject();
    const report = await runImport(ctx, { paths: [root], split: 'auto' });
    assert.equal(report.imported, 5);
    assert.deepEqual(report.classes, { cardboard: 2, glass: 1, trash: 1, plastic: 1 });
    assert.deepEqual(classCounts(ctx), { cardboard: 2, glass: 1, plastic: 1, trash: 1 });
    assert.equal(labelAt(ctx, copies['glass1.jpg']!).className, 'glass');
    assert.equal(labelAt(ctx, deep).className, 'plastic');
  } finally {
    await ctx.close();
  }
});

test('a folder with loose images and image sub-folders stays a root: its loose images are unlabeled', async () => {
  const ctx = new TestContext();
  try {
    const root = nodePath.join(ctx.dir, 'mixed');
    const loose = write(root, 'loose.jpg', await solidJpeg(121));
    const cat = write(root, 'cats/c.jpg', await solidJpeg(122));
    // Images only deep below count as image sub-folders too.
    const deepRoot = nodePath.join(ctx.dir, 'mixed-deep');
    const looseToo = write(deepRoot, 'loose-too.jpg', await solidJpeg(124));
    const deep = write(deepRoot, 'archive/2019/old.jpg', await solidJpeg(123));
    ctx.openProject();
    const report = await runImport(ctx, { paths: [root, deepRoot], split: 'auto' });
    assert.equal(report.imported, 4);
    assert.deepEqual(report.classes, { cats: 1, archive: 1 });
    assert.deepEqual(labelAt(ctx, loose), { className: null, split: null, source: null });
    assert.deepEqual(labelAt(ctx, looseToo), { className: null, split: null, source: null });
    assert.equal(labelAt(ctx, cat).className, 'cats');
    assert.equal(labelAt(ctx, deep).className, 'archive');
    assert.deepEqual(Object.keys(classCounts(ctx)), ['archive', 'cats']);
  } finally {
    await ctx.close();
  }
});

test('a dropped folder of images named val gives them the val split and no class', async () => {
  const ctx = new TestContext();
  try {
    const val = write(ctx.dir, 'holdout/val/v1.jpg', await solidJpeg(131));
    const valToo = write(ctx.dir, 'holdout/val/v2.jpg', await solidJpeg(132));
    const birds = write(ctx.dir, 'holdout/birds/b.jpg', await solidJpeg(133));
    // A link back to the folder itself does not stop it from being a class folder.
    fs.symlinkSync(nodePath.join(ctx.dir, 'holdout', 'birds'), nodePath.join(ctx.dir, 'holdout', 'birds', 'again'));
    ctx.openProject();
    const valDir = nodePath.dirname(val);
    const report = await runImport(ctx, { paths: [valDir, nodePath.dirname(birds)], split: 'auto' });
    assert.equal(report.imported, 3);
    assert.deepEqual(report.classes, { birds: 1 });
    assert.deepEqual(labelAt(ctx, val), { className: null, split: 'val', source: null });
    assert.deepEqual(labelAt(ctx, valToo), { className: null, split: 'val', source: null });
    assert.deepEqual(labelAt(ctx, birds), { className: 'birds', split: null, source: 'imported' });
    assert.equal(ctx.requireStore().db.prepare("SELECT count(*) FROM classes WHERE name = 'val'").pluck().get(), 0);

    ctx.openProject('none.seedbed');
    await runImport(ctx, { paths: [valDir], split: 'none' });
    assert.deepEqual(labelAt(ctx, val), { className: null, split: null, source: null });
  } finally {
    await ctx.close();
  }
});
