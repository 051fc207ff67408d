import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { after, before, test } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import { imageStats } from '../core/clean/image-stats.ts';
import { injectProblems, NEAR_DUPLICATE_KINDS, type InjectedProblems, type InjectOptions } from './clean-inject.ts';

const TRASHNET = nodePath.resolve(import.meta.dirname, '../../../shared/data/trashnet');
const CHEST_XRAY = nodePath.resolve(import.meta.dirname, '../../../shared/data/chest_xray');
const haveData = fs.existsSync(TRASHNET) && fs.existsSync(CHEST_XRAY);
const skip = haveData ? false : 'needs ../shared/data/trashnet and ../shared/data/chest_xray';
const PER_CLASS = 8;
const CLASSES = haveData ? fs.readdirSync(TRASHNET).filter((d) => fs.statSync(nodePath.join(TRASHNET, d)).isDirectory()).sort() : [];
const ORIGINALS = CLASSES.length * PER_CLASS;

const options = (out: string, seed = 7): InjectOptions => ({
  source: TRASHNET,
  outlierSource: CHEST_XRAY,
  out,
  seed,
  limitPerClass: PER_CLASS,
  nearDuplicatesPerKind: 2,
  blurred: 3,
  darkened: 3,
  outliers: 2,
});

const sha256 = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Every file under dir, relative with '/', sorted. */
function listFiles(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((p) => fs.statSync(nodePath.join(dir, p)).isFile())
    .map((p) => p.split(nodePath.sep).join('/'))
    .sort();
}

/** The manifest with the root prefix removed, so two runs into different folders compare equal. */
function relativeManifest(result: InjectedProblems): string {
  return JSON.stringify(result, (_key, value: unknown) =>
    typeof value === 'string' && value.startsWith(result.root) ? `<root>${value.slice(result.root.length)}` : value,
  );
}

const folderOf = (file: string): string => nodePath.basename(nodePath.dirname(file));

let tempDir: string;
let result: InjectedProblems;
let sourcesBefore: Map<string, { sha: string; mtimeMs: number }>;
/** Source files the run reads, taken before it runs: the first PER_CLASS of each class. */
let usedSources: string[];

before(async () => {
  if (!haveData) return;
  tempDir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-clean-inject-'));
  usedSources = CLASSES.flatMap((cls) =>
    fs.readdirSync(nodePath.join(TRASHNET, cls)).sort().slice(0, PER_CLASS).map((f) => nodePath.join(TRASHNET, cls, f)),
  );
  sourcesBefore = new Map(usedSources.map((f) => [f, { sha: sha256(f), mtimeMs: fs.statSync(f).mtimeMs }]));
  result = await injectProblems(options(nodePath.join(tempDir, 'a')));
});

after(() => {
  if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
});

test('writes every original once plus exactly the asked-for problems, and the manifest matches the disk', { skip }, () => {
  const flips = Math.round(0.1 * ORIGINALS);
  assert.equal(result.flips.length, flips);
  assert.equal(result.nearDuplicates.length, 2 * NEAR_DUPLICATE_KINDS.length);
  for (const how of NEAR_DUPLICATE_KINDS) {
    assert.equal(result.nearDuplicates.filter((n) => n.how === how).length, 2, `two near-duplicates of kind ${how}`);
  }
  assert.equal(result.blurred.length, 3);
  assert.equal(result.darkened.length, 3);
  assert.equal(result.outliers.length, 2);
  assert.deepEqual(result.classes, CLASSES);

  const onDisk = listFiles(result.root);
  assert.equal(result.files, ORIGINALS + 8 + 3 + 3 + 2);
  assert.equal(onDisk.length, result.files, 'files counts what is on disk');
  assert.deepEqual(Object.keys(result.truth).sort(), onDisk, 'truth names every file on disk');
  for (const file of onDisk) {
    assert.ok(CLASSES.includes(file.split('/')[0]!), `${file} sits in a class folder`);
  }
  const planted = [...result.flips, ...result.nearDuplicates, ...result.blurred, ...result.darkened, ...result.outliers];
  for (const entry of planted) {
    assert.ok(nodePath.isAbsolute(entry.path) && fs.existsSync(entry.path), `${entry.path} is absolute and exists`);
  }
});

test('flipped files sit in another class folder than their true class, and are byte copies of their source', { skip }, () => {
  for (const flip of result.flips) {
    assert.notEqual(flip.given, flip.truth, `${flip.path} is in a different folder than its class`);
    assert.equal(folderOf(flip.path), flip.given, `${flip.path} sits in its given class folder`);
    const relative = nodePath.relative(result.root, flip.path).split(nodePath.sep).join('/');
    assert.equal(result.truth[relative], flip.truth, `truth records ${relative} as ${flip.truth}`);
    assert.equal(sha256(flip.path), sha256(nodePath.join(TRASHNET, flip.truth, nodePath.basename(flip.path))));
  }
  // Every non-flipped original stays in its own class folder.
  const flippedPaths = new Set(result.flips.map((f) => f.path));
  for (const [relative, cls] of Object.entries(result.truth)) {
    if (cls === null || relative.includes('__') || flippedPaths.has(nodePath.join(result.root, relative))) continue;
    assert.equal(relative.split('/')[0], cls, `${relative} was not flipped, so it stays in ${cls}`);
  }
});

test('copies come from distinct non-flipped originals, sit beside them and are named for what was done', { skip }, () => {
  const flipped = new Set(result.flips.map((f) => f.path));
  const copies = [
    ...result.nearDuplicates.map((n) => ({ ...n, suffix: `__nd_${n.how}.jpg` })),
    ...result.blurred.map((b) => ({ ...b, suffix: '__blur.jpg' })),
    ...result.darkened.map((d) => ({ ...d, suffix: '__dark.jpg' })),
  ];
  const originals = new Set(copies.map((c) => c.original));
  assert.equal(originals.size, copies.length, 'each copy has its own original');
  for (const copy of copies) {
    assert.ok(!flipped.has(copy.original), `${copy.original} is not a flipped image`);
    assert.ok(fs.existsSync(copy.original), `${copy.original} exists in the output`);
    assert.equal(folderOf(copy.path), folderOf(copy.original), `${copy.path} sits beside its original`);
    const stem = nodePath.basename(copy.original, nodePath.extname(copy.original));
    assert.equal(nodePath.basename(copy.path), stem + copy.suffix);
  }
  for (const outlier of result.outliers) {
    assert.ok(outlier.source.startsWith(CHEST_XRAY + nodePath.sep), `${outlier.source} comes from the outlier dataset`);
    assert.match(nodePath.basename(outlier.path), /^outlier_\d+\.jpg$/);
    assert.equal(sha256(outlier.path), sha256(outlier.source), `${outlier.path} is a byte copy of its source`);
  }
});

test('leaves the source dataset untouched', { skip }, () => {
  for (const [file, before] of sourcesBefore) {
    assert.equal(sha256(file), before.sha, `${file} content unchanged`);
    assert.equal(fs.statSync(file).mtimeMs, before.mtimeMs, `${file} not rewritten`);
  }
  for (const cls of CLASSES) {
    assert.ok(
      fs.readdirSync(nodePath.join(TRASHNET, cls)).every((name) => !name.includes('__')),
      `no copies were written into the source folder ${cls}`,
    );
  }
});

test('the same seed gives the same files and manifest; another seed gives another layout', { skip }, async () => {
  const again = await injectProblems(options(nodePath.join(tempDir, 'b')));
  assert.equal(relativeManifest(again), relativeManifest(result));
  const filesA = listFiles(result.root);
  assert.deepEqual(listFiles(again.root), filesA);
  for (const entry of [...result.nearDuplicates, ...result.blurred, ...result.darkened]) {
    const relative = nodePath.relative(result.root, entry.path);
    assert.equal(sha256(nodePath.join(again.root, relative)), sha256(entry.path), `${relative} has the same bytes`);
  }
  const other = await injectProblems(options(nodePath.join(tempDir, 'c'), 8));
  assert.notEqual(relativeManifest(other), relativeManifest(result), 'a different seed plants different problems');
});

test('blurred copies lose their detail and darkened copies their light', { skip }, async () => {
  for (const { path, original } of result.blurred) {
    const [copy, source] = await Promise.all([imageStats(path), imageStats(original)]);
    assert.ok(copy.sharpness < 0.15 * source.sharpness, `${path}: sharpness ${copy.sharpness} vs original ${source.sharpness}`);
  }
  for (const { path, original } of result.darkened) {
    const [copy, source] = await Promise.all([imageStats(path), imageStats(original)]);
    assert.ok(copy.brightness < 0.3 * source.brightness, `${path}: brightness ${copy.brightness} vs original ${source.brightness}`);
    assert.ok(copy.brightness > 0.15 * source.brightness, `${path} is dark, not black: ${copy.brightness}`);
  }
});

test('near-duplicates have the geometry of their kind', { skip }, async () => {
  for (const { path, original, how } of result.nearDuplicates) {
    const [copy, source] = await Promise.all([sharp(path).metadata(), sharp(original).metadata()]);
    const expected = {
      jpeg_q40: [source.width, source.height],
      resize_80: [Math.round(source.width * 0.8), Math.round(source.height * 0.8)],
      crop_90: [Math.round(source.width * 0.9), Math.round(source.height * 0.9)],
      shift: [source.width, source.height],
    }[how];
    assert.deepEqual([copy.width, copy.height], expected, `${how} copy ${path} has the expected size`);
    assert.equal(copy.format, 'jpeg');
  }
  // A shift must move the picture: comparing against the same picture moved back should match
  // far better than comparing it in place.
  const shifted = result.nearDuplicates.find((n) => n.how === 'shift')!;
  const { width, height } = await sharp(shifted.original).metadata();
  const dx = Math.round(width * 0.04);
  const dy = Math.round(height * 0.04);
  const region = { left: 0, top: 0, width: width - dx, height: height - dy };
  const grey = (input: Sharp) => input.greyscale().raw().toBuffer();
  const copyRegion = await grey(sharp(shifted.path).extract(region));
  const inPlace = await grey(sharp(shifted.original).extract(region));
  const movedBack = await grey(sharp(shifted.original).extract({ ...region, left: dx, top: dy }));
  const meanDifference = (a: Buffer, b: Buffer) => a.reduce((sum, v, i) => sum + Math.abs(v - b[i]!), 0) / a.length;
  const aligned = meanDifference(copyRegion, movedBack);
  const unaligned = meanDifference(copyRegion, inPlace);
  assert.ok(aligned < 0.5 * unaligned, `shift moves content by (${dx}, ${dy}): aligned ${aligned} vs in place ${unaligned}`);
});

test('refuses a folder that is not empty', { skip }, async () => {
  await assert.rejects(injectProblems(options(nodePath.join(tempDir, 'a'))), /not empty/);
});
