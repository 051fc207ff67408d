import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoreError } from '../errors.ts';
import { fisherExact, holmAdjust, sliceMetrics, type ImageTag } from './slices.ts';

function closeRelative(actual: number, expected: number, relative: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= relative * Math.abs(expected), `${what}: expected ${expected} (±${relative} relative), got ${actual}`);
}

/** `count` images tagged `tags`, the first `right` of them predicted right. */
function group(count: number, right: number, tags: ImageTag[]): { correct: boolean[]; tags: ImageTag[][] } {
  return { correct: Array.from({ length: count }, (_, i) => i < right), tags: Array.from({ length: count }, () => tags) };
}

function combine(...groups: { correct: boolean[]; tags: ImageTag[][] }[]): { correct: boolean[]; tags: ImageTag[][] } {
  return { correct: groups.flatMap((g) => g.correct), tags: groups.flatMap((g) => g.tags) };
}

test('fisherExact: two-sided p-values of small tables match the hypergeometric sums worked by hand', () => {
  // Tea tasting [[3,1],[1,3]]: margins 4,4 of 8; P(x) = C(4,x)·C(4,4−x)/C(8,4) = C(4,x)²/70
  //   x = 0..4 → 1, 16, 36, 16, 1 (/70). Observed P(3) = 16/70; tables no more probable: x = 0,1,3,4
  //   p = (1 + 16 + 16 + 1)/70 = 34/70 = 0.485714
  closeRelative(fisherExact(3, 1, 1, 3), 34 / 70, 1e-9, 'tea tasting');
  // [[1,9],[11,3]]: first row 10, first column 12, total 24; P(x) = C(12,x)·C(12,10−x)/C(24,10), C(24,10) = 1961256
  //   x = 0: 1·66 = 66   x = 1: 12·220 = 2640   x = 2: 66·495 = 32670 ... symmetric: x = 8: 32670, 9: 2640, 10: 66
  //   observed P(1) = 2640/1961256; no more probable: x = 0, 1, 9, 10 → p = 2·(66 + 2640)/1961256 = 5412/1961256 = 0.0027594
  closeRelative(fisherExact(1, 9, 11, 3), 5412 / 1961256, 1e-9, '[[1,9],[11,3]]');
  // [[0,5],[5,0]]: P(x) = C(5,x)·C(5,5−x)/C(10,5) = C(5,x)²/252; only x = 0 and x = 5 (1/252 each) are as unlikely
  //   p = 2/252 = 0.0079365
  closeRelative(fisherExact(0, 5, 5, 0), 2 / 252, 1e-9, '[[0,5],[5,0]]');
  // [[2,3],[8,2]]: first row 5, first column 10 of 15; P(x) = C(10,x)·C(5,5−x)/C(15,5), C(15,5) = 3003
  //   x = 0..5 → 1, 50, 450, 1200, 1050, 252; observed 450; no more probable: 1 + 50 + 450 + 252 = 753
  //   p = 753/3003 = 0.250749 (not symmetric: the tolerance must not pick up 1050 or 1200)
  closeRelative(fisherExact(2, 3, 8, 2), 753 / 3003, 1e-9, '[[2,3],[8,2]]');
  // Tables exactly as probable as the observed one count, though float rounding makes them differ in the last bits:
  // [[0,4],[1,3]]: first row 4, first column 1 of 8; P(0) = C(7,4)/C(8,4) = 35/70, P(1) = C(7,3)/70 = 35/70 → p = 1
  assert.equal(fisherExact(0, 4, 1, 3), 1, 'two equally probable tables: p = 1');
  // [[0,5],[2,3]]: first row 5, first column 2 of 10; P(x) = C(2,x)·C(8,5−x)/C(10,5): 56, 140, 56 (/252)
  //   observed P(0) = 56/252; x = 2 is as probable → p = 112/252 = 0.444444
  closeRelative(fisherExact(0, 5, 2, 3), 112 / 252, 1e-9, '[[0,5],[2,3]]');
  // Transposing or swapping rows describes the same association.
  closeRelative(fisherExact(8, 2, 2, 3), 753 / 3003, 1e-9, 'rows swapped');
  closeRelative(fisherExact(2, 8, 3, 2), 753 / 3003, 1e-9, 'transposed');
  assert.equal(fisherExact(5, 0, 0, 0), 1, 'a table with one possible arrangement has p = 1');
  assert.equal(fisherExact(0, 0, 0, 0), 1, 'an empty table has p = 1');
  assert.throws(() => fisherExact(1.5, 0, 0, 0), CoreError, 'fractional counts are refused');
  assert.throws(() => fisherExact(-1, 0, 0, 0), CoreError, 'negative counts are refused');
});

test('fisherExact: thousands of images stay accurate through log-factorials', () => {
  // 1000 images at 70% against 4000 at 90%: the direct formula would overflow (5000! ≈ 10^16325).
  // Reference: scipy.stats.fisher_exact([[700,300],[3600,400]]) = 2.9698958273879374e-51.
  const p = fisherExact(700, 300, 3600, 400);
  closeRelative(p, 2.9698958273879374e-51, 1e-6, 'p-value of a large table');
  // The same accuracy in both rows is as unsurprising as it gets.
  assert.equal(fisherExact(900, 100, 3600, 400), 1, 'identical proportions give p = 1');
});

test('holmAdjust: step-down adjustment of known p-values, returned in the order given', () => {
  // [0.01, 0.04, 0.03]: ascending 0.01, 0.03, 0.04 → ×3, ×2, ×1 = 0.03, 0.06, 0.04 → running max 0.03, 0.06, 0.06
  const adjusted = holmAdjust([0.01, 0.04, 0.03]);
  assert.equal(adjusted.length, 3, 'one adjusted value per p-value');
  closeRelative(adjusted[0]!, 0.03, 1e-12, 'smallest × 3');
  closeRelative(adjusted[1]!, 0.06, 1e-12, 'largest is raised to the one before it');
  closeRelative(adjusted[2]!, 0.06, 1e-12, 'middle × 2');
  // [0.5, 0.01, 0.4]: ascending 0.01, 0.4, 0.5 → 0.03, 0.8, 0.5 → running max 0.03, 0.8, 0.8
  const capped = holmAdjust([0.5, 0.01, 0.4]);
  closeRelative(capped[0]!, 0.8, 1e-12, 'monotone: 0.5 cannot be adjusted below 0.8');
  closeRelative(capped[1]!, 0.03, 1e-12, '0.01 × 3');
  closeRelative(capped[2]!, 0.8, 1e-12, '0.4 × 2');
  assert.deepEqual(holmAdjust([0.6, 0.7]), [1, 1], 'adjusted values never exceed 1');
  assert.deepEqual(holmAdjust([]), [], 'no tests, nothing to adjust');
});

test('sliceMetrics: a 40-image slice at 50% among 400 images at 90% is flagged worse', () => {
  // site=B: 40 images, 20 right. site=A: 360 images, 324 right. 40 untagged images, 36 right.
  // Rest of site=B = site=A + untagged = 400 images, 360 right (90%): table [[20,20],[360,40]].
  // Rest of site=A = site=B + untagged = 80 images, 56 right (70%): table [[324,36],[56,24]].
  // References: scipy.stats.fisher_exact gives 4.2295514318782005e-09 and 1.614636587333247e-05.
  // Holm over 2 tests: 4.23e-9 × 2 = 8.46e-9, then max(1.61e-5 × 1, 8.46e-9) = 1.61e-5.
  const { correct, tags } = combine(
    group(40, 20, [{ key: 'site', value: 'B' }]),
    group(360, 324, [{ key: 'site', value: 'A' }]),
    group(40, 36, []),
  );
  const slices = sliceMetrics(correct, tags);
  assert.equal(slices.length, 2, 'two tag values');
  const [b, a] = slices;
  assert.equal(b!.value, 'B', 'the worse slice comes first');
  assert.equal(b!.count, 40, 'site=B has 40 images');
  assert.equal(b!.accuracy, 0.5, 'site=B is right half the time');
  assert.equal(b!.restCount, 400, 'the rest of site=B includes the untagged images');
  assert.equal(b!.restAccuracy, 0.9, 'the rest of site=B is right 90% of the time');
  closeRelative(b!.pValue, 4.2295514318782005e-9, 1e-6, 'site=B Fisher p');
  closeRelative(b!.adjustedP, 2 * 4.2295514318782005e-9, 1e-6, 'site=B Holm-adjusted p');
  assert.equal(b!.worse, true, 'site=B is significantly worse');
  assert.equal(a!.value, 'A', 'site=A comes second');
  assert.equal(a!.restCount, 80, 'the rest of site=A is site=B and the untagged images');
  closeRelative(a!.restAccuracy, 0.7, 1e-12, 'rest of site=A is right 56/80 of the time');
  closeRelative(a!.pValue, 1.614636587333247e-5, 1e-6, 'site=A Fisher p');
  closeRelative(a!.adjustedP, 1.614636587333247e-5, 1e-6, 'site=A Holm-adjusted p');
  assert.equal(a!.worse, false, 'site=A is significantly different but better, so not worse');
});

test('sliceMetrics: a slice as accurate as the rest is not flagged; a small worse one is not significant', () => {
  // scanner=X: 40 images, 36 right (90%); rest 400, 360 right (90%): p = 1.
  const same = sliceMetrics(...spread(combine(group(40, 36, [{ key: 'scanner', value: 'X' }]), group(400, 360, []))));
  assert.equal(same.length, 1, 'one slice');
  assert.equal(same[0]!.pValue, 1, 'identical proportions give p = 1');
  assert.equal(same[0]!.worse, false, 'a same-accuracy slice is not worse');
  // scanner=Y: 5 images, 3 right (60%) against 35 at 30/35 (86%): [[3,2],[30,5]], p = 0.204 (scipy) — too few to tell.
  const small = sliceMetrics(...spread(combine(group(5, 3, [{ key: 'scanner', value: 'Y' }]), group(35, 30, []))));
  closeRelative(small[0]!.pValue, 0.20399751978699346, 1e-6, 'small slice Fisher p');
  assert.equal(small[0]!.worse, false, 'lower accuracy alone, without significance, is not worse');
});

test('sliceMetrics: minCount leaves small slices out of the list and out of the Holm adjustment', () => {
  // site=B: 40 at 20 right, site=C: 4 at 0 right, the rest 400 at 360 right.
  const data = combine(
    group(40, 20, [{ key: 'site', value: 'B' }]),
    group(4, 0, [{ key: 'site', value: 'C' }]),
    group(400, 360, []),
  );
  const byDefault = sliceMetrics(...spread(data));
  assert.deepEqual(
    byDefault.map((s) => s.value),
    ['B'],
    'site=C has 4 images, below the default minimum of 5',
  );
  assert.equal(byDefault[0]!.adjustedP, byDefault[0]!.pValue, 'one test: Holm leaves its p-value alone');
  const withSmall = sliceMetrics(...spread(data), { minCount: 4 });
  assert.deepEqual(
    withSmall.map((s) => s.value).sort(),
    ['B', 'C'],
    'minCount 4 admits site=C',
  );
  const b = withSmall.find((s) => s.value === 'B')!;
  assert.ok(b.adjustedP > b.pValue, `two tests: site=B's p-value is adjusted upwards (${b.pValue} → ${b.adjustedP})`);
  assert.deepEqual(sliceMetrics(...spread(data), { minCount: 41 }), [], 'no slice reaches 41 images');
});

test('sliceMetrics: untagged images, duplicated and multi-valued tags, and a value every image carries', () => {
  assert.deepEqual(sliceMetrics(...spread(group(30, 20, []))), [], 'no tags, no slices');
  assert.deepEqual(sliceMetrics([], []), [], 'no images, no slices');
  // 10 images tagged site=A twice (counted once each), right 5; 10 tagged both site=A and site=B, right 10;
  // 10 with lab=1 only, right 10. site=A: 20 images, 15 right; its rest is the 10 lab=1 images (10 right).
  // site=B: 10 images, all right; its rest is 20 images, 15 right.
  const data = combine(
    group(10, 5, [
      { key: 'site', value: 'A' },
      { key: 'site', value: 'A' },
    ]),
    group(10, 10, [
      { key: 'site', value: 'A' },
      { key: 'site', value: 'B' },
    ]),
    group(10, 10, [{ key: 'lab', value: '1' }]),
  );
  const slices = sliceMetrics(...spread(data));
  const siteA = slices.find((s) => s.key === 'site' && s.value === 'A')!;
  assert.equal(siteA.count, 20, 'a tag repeated on one image counts that image once');
  assert.equal(siteA.accuracy, 0.75, 'site=A: 15 of 20 right');
  assert.equal(siteA.restCount, 10, 'an image with site=A and site=B is not in the rest of site=A');
  assert.equal(siteA.restAccuracy, 1, 'the rest of site=A is the 10 lab=1 images, all right');
  const siteB = slices.find((s) => s.key === 'site' && s.value === 'B')!;
  assert.equal(siteB.restCount, 20, 'the rest of site=B: the site=A-only images and the images without a site key');
  assert.equal(siteB.restAccuracy, 0.75, 'rest of site=B: 15 of 20 right');

  // Every image carries batch=1: nothing to compare with, so it is listed but not tested.
  const everywhere = sliceMetrics(...spread(combine(group(20, 10, [{ key: 'batch', value: '1' }]))));
  assert.deepEqual(
    everywhere,
    [{ key: 'batch', value: '1', count: 20, accuracy: 0.5, restAccuracy: 0, restCount: 0, pValue: 1, adjustedP: 1, worse: false }],
    'a value on every image has an empty rest and p = 1',
  );
  const withSite = sliceMetrics(
    ...spread(
      combine(
        group(40, 20, [
          { key: 'batch', value: '1' },
          { key: 'site', value: 'B' },
        ]),
        group(400, 360, [{ key: 'batch', value: '1' }]),
      ),
    ),
  );
  const siteBOnly = withSite.find((s) => s.value === 'B')!;
  assert.equal(siteBOnly.adjustedP, siteBOnly.pValue, 'the untested batch=1 does not count in the Holm adjustment of site=B');
  assert.throws(() => sliceMetrics([true, false], [[]]), CoreError, 'two predictions with tags for one image are refused');
});

test('sliceMetrics: accepts a Uint8Array of right/wrong and sorts flagged slices first', () => {
  // Two worse slices, one with a smaller p; a better slice with the smallest p must still come after them.
  const data = combine(
    group(60, 20, [{ key: 'site', value: 'worst' }]),
    group(60, 40, [{ key: 'site', value: 'bad' }]),
    group(400, 400, [{ key: 'site', value: 'best' }]),
  );
  const slices = sliceMetrics(Uint8Array.from(data.correct, (c) => (c ? 1 : 0)), data.tags);
  assert.deepEqual(
    slices.map((s) => [s.value, s.worse]),
    [
      ['worst', true],
      ['bad', true],
      ['best', false],
    ],
    'worse slices first, by adjusted p; the significantly better slice last',
  );
  assert.ok(slices[2]!.adjustedP < slices[1]!.adjustedP, 'the better slice has the smallest p, yet is listed after the worse ones');
});

function spread(data: { correct: boolean[]; tags: ImageTag[][] }): [boolean[], ImageTag[][]] {
  return [data.correct, data.tags];
}
