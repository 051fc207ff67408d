import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { hammingDistance, imageStats, qualityFindings, type ImageStats, type QualityFinding } from './image-stats.ts';

const TRASHNET = nodePath.resolve(import.meta.dirname, '../../../../shared/data/trashnet');
const CHEST_XRAY = nodePath.resolve(import.meta.dirname, '../../../../shared/data/chest_xray');
const haveData = fs.existsSync(TRASHNET) && fs.existsSync(CHEST_XRAY);
const skip = haveData ? false : 'needs ../shared/data/trashnet and ../shared/data/chest_xray';

/** Every `step`-th file of each class folder, sorted, so the sample is the same on every run. */
function sample(root: string, perClass: number): string[] {
  const files: string[] = [];
  for (const dir of fs.readdirSync(root).sort()) {
    const folder = nodePath.join(root, dir);
    if (!fs.statSync(folder).isDirectory()) continue;
    const names = fs.readdirSync(folder).filter((n) => /\.jpe?g$/i.test(n)).sort();
    const step = Math.max(1, Math.floor(names.length / perClass));
    for (let i = 0; i < perClass && i * step < names.length; i++) files.push(nodePath.join(folder, names[i * step]!));
  }
  return files;
}

let tempDir: string;
let originals: string[];
let originalStats: ImageStats[];
let sharpest: string;
const derived: Record<string, string> = {};
let derivedStats: Record<string, ImageStats>;
let xrays: string[];
let xrayStats: ImageStats[];

before(async () => {
  tempDir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-image-stats-'));
  if (!haveData) return;
  originals = sample(TRASHNET, 7).slice(0, 40);
  originalStats = await Promise.all(originals.map((f) => imageStats(f)));
  // A crisp source, so the blurred copy is a real loss of detail rather than a soft photo made softer.
  const bySharpness = originals.map((f, i) => ({ f, s: originalStats[i]!.sharpness })).sort((a, b) => b.s - a.s);
  sharpest = bySharpness[Math.floor(bySharpness.length / 4)]!.f;
  const meta = await sharp(sharpest).metadata();
  const w = meta.width!;
  const h = meta.height!;
  const out = (name: string) => (derived[name] = nodePath.join(tempDir, name));
  await sharp(sharpest).blur(3).jpeg({ quality: 90 }).toFile(out('blurred.jpg'));
  await sharp(sharpest).linear(0.25, 0).jpeg({ quality: 90 }).toFile(out('dark.jpg'));
  await sharp(sharpest).jpeg({ quality: 40 }).toFile(out('q40.jpg'));
  await sharp(sharpest).resize(Math.round(w * 0.8)).jpeg({ quality: 90 }).toFile(out('resized80.jpg'));
  await sharp(sharpest)
    .extract({ left: Math.round(w * 0.05), top: Math.round(h * 0.05), width: Math.round(w * 0.9), height: Math.round(h * 0.9) })
    .jpeg({ quality: 90 })
    .toFile(out('crop90.jpg'));
  await sharp({ create: { width: w, height: h, channels: 3, background: '#ffffff' } }).jpeg().toFile(out('white.jpg'));
  const noise = (width: number, height: number) =>
    sharp({ create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } });
  await noise(20, 20).png().toFile(out('tiny.png'));
  await noise(1000, 100).png().toFile(out('strip.png'));
  // EXIF orientation 6 (a quarter turn): a 300×100 file is shown as 100×300.
  await noise(300, 100).jpeg().withMetadata({ orientation: 6 }).toFile(out('rotated.jpg'));
  const names = Object.keys(derived);
  const stats = await Promise.all(names.map((n) => imageStats(derived[n]!)));
  derivedStats = Object.fromEntries(names.map((n, i) => [n, stats[i]!]));
  xrays = sample(CHEST_XRAY, 10);
  xrayStats = await Promise.all(xrays.map((f) => imageStats(f)));
});

after(() => {
  fs.rmSync(tempDir, { recursive: true, force: true });
});

/** Runs the detector on the 40 originals (ids 0..39) plus the named extras (ids 100, 101, …). */
function findingsWith(extras: ImageStats[]): { findings: QualityFinding[]; ofOriginals: (kind: string) => number; kindsOf: (id: number) => string[] } {
  const items = [...originalStats.map((stats, id) => ({ id, stats })), ...extras.map((stats, i) => ({ id: 100 + i, stats }))];
  const findings = qualityFindings(items);
  for (const f of findings) {
    assert.ok(f.score >= 0 && f.score <= 1, `score ${f.score} of ${f.kind} is outside 0–1`);
    assert.match(f.explanation, /\d/, 'an explanation carries its numbers');
    assert.doesNotMatch(f.explanation, /NaN|undefined|Infinity/);
  }
  return {
    findings,
    ofOriginals: (kind) => findings.filter((f) => f.kind === kind && f.imageId < 100).length,
    kindsOf: (id) => findings.filter((f) => f.imageId === id).map((f) => f.kind),
  };
}

describe('imageStats', () => {
  test('measures a TrashNet photo within the documented ranges', { skip }, () => {
    const s = originalStats[0]!;
    assert.ok(s.width > 0 && s.height > 0);
    assert.equal(s.aspectRatio, s.width / s.height);
    for (const key of ['brightness', 'contrast', 'edgeDensity', 'saturation', 'saturationP99'] as const) {
      assert.ok(s[key] >= 0 && s[key] <= 1, `${key} ${s[key]}`);
    }
    assert.ok(s.entropy > 3 && s.entropy <= 8, `entropy ${s.entropy}`);
    assert.ok(s.sharpness > 0);
    assert.match(s.pHash, /^[0-9a-f]{16}$/);
    assert.match(s.dHash, /^[0-9a-f]{16}$/);
  });

  test('reports the size as shown, after EXIF orientation', { skip }, () => {
    const s = derivedStats['rotated.jpg']!;
    assert.deepEqual([s.width, s.height], [100, 300]);
  });

  test('a darkened copy keeps brightness in proportion', { skip }, () => {
    const source = originalStats[originals.indexOf(sharpest)]!;
    const dark = derivedStats['dark.jpg']!;
    assert.ok(Math.abs(dark.brightness - source.brightness * 0.25) < 0.02, `${dark.brightness} vs ${source.brightness}`);
  });

  test('a white image has no entropy, no edges and no colour', { skip }, () => {
    const s = derivedStats['white.jpg']!;
    assert.ok(s.brightness > 0.99);
    assert.equal(s.entropy, 0);
    assert.equal(s.edgeDensity, 0);
    assert.equal(s.saturationP99, 0);
  });

  test('refuses a file that is not an image, naming it', async () => {
    const bogus = nodePath.join(tempDir, 'notes.jpg');
    fs.writeFileSync(bogus, 'not a picture');
    await assert.rejects(imageStats(bogus), (err: Error) => err.name === 'CoreError' && err.message.includes(bogus));
  });
});

describe('perceptual hashes', () => {
  test('hammingDistance counts differing bits and refuses mismatched hashes', () => {
    assert.equal(hammingDistance('0000000000000000', '0000000000000000'), 0);
    assert.equal(hammingDistance('ffffffffffffffff', '0000000000000000'), 64);
    assert.equal(hammingDistance('8000000000000001', '0000000000000000'), 2);
    assert.equal(hammingDistance('a0', 'A1'), 1);
    assert.throws(() => hammingDistance('00', '000'), /same length/);
    assert.throws(() => hammingDistance('zz', '00'), /hex/);
  });

  test('re-encodes, resizes and crops stay close; different photos of one class do not', { skip }, () => {
    const source = originalStats[originals.indexOf(sharpest)]!;
    const q40 = hammingDistance(source.pHash, derivedStats['q40.jpg']!.pHash);
    const resized = hammingDistance(source.pHash, derivedStats['resized80.jpg']!.pHash);
    const cropped = hammingDistance(source.pHash, derivedStats['crop90.jpg']!.pHash);
    const croppedD = hammingDistance(source.dHash, derivedStats['crop90.jpg']!.dHash);
    assert.ok(q40 <= 6, `q40 re-encode pHash distance ${q40}`);
    assert.ok(resized <= 6, `80% resize pHash distance ${resized}`);
    // A 5% shift is at the edge of what a DCT hash tolerates (measured 10–14 on TrashNet);
    // dHash holds it better, and embeddings catch the rest.
    assert.ok(cropped <= 16, `90% crop pHash distance ${cropped}`);
    assert.ok(croppedD <= 10, `90% crop dHash distance ${croppedD}`);
    const sameClass = originals.filter((f) => nodePath.dirname(f) === nodePath.dirname(sharpest) && f !== sharpest);
    assert.ok(sameClass.length >= 5);
    for (const other of sameClass) {
      const d = hammingDistance(source.pHash, originalStats[originals.indexOf(other)]!.pHash);
      assert.ok(d >= 20, `${nodePath.basename(other)} is a different photo yet only ${d} bits from ${nodePath.basename(sharpest)}`);
    }
  });
});

describe('qualityFindings', () => {
  test('flags a blurred copy and fewer than 2% of the originals', { skip }, () => {
    const { findings, ofOriginals, kindsOf } = findingsWith([derivedStats['blurred.jpg']!]);
    assert.ok(kindsOf(100).includes('blurry'), JSON.stringify(findings));
    assert.ok(ofOriginals('blurry') < 0.02 * originals.length, `${ofOriginals('blurry')} originals flagged blurry`);
    const finding = findings.find((f) => f.imageId === 100 && f.kind === 'blurry')!;
    assert.match(finding.explanation, /^Much blurrier than the rest of the dataset: sharpness \d/);
  });

  test('flags a darkened copy as dark and no original as dark or bright', { skip }, () => {
    const { ofOriginals, kindsOf } = findingsWith([derivedStats['dark.jpg']!]);
    assert.ok(kindsOf(100).includes('dark'));
    assert.equal(ofOriginals('dark'), 0);
    assert.equal(ofOriginals('bright'), 0);
  });

  test('a plain white image is low information; photos of objects on white are not', { skip }, () => {
    const { ofOriginals, kindsOf } = findingsWith([derivedStats['white.jpg']!]);
    assert.ok(kindsOf(100).includes('low_information'));
    assert.ok(!kindsOf(100).includes('blurry') && !kindsOf(100).includes('grayscale'), 'a blank frame is reported once, as low information');
    assert.equal(ofOriginals('low_information'), 0);
  });

  test('a 20×20 image is too small and a 1000×100 image is oddly shaped; no original is either', { skip }, () => {
    const { ofOriginals, kindsOf } = findingsWith([derivedStats['tiny.png']!, derivedStats['strip.png']!]);
    assert.ok(kindsOf(100).includes('too_small'));
    assert.ok(!kindsOf(100).includes('odd_aspect'));
    assert.ok(kindsOf(101).includes('odd_aspect'));
    assert.ok(!kindsOf(101).includes('too_small'));
    assert.equal(ofOriginals('too_small'), 0);
    assert.equal(ofOriginals('odd_aspect'), 0);
  });

  test('an X-ray among colour photos is greyscale; X-rays among X-rays are not', { skip }, () => {
    const { ofOriginals, kindsOf } = findingsWith([xrayStats[0]!]);
    assert.ok(kindsOf(100).includes('grayscale'));
    assert.equal(ofOriginals('grayscale'), 0);
    assert.ok(xrays.length >= 10);
    const amongXrays = qualityFindings(xrayStats.map((stats, id) => ({ id, stats })));
    assert.deepEqual(amongXrays.filter((f) => f.kind === 'grayscale'), []);
  });

  test('an empty dataset has no findings', () => {
    assert.deepEqual(qualityFindings([]), []);
  });
});
