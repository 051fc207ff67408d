import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoreError } from '../errors.ts';
import { bootstrapIntervals, headlineMetrics, oneVsRest, percentile } from './metrics.ts';

const near = (actual: number | null | undefined, expected: number, what: string): void =>
  assert.ok(typeof actual === 'number' && Math.abs(actual - expected) < 1e-9, `${what}: ${actual} vs ${expected}`);

/** Rows of [true class, probabilities] → the (probs, y) pair the metrics take. */
function dataset(rows: [number, number[]][]): { probs: Float32Array; y: Int32Array } {
  return { probs: Float32Array.from(rows.flatMap(([, p]) => p)), y: Int32Array.from(rows.map(([t]) => t)) };
}

/** Two classes where `score` is the probability of class 1. */
function binary(labels: number[], scores: number[]): { probs: Float32Array; y: Int32Array } {
  return dataset(labels.map((t, i) => [t, [1 - scores[i]!, scores[i]!]]));
}

test('headline, per-class and confusion on a 3-class case with ties in the argmax', () => {
  const { probs, y } = dataset([
    [0, [0.6, 0.3, 0.1]], // → 0
    [0, [0.4, 0.4, 0.2]], // → 0: tie of 0 and 1 goes to the lower index
    [0, [0.2, 0.5, 0.3]], // → 1
    [1, [0.1, 0.7, 0.2]], // → 1
    [1, [0.3, 0.3, 0.4]], // → 2
    [2, [0.2, 0.2, 0.6]], // → 2
    [2, [0.1, 0.45, 0.45]], // → 1: tie of 1 and 2 goes to the lower index
  ]);
  const m = headlineMetrics(probs, y, 3);
  assert.deepEqual(m.confusion, [[2, 1, 0], [0, 1, 1], [0, 1, 1]], 'confusion counts');
  const normalised = [[2 / 3, 1 / 3, 0], [0, 1 / 2, 1 / 2], [0, 1 / 2, 1 / 2]];
  normalised.forEach((row, t) => row.forEach((v, p) => near(m.confusionNormalised[t]![p], v, `normalised[${t}][${p}]`)));
  // class 0: TP 2, predicted 2, support 3 → P 1, R 2/3, F1 2·(2/3)/(5/3) = 0.8
  // class 1: TP 1, predicted 3, support 2 → P 1/3, R 1/2, F1 2·(1/6)/(5/6) = 0.4
  // class 2: TP 1, predicted 2, support 2 → P 1/2, R 1/2, F1 1/2
  const expected = [[1, 2 / 3, 0.8, 3], [1 / 3, 1 / 2, 0.4, 2], [1 / 2, 1 / 2, 1 / 2, 2]] as const;
  expected.forEach(([precision, recall, f1, support], c) => {
    near(m.perClass[c]!.precision, precision, `class ${c} precision`);
    near(m.perClass[c]!.recall, recall, `class ${c} recall`);
    near(m.perClass[c]!.f1, f1, `class ${c} F1`);
    assert.equal(m.perClass[c]!.support, support, `class ${c} support`);
  });
  near(m.accuracy, 4 / 7, 'accuracy: 2 + 1 + 1 right of 7');
  near(m.balancedAccuracy, 5 / 9, 'balanced accuracy: (2/3 + 1/2 + 1/2) / 3');
  near(m.macroF1, 17 / 30, 'macro-F1: (0.8 + 0.4 + 0.5) / 3');
  near(m.weightedF1, 0.6, 'weighted F1: (3·0.8 + 2·0.4 + 2·0.5) / 7 = 4.2 / 7');
});

test('a class never predicted has precision 0; a class without images is left out of the averages', () => {
  // 4 classes: class 2 has images but is never predicted; class 3 has no images but is predicted once.
  const { probs, y } = dataset([
    [0, [0.9, 0.05, 0.03, 0.02]], // → 0
    [0, [0.3, 0.1, 0.1, 0.5]], // → 3
    [1, [0.1, 0.8, 0.05, 0.05]], // → 1
    [1, [0.2, 0.7, 0.05, 0.05]], // → 1
    [1, [0.1, 0.6, 0.2, 0.1]], // → 1
    [2, [0.5, 0.2, 0.2, 0.1]], // → 0
    [2, [0.1, 0.5, 0.3, 0.1]], // → 1
  ]);
  const m = headlineMetrics(probs, y, 4);
  assert.deepEqual(m.confusion, [[1, 0, 0, 1], [0, 3, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]], 'confusion counts');
  assert.deepEqual(m.confusionNormalised[3], [0, 0, 0, 0], 'the row of a class without images stays zeros');
  // class 0: TP 1, predicted 2, support 2 → P 1/2, R 1/2, F1 1/2
  // class 1: TP 3, predicted 4, support 3 → P 3/4, R 1, F1 1.5/1.75 = 6/7
  // class 2: never predicted → P 0, R 0, F1 0, support 2
  // class 3: predicted once, wrongly, no images → P 0, R 0, F1 0, support 0
  const expected = [[1 / 2, 1 / 2, 1 / 2, 2], [3 / 4, 1, 6 / 7, 3], [0, 0, 0, 2], [0, 0, 0, 0]] as const;
  expected.forEach(([precision, recall, f1, support], c) => {
    near(m.perClass[c]!.precision, precision, `class ${c} precision`);
    near(m.perClass[c]!.recall, recall, `class ${c} recall`);
    near(m.perClass[c]!.f1, f1, `class ${c} F1`);
    assert.equal(m.perClass[c]!.support, support, `class ${c} support`);
  });
  near(m.accuracy, 4 / 7, 'accuracy');
  near(m.balancedAccuracy, 1 / 2, 'balanced accuracy over classes 0–2: (1/2 + 1 + 0) / 3');
  // scikit-learn's macro average would include class 3 (it is in y_pred): (1/2 + 6/7) / 4 = 19/56.
  near(m.macroF1, 19 / 42, 'macro-F1 over the classes with images: (1/2 + 6/7 + 0) / 3');
  near(m.weightedF1, 25 / 49, 'weighted F1: (2·1/2 + 3·6/7 + 2·0) / 7');

  const curves = oneVsRest(probs, y, 4);
  assert.equal(curves[3]!.positives, 0, 'class 3 has no images');
  assert.equal(curves[3]!.auc, null, 'no AUC without positives');
  assert.equal(curves[3]!.averagePrecision, null, 'no average precision without positives');
  assert.deepEqual([curves[3]!.roc, curves[3]!.pr], [[], []], 'no curves without positives');
  // Class 2, never predicted, still has a ranking: scores 0.2 and 0.3 for its images against
  // 0.03, 0.1, 0.05, 0.05, 0.2 for the rest. Pairs won: 0.3 beats all 5; 0.2 beats 4 and ties 1 (½).
  near(curves[2]!.auc, 9.5 / 10, 'class 2 AUC by pair counting');
});

test('a single-class test set: AUC is null for every class, average precision is 1 for the present class', () => {
  const { probs, y } = dataset([
    [0, [0.7, 0.2, 0.1]], // → 0
    [0, [0.5, 0.3, 0.2]], // → 0
    [0, [0.3, 0.6, 0.1]], // → 1
  ]);
  const m = headlineMetrics(probs, y, 3);
  near(m.accuracy, 2 / 3, 'accuracy');
  // Only class 0 has images: P 2/2 = 1, R 2/3, F1 2·(2/3)/(5/3) = 0.8.
  near(m.balancedAccuracy, 2 / 3, 'balanced accuracy is the recall of the one class');
  near(m.macroF1, 0.8, 'macro-F1 is the F1 of the one class');
  near(m.weightedF1, 0.8, 'weighted F1 is the F1 of the one class');
  near(m.perClass[1]!.precision, 0, 'class 1 predicted once, wrongly');

  const curves = oneVsRest(probs, y, 3);
  // Class 0 has no negatives, so its false-positive rate is 0/0: ROC undefined. Classes 1 and 2 have no positives.
  assert.deepEqual(curves.map((c) => c.auc), [null, null, null], 'AUC is null for every class');
  assert.deepEqual(curves[0]!.roc, [], 'no ROC curve without negatives');
  // Every image at every threshold is a positive: precision 1 throughout, so AP = 1.
  near(curves[0]!.averagePrecision, 1, 'class 0 average precision');
  assert.deepEqual(curves[0]!.pr.map((p) => p.precision), [1, 1, 1, 1], 'class 0 precision stays 1');
  assert.deepEqual(curves[0]!.pr.map((p) => p.recall), [0, 1 / 3, 2 / 3, 1], 'class 0 recall rises by one image per score');
  assert.deepEqual(curves.slice(1).map((c) => c.averagePrecision), [null, null], 'no AP for the absent classes');
});

test('ROC and AP on scikit-learn\'s documented example: AUC 0.75, AP 0.8333…', () => {
  // sklearn.metrics.roc_curve / average_precision_score docs: y = [0,0,1,1], scores = [0.1, 0.4, 0.35, 0.8].
  const scores = [0.1, 0.4, 0.35, 0.8];
  const { probs, y } = binary([0, 0, 1, 1], scores);
  const curve = oneVsRest(probs, y, 2)[1]!;
  assert.equal(curve.positives, 2, 'two positives');
  // Descending: 0.8 (+), 0.4 (−), 0.35 (+), 0.1 (−).
  assert.deepEqual(curve.roc.map((p) => [p.fpr, p.tpr]), [[0, 0], [0, 0.5], [0.5, 0.5], [0.5, 1], [1, 1]], 'ROC points');
  const f = Math.fround;
  assert.deepEqual(curve.roc.map((p) => p.threshold), [f(0.8) + 1, f(0.8), f(0.4), f(0.35), f(0.1)], 'ROC thresholds, the first above every score');
  // Trapezoids: 0 + 0.5·0.5 + 0 + 0.5·1 = 0.75.
  near(curve.auc, 0.75, 'AUC');
  // PR: (R 0, P 1), (1/2, 1), (1/2, 1/2), (1, 2/3), (1, 1/2).
  assert.deepEqual(curve.pr.map((p) => [p.recall, p.precision]), [[0, 1], [0.5, 1], [0.5, 0.5], [1, 2 / 3], [1, 0.5]], 'PR points');
  // AP = 0.5·1 + 0·0.5 + 0.5·(2/3) + 0·0.5 = 5/6.
  near(curve.averagePrecision, 5 / 6, 'average precision');
});

test('tied scores make one diagonal step: AUC counts a tied pair as half', () => {
  // Class 1 scores: positives 0.8, 0.6, 0.4; negatives 0.6, 0.4, 0.2 — ties at 0.6 and 0.4.
  const { probs, y } = binary([1, 1, 1, 0, 0, 0], [0.8, 0.6, 0.4, 0.6, 0.4, 0.2]);
  const curve = oneVsRest(probs, y, 2)[1]!;
  // Thresholds 0.8 (tp 1, fp 0), 0.6 (2, 1), 0.4 (3, 2), 0.2 (3, 3): one point per distinct score.
  const rocPoints = [[0, 0], [0, 1 / 3], [1 / 3, 2 / 3], [2 / 3, 1], [1, 1]];
  assert.equal(curve.roc.length, rocPoints.length, 'one ROC point per distinct score plus the start');
  rocPoints.forEach(([fpr, tpr], i) => {
    near(curve.roc[i]!.fpr, fpr!, `ROC point ${i} fpr`);
    near(curve.roc[i]!.tpr, tpr!, `ROC point ${i} tpr`);
  });
  // Trapezoids: 1/3·(1/3 + 2/3)/2 + 1/3·(2/3 + 1)/2 + 1/3·1 = 1/6 + 5/18 + 1/3 = 7/9.
  // Pair counting agrees: 0.8 wins 3; 0.6 wins 2, ties 1; 0.4 wins 1, ties 1 → (6 + 2·½) / 9 = 0.5 + 2.5/9.
  near(curve.auc, 7 / 9, 'AUC with ties');
  // PR: 0.8 → P 1, R 1/3; 0.6 → P 2/3, R 2/3; 0.4 → P 3/5, R 1; 0.2 → P 1/2, R 1.
  // AP = 1/3·1 + 1/3·2/3 + 1/3·3/5 + 0 = (15 + 10 + 9) / 45.
  near(curve.averagePrecision, 34 / 45, 'average precision with ties');

  // Every score tied: a single step straight from (0,0) to (1,1), AUC exactly one half, AP the base rate.
  const allTied = binary([1, 0, 0, 1, 0], [0.5, 0.5, 0.5, 0.5, 0.5]);
  const flat = oneVsRest(allTied.probs, allTied.y, 2)[1]!;
  assert.deepEqual(flat.roc.map((p) => [p.fpr, p.tpr]), [[0, 0], [1, 1]], 'all-tied ROC is one diagonal step');
  near(flat.auc, 0.5, 'all-tied AUC');
  near(flat.averagePrecision, 2 / 5, 'all-tied AP is the share of positives');
});

test('an empty set gives zeros and no curves; malformed input is refused', () => {
  const m = headlineMetrics(new Float32Array(0), new Int32Array(0), 2);
  assert.deepEqual(
    { accuracy: m.accuracy, balancedAccuracy: m.balancedAccuracy, macroF1: m.macroF1, weightedF1: m.weightedF1 },
    { accuracy: 0, balancedAccuracy: 0, macroF1: 0, weightedF1: 0 },
    'headline zeros',
  );
  assert.deepEqual(m.confusion, [[0, 0], [0, 0]], 'empty confusion');
  assert.deepEqual(m.confusionNormalised, [[0, 0], [0, 0]], 'empty normalised confusion');
  const curves = oneVsRest(new Float32Array(0), new Int32Array(0), 2);
  assert.deepEqual(curves.map((c) => [c.positives, c.auc, c.averagePrecision, c.roc.length, c.pr.length]), [[0, null, null, 0, 0], [0, null, null, 0, 0]], 'no curves');
  const intervals = bootstrapIntervals(new Float32Array(0), new Int32Array(0), 2);
  assert.deepEqual(intervals.accuracy, { value: 0, low: 0, high: 0 }, 'empty interval');

  assert.throws(() => headlineMetrics(new Float32Array(3), new Int32Array(2), 2), CoreError, 'probabilities of the wrong length');
  assert.throws(() => oneVsRest(new Float32Array(4), Int32Array.from([0, 2]), 2), CoreError, 'a class index out of range');
  assert.throws(() => headlineMetrics(Float32Array.from([NaN, 0.5]), Int32Array.from([0]), 2), CoreError, 'a NaN probability');
  assert.throws(() => headlineMetrics(new Float32Array(0), new Int32Array(0), 0), CoreError, 'no classes');
  assert.throws(() => bootstrapIntervals(Float32Array.from([1, 0]), Int32Array.from([0]), 2, { samples: 0 }), CoreError, 'zero resamples');
});

test('percentile interpolates linearly between order statistics (numpy default)', () => {
  const values = [1, 2, 3, 4, 5];
  near(percentile(values, 0.025), 1.1, 'position 4·0.025 = 0.1: 1 + 0.1·(2 − 1)');
  near(percentile(values, 0.975), 4.9, 'position 4·0.975 = 3.9: 4 + 0.9·(5 − 4)');
  near(percentile(values, 0.5), 3, 'median');
  near(percentile([7], 0.975), 7, 'one value');
  assert.ok(Number.isNaN(percentile([], 0.5)), 'no values give NaN');
});

/** n images of k classes, each right with probability `rightShare` (deterministic pattern). */
function mixedSet(n: number, k: number, rightShare: number): { probs: Float32Array; y: Int32Array } {
  const rows: [number, number[]][] = [];
  for (let i = 0; i < n; i++) {
    const truth = i % k;
    // Spread the right ones evenly: image i is right when floor((i+1)·share) rises.
    const right = Math.floor((i + 1) * rightShare) > Math.floor(i * rightShare);
    const predicted = right ? truth : (truth + 1 + (i % (k - 1))) % k;
    const p = new Array<number>(k).fill(0.4 / (k - 1));
    p[predicted] = 0.6;
    rows.push([truth, p]);
  }
  return dataset(rows);
}

test('bootstrap intervals: deterministic per seed, contain the full-set value, narrow with more images', () => {
  const small = mixedSet(30, 3, 0.7);
  const a = bootstrapIntervals(small.probs, small.y, 3, { samples: 500, seed: 7 });
  const b = bootstrapIntervals(small.probs, small.y, 3, { samples: 500, seed: 7 });
  const c = bootstrapIntervals(small.probs, small.y, 3, { samples: 500, seed: 8 });
  assert.deepEqual(a, b, 'the same seed gives the same intervals');
  assert.notDeepEqual(a, c, 'another seed gives other intervals');

  const full = headlineMetrics(small.probs, small.y, 3);
  for (const key of ['accuracy', 'balancedAccuracy', 'macroF1', 'weightedF1'] as const) {
    near(a[key].value, full[key], `${key}: value is the metric on the full set`);
    assert.ok(a[key].low <= a[key].value && a[key].value <= a[key].high, `${key}: ${a[key].low} ≤ ${a[key].value} ≤ ${a[key].high}`);
    assert.ok(a[key].high - a[key].low > 0.1, `${key}: 30 images at 70% leave a wide interval (${a[key].low}–${a[key].high})`);
  }
  near(a.accuracy.value, 21 / 30, 'the pattern puts 21 of 30 right');
  // The accuracy of a resample is Binomial(30, 0.7) / 30: standard error √(0.7·0.3/30) ≈ 0.0837, so the
  // 2.5th and 97.5th percentiles sit near 0.7 ∓ 1.96·0.0837 = 0.536 and 0.864 (on steps of 1/30).
  const wideDefault = bootstrapIntervals(small.probs, small.y, 3);
  assert.ok(Math.abs(wideDefault.accuracy.low - 0.536) < 0.05, `accuracy low ${wideDefault.accuracy.low} near 0.536`);
  assert.ok(Math.abs(wideDefault.accuracy.high - 0.864) < 0.05, `accuracy high ${wideDefault.accuracy.high} near 0.864`);

  // On 300 images the steps (1/300) are fine enough to tell the 97.5th percentile from the 95th:
  // SE √(0.21/300) ≈ 0.02646, so 0.7 ∓ 1.96·SE = 0.6481 and 0.7519 (the 95th would be 0.7435).
  const medium = mixedSet(300, 3, 0.7);
  const mediumIntervals = bootstrapIntervals(medium.probs, medium.y, 3);
  assert.ok(Math.abs(mediumIntervals.accuracy.low - 0.6481) < 0.005, `300 images: accuracy low ${mediumIntervals.accuracy.low} near 0.6481`);
  assert.ok(Math.abs(mediumIntervals.accuracy.high - 0.7519) < 0.005, `300 images: accuracy high ${mediumIntervals.accuracy.high} near 0.7519`);

  // The same 70% on 100× the images: the standard error shrinks by √100 = 10.
  const large = mixedSet(3000, 3, 0.7);
  const wide = wideDefault;
  const narrow = bootstrapIntervals(large.probs, large.y, 3);
  for (const key of ['accuracy', 'balancedAccuracy', 'macroF1', 'weightedF1'] as const) {
    const ratio = (narrow[key].high - narrow[key].low) / (wide[key].high - wide[key].low);
    assert.ok(ratio > 0.05 && ratio < 0.2, `${key}: 100× the images narrows the interval about 10× (ratio ${ratio})`);
  }
});

test('bootstrap intervals collapse where every resample agrees, and span the extremes of a two-image set', () => {
  // All right: every resample scores 1 on every metric.
  const right = dataset([[0, [0.9, 0.1]], [1, [0.2, 0.8]], [1, [0.4, 0.6]], [0, [0.7, 0.3]]]);
  const perfect = bootstrapIntervals(right.probs, right.y, 2);
  for (const key of ['accuracy', 'balancedAccuracy', 'macroF1', 'weightedF1'] as const) {
    assert.deepEqual(perfect[key], { value: 1, low: 1, high: 1 }, `${key}: all-right predictions give [1, 1]`);
  }
  // One image: every resample is that image.
  const one = bootstrapIntervals(Float32Array.from([0.3, 0.7]), Int32Array.from([0]), 2);
  assert.deepEqual(one.accuracy, { value: 0, low: 0, high: 0 }, 'one wrong image: accuracy [0, 0]');
  // Two images, one right: a resample has 0, 1 or 2 right with chances 1/4, 1/2, 1/4, so about
  // 250 of 1000 resamples score 0 and 250 score 1; the 2.5th and 97.5th percentiles land inside those runs.
  const two = bootstrapIntervals(Float32Array.from([0.9, 0.1, 0.8, 0.2]), Int32Array.from([0, 1]), 2);
  assert.deepEqual(two.accuracy, { value: 0.5, low: 0, high: 1 }, 'two images, one right: accuracy [0, 1]');
});

// Its speed (400 images × 6 classes × 1000 resamples) is measured by `npm run bench -- --only learning` (evaluating a TrashNet run), not here.
test('bootstrap of 400 images × 6 classes: an accuracy interval around the true rate', () => {
  const { probs, y } = mixedSet(400, 6, 0.8);
  const intervals = bootstrapIntervals(probs, y, 6, { samples: 1000, seed: 3 });
  assert.ok(intervals.accuracy.low < 0.8 && intervals.accuracy.high > 0.8, `accuracy interval ${intervals.accuracy.low}–${intervals.accuracy.high} holds 0.8`);
});
