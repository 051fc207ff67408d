import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoreError } from '../errors.ts';
import { SeededRandom } from '../ml/train/prng.ts';
import { applyTemperature, coverageCurve, fitTemperature, reliability, thresholdFor } from './calibration.ts';

function close(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: expected ${expected} ± ${tolerance}, got ${actual}`);
}

/** Standard normal by Box–Muller from the seeded generator. */
function normal(random: SeededRandom): number {
  const u = 1 - random.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.next());
}

function softmax(logits: number[], temperature = 1): number[] {
  const scaled = logits.map((z) => z / temperature);
  const max = Math.max(...scaled);
  const exps = scaled.map((z) => Math.exp(z - max));
  const sum = exps.reduce((s, e) => s + e, 0);
  return exps.map((e) => e / sum);
}

function drawClass(random: SeededRandom, probabilities: number[]): number {
  let u = random.next();
  for (let c = 0; c < probabilities.length; c++) {
    u -= probabilities[c]!;
    if (u < 0) return c;
  }
  return probabilities.length - 1;
}

/**
 * A synthetic model over k classes: each image has true logits z (normal, scale 2, plus a bump on
 * a random class), its label is drawn from softmax(z), and the model reports softmax(z / sharpening).
 * sharpening = 1 is a perfectly calibrated model; < 1 an over-confident one.
 */
function syntheticModel(seed: number, n: number, k: number, sharpening: number): { probs: Float32Array; y: Int32Array } {
  const random = new SeededRandom(seed);
  const probs = new Float32Array(n * k);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const bumped = random.nextInt(k);
    const logits = Array.from({ length: k }, (_, c) => 2 * normal(random) + (c === bumped ? 2 : 0));
    y[i] = drawClass(random, softmax(logits));
    probs.set(softmax(logits, sharpening), i * k);
  }
  return { probs, y };
}

// Four images, three classes, two bins [0, 0.5) and [0.5, 1]:
//   row                 true  top   predicted  right  bin
//   [0.4, 0.3, 0.3]      0    0.4       0       yes    0
//   [0.2, 0.45, 0.35]    2    0.45      1       no     0
//   [0.9, 0.05, 0.05]    0    0.9       0       yes    1
//   [0.1, 0.2, 0.7]      1    0.7       2       no     1
const TINY_PROBS = new Float32Array([0.4, 0.3, 0.3, 0.2, 0.45, 0.35, 0.9, 0.05, 0.05, 0.1, 0.2, 0.7]);
const TINY_Y = new Int32Array([0, 2, 0, 1]);

test('reliability: ECE and NLL of four images in two bins match the hand-worked values', () => {
  const report = reliability(TINY_PROBS, TINY_Y, 3, 2);
  // bin 0: count 2, confidence (0.4 + 0.45)/2 = 0.425, accuracy 1/2 = 0.5
  // bin 1: count 2, confidence (0.9 + 0.7)/2 = 0.8,    accuracy 1/2 = 0.5
  // ECE = 2/4·|0.5 − 0.425| + 2/4·|0.5 − 0.8| = 0.0375 + 0.15 = 0.1875
  // NLL = −(ln 0.4 + ln 0.35 + ln 0.9 + ln 0.2)/4 = (0.916291 + 1.049822 + 0.105361 + 1.609438)/4 = 0.920228
  assert.equal(report.bins.length, 2, 'two bins were asked for');
  assert.deepEqual(
    report.bins.map((b) => [b.lower, b.upper, b.count]),
    [
      [0, 0.5, 2],
      [0.5, 1, 2],
    ],
    'bin edges and counts',
  );
  close(report.bins[0]!.confidence, 0.425, 1e-6, 'bin 0 mean confidence');
  close(report.bins[0]!.accuracy, 0.5, 1e-12, 'bin 0 accuracy');
  close(report.bins[1]!.confidence, 0.8, 1e-6, 'bin 1 mean confidence');
  close(report.bins[1]!.accuracy, 0.5, 1e-12, 'bin 1 accuracy');
  close(report.ece, 0.1875, 1e-6, 'ECE');
  close(report.nll, 0.920228, 1e-6, 'NLL');
});

test('reliability: ties go to the lower class, 0.5 opens the upper bin, 1.0 lands in the last bin, empty bins are zeros', () => {
  // [0.5, 0.5] true 1: a tie, predicted 0 (lower index), wrong; top 0.5 is the lower edge of bin 1.
  // [1, 0]     true 0: right; top 1.0 belongs to the last bin, which is closed at 1.
  // bin 0 empty; bin 1: count 2, confidence 0.75, accuracy 0.5 → ECE = |0.5 − 0.75| = 0.25
  // NLL = −(ln 0.5 + ln 1)/2 = 0.346574
  const report = reliability(new Float32Array([0.5, 0.5, 1, 0]), new Int32Array([1, 0]), 2, 2);
  assert.deepEqual(report.bins[0], { lower: 0, upper: 0.5, count: 0, confidence: 0, accuracy: 0 }, 'an empty bin reports zeros');
  assert.equal(report.bins[1]!.count, 2, 'both images are in the upper bin');
  close(report.bins[1]!.accuracy, 0.5, 1e-12, 'the tie is predicted as class 0, so one of two is right');
  close(report.ece, 0.25, 1e-12, 'ECE');
  close(report.nll, 0.346574, 1e-6, 'NLL');

  // 15 bins: a true probability of 0 is floored at 1e-7, costing −ln 1e-7 = 16.118096.
  const floored = reliability(new Float32Array([1, 0]), new Int32Array([1]), 2);
  assert.equal(floored.bins.length, 15, 'fifteen bins by default');
  assert.equal(floored.bins[14]!.count, 1, 'a top probability of exactly 1 is in the last bin');
  close(floored.nll, 16.118096, 1e-6, 'NLL of a certain mistake is floored');
  close(floored.ece, 1, 1e-12, 'certain and wrong: ECE 1');
});

test('reliability: no images gives zero ECE and NLL; mismatched shapes are refused', () => {
  const empty = reliability(new Float32Array(0), new Int32Array(0), 3);
  assert.equal(empty.ece, 0, 'ECE of nothing');
  assert.equal(empty.nll, 0, 'NLL of nothing');
  assert.ok(
    empty.bins.every((b) => b.count === 0),
    'every bin is empty',
  );
  assert.throws(() => reliability(new Float32Array(5), new Int32Array(2), 3), CoreError, '5 probabilities cannot be 2 rows of 3');
  assert.throws(() => reliability(new Float32Array(6), new Int32Array([0, 3]), 3), CoreError, 'class 3 of 3 does not exist');
});

test('reliability: a perfectly calibrated model has ECE near 0, and the same one sharpened does not', () => {
  const n = 20000;
  const calibrated = syntheticModel(7, n, 4, 1);
  const report = reliability(calibrated.probs, calibrated.y, 4);
  // Sampling noise alone: Σ (n_b/n)·sqrt(acc(1−acc)/n_b) ≤ sqrt(15·0.25/n) ≈ 0.014 at worst.
  assert.ok(report.ece < 0.02, `a calibrated model's ECE is sampling noise only; got ${report.ece}`);
  const total = report.bins.reduce((s, b) => s + b.count, 0);
  assert.equal(total, n, 'every image falls in exactly one bin');
  const sharpened = syntheticModel(7, n, 4, 0.3);
  const overConfident = reliability(sharpened.probs, sharpened.y, 4);
  assert.ok(overConfident.ece > 0.1, `the same model at T = 0.3 is visibly over-confident; ECE ${overConfident.ece}`);
});

test('fitTemperature: on an over-confident model, finds about 1/0.3 and lowers ECE and NLL', () => {
  const sharpening = 0.3;
  const k = 5;
  const { probs, y } = syntheticModel(2024, 2000, k, sharpening);
  const before = reliability(probs, y, k);
  const fit = fitTemperature(probs, y, k);
  // Reported logits are z/0.3, so dividing them by T = 1/0.3 ≈ 3.33 gives back the true z.
  const trueTemperature = 1 / sharpening;
  assert.ok(
    Math.abs(fit.temperature - trueTemperature) / trueTemperature < 0.15,
    `fitted T ${fit.temperature} should be within 15% of ${trueTemperature}`,
  );
  close(fit.nllBefore, before.nll, 1e-6, 'nllBefore is the NLL of the probabilities as given');
  const after = reliability(applyTemperature(probs, k, fit.temperature), y, k);
  close(fit.nllAfter, after.nll, 1e-5, 'nllAfter is the NLL of the rescaled probabilities');
  assert.ok(after.nll < before.nll, `NLL should drop: before ${before.nll}, after ${after.nll}`);
  assert.ok(after.ece < before.ece / 2, `ECE should at least halve: before ${before.ece}, after ${after.ece}`);
  // The fitted T is a minimum: nudging it either way costs NLL.
  for (const factor of [0.9, 1.1]) {
    const nudged = reliability(applyTemperature(probs, k, fit.temperature * factor), y, k);
    assert.ok(nudged.nll > after.nll, `T × ${factor} should be worse than the fitted T (${nudged.nll} vs ${after.nll})`);
  }
  assert.deepEqual(fitTemperature(probs, y, k), fit, 'the fit is deterministic');
});

test('fitTemperature: an under-confident model is sharpened; a calibrated one stays near 1; no images gives 1', () => {
  const under = syntheticModel(11, 2000, 3, 2);
  const fitUnder = fitTemperature(under.probs, under.y, 3);
  assert.ok(Math.abs(fitUnder.temperature - 0.5) / 0.5 < 0.15, `reported logits z/2 want T ≈ 0.5; got ${fitUnder.temperature}`);
  const calibrated = syntheticModel(12, 2000, 3, 1);
  const fitCalibrated = fitTemperature(calibrated.probs, calibrated.y, 3);
  assert.ok(Math.abs(fitCalibrated.temperature - 1) < 0.15, `a calibrated model wants T ≈ 1; got ${fitCalibrated.temperature}`);
  assert.deepEqual(fitTemperature(new Float32Array(0), new Int32Array(0), 3), { temperature: 1, nllBefore: 0, nllAfter: 0 }, 'no images: T = 1');
  // Uniform predictions: every T gives NLL ln 3, so nothing justifies moving from 1.
  const uniform = fitTemperature(new Float32Array(6).fill(1 / 3), new Int32Array([0, 2]), 3);
  assert.equal(uniform.temperature, 1, 'a flat objective keeps T = 1');
  close(uniform.nllBefore, Math.log(3), 1e-6, 'NLL of uniform guesses over 3 classes is ln 3');
});

test('applyTemperature: T = 1 is the identity, every T keeps the argmax, rows sum to 1, input untouched', () => {
  const { probs } = syntheticModel(5, 500, 6, 0.7);
  const original = probs.slice();
  const identity = applyTemperature(probs, 6, 1);
  assert.notEqual(identity, probs, 'a new array is returned');
  for (let j = 0; j < probs.length; j++) close(identity[j]!, probs[j]!, 1e-6, `T = 1 keeps probability ${j}`);
  const argmax = (row: Float32Array, i: number) => {
    let best = 0;
    for (let c = 1; c < 6; c++) if (row[i * 6 + c]! > row[i * 6 + best]!) best = c;
    return best;
  };
  for (const temperature of [0.05, 0.3, 3.33, 20]) {
    const scaled = applyTemperature(probs, 6, temperature);
    for (let i = 0; i < 500; i++) {
      assert.equal(argmax(scaled, i), argmax(probs, i), `T = ${temperature} changed the predicted class of image ${i}`);
      let sum = 0;
      for (let c = 0; c < 6; c++) sum += scaled[i * 6 + c]!;
      close(sum, 1, 1e-5, `row ${i} at T = ${temperature} sums to 1`);
    }
  }
  // Softening by T = 2 by hand: [0.8, 0.2] → sqrt ratio → [√0.8, √0.2]/(√0.8 + √0.2) = [2/3, 1/3].
  const softened = applyTemperature(new Float32Array([0.8, 0.2]), 2, 2);
  close(softened[0]!, 2 / 3, 1e-6, 'T = 2 takes the square root of the odds');
  assert.deepEqual(probs, original, 'the input probabilities are not modified');
  assert.throws(() => applyTemperature(probs, 6, 0), CoreError, 'T = 0 is refused');
  assert.throws(() => applyTemperature(probs, 6, Number.NaN), CoreError, 'T = NaN is refused');
});

test('coverageCurve: hand-worked curve on four images, and thresholdFor picks the lowest threshold reaching the target', () => {
  const points = coverageCurve(TINY_PROBS, TINY_Y, 3);
  // Tops, most confident first: 0.9 right, 0.7 wrong, 0.45 wrong, 0.4 right.
  //   threshold 0    keeps 4: coverage 1,    accuracy 2/4
  //   threshold 0.4  keeps 4: coverage 1,    accuracy 2/4
  //   threshold 0.45 keeps 3: coverage 0.75, accuracy 1/3
  //   threshold 0.7  keeps 2: coverage 0.5,  accuracy 1/2
  //   threshold 0.9  keeps 1: coverage 0.25, accuracy 1
  const expected = [
    { threshold: 0, coverage: 1, accuracy: 0.5 },
    { threshold: Math.fround(0.4), coverage: 1, accuracy: 0.5 },
    { threshold: Math.fround(0.45), coverage: 0.75, accuracy: 1 / 3 },
    { threshold: Math.fround(0.7), coverage: 0.5, accuracy: 0.5 },
    { threshold: Math.fround(0.9), coverage: 0.25, accuracy: 1 },
  ];
  assert.deepEqual(points, expected, 'the coverage curve of the four images');
  assert.equal(thresholdFor(points, 0.9), Math.fround(0.9), 'only the 0.9 threshold reaches 90%');
  assert.equal(thresholdFor(points, 0.5), 0, 'the plain accuracy already reaches 50%');
  assert.equal(thresholdFor(points, 1.01), null, 'no threshold reaches 101%');
  assert.deepEqual(coverageCurve(new Float32Array(0), new Int32Array(0), 3), [], 'no images, no curve');
  assert.equal(thresholdFor([], 0.5), null, 'no curve, no threshold');
});

test('coverageCurve: starts at full coverage with the plain accuracy, coverage never rises, thresholds ascend', () => {
  const k = 4;
  const { probs, y } = syntheticModel(99, 3000, k, 0.6);
  const points = coverageCurve(probs, y, k);
  let right = 0;
  for (let i = 0; i < y.length; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (probs[i * k + c]! > probs[i * k + best]!) best = c;
    if (best === y[i]) right++;
  }
  assert.deepEqual(points[0], { threshold: 0, coverage: 1, accuracy: right / y.length }, 'threshold 0 keeps everything');
  assert.ok(points.length > 100, `one point per distinct confidence; got ${points.length}`);
  for (let p = 1; p < points.length; p++) {
    assert.ok(points[p]!.threshold > points[p - 1]!.threshold, `thresholds strictly ascend at point ${p}`);
    assert.ok(points[p]!.coverage <= points[p - 1]!.coverage, `coverage never rises with the threshold (point ${p})`);
    assert.ok(points[p]!.coverage > 0, `every point keeps at least one image (point ${p})`);
  }
  const target = 0.95;
  const threshold = thresholdFor(points, target);
  assert.notEqual(threshold, null, 'a confident enough threshold reaches 95%');
  const chosen = points.find((p) => p.threshold === threshold)!;
  assert.ok(chosen.accuracy >= target, `the chosen threshold keeps ${chosen.accuracy} ≥ ${target}`);
  assert.ok(
    points.filter((p) => p.threshold < threshold!).every((p) => p.accuracy < target),
    'no lower threshold reaches the target',
  );
});
