import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { chooseBackend } from '../ml/runtime.ts';
import { SeededRandom } from '../ml/train/prng.ts';
import { classOverlap, confidentJoint, findLabelIssues, outOfFoldProbabilities, stratifiedFolds } from './confident-learning.ts';

before(async () => {
  await chooseBackend();
});

/** Standard normal by Box–Muller from the seeded generator. */
function gaussian(rng: SeededRandom): number {
  const u = 1 - rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

/**
 * k Gaussian clusters in `dims` dimensions, centres `separation` apart on random axes, and
 * a copy of the labels with `noise` of them flipped to another class (seeded).
 */
function clusters(n: number, k: number, dims: number, separation: number, noise: number, seed: number) {
  const rng = new SeededRandom(seed);
  const centres = Array.from({ length: k }, () => Float32Array.from({ length: dims }, () => gaussian(rng) * separation));
  const x = new Float32Array(n * dims);
  const truth = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % k;
    truth[i] = c;
    for (let d = 0; d < dims; d++) x[i * dims + d] = centres[c]![d]! + gaussian(rng);
  }
  const labels = Int32Array.from(truth);
  const order = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
  const flipped = new Set<number>();
  for (const i of order.subarray(0, Math.round(noise * n))) {
    labels[i] = (truth[i]! + 1 + rng.nextInt(k - 1)) % k;
    flipped.add(i);
  }
  return { x, truth, labels, flipped };
}

function precisionRecall(found: number[], truth: Set<number>): { precision: number; recall: number } {
  const hits = found.filter((i) => truth.has(i)).length;
  return { precision: found.length ? hits / found.length : 0, recall: truth.size ? hits / truth.size : 0 };
}

test('confident joint and thresholds on a hand-made case', () => {
  // 3 classes; example 3 is labelled 0 but confidently class 1.
  const probs = Float32Array.from([0.8, 0.1, 0.1, 0.7, 0.2, 0.1, 0.9, 0.05, 0.05, 0.1, 0.85, 0.05, 0.1, 0.8, 0.1, 0.2, 0.2, 0.6, 0.1, 0.1, 0.8]);
  const labels = Int32Array.from([0, 0, 0, 0, 1, 2, 2]);
  const { thresholds, joint } = confidentJoint(probs, labels, 3);
  assert.ok(Math.abs(thresholds[0]! - (0.8 + 0.7 + 0.9 + 0.1) / 4) < 1e-6, `t_0 is the mean p(0) over label 0, got ${thresholds[0]}`);
  assert.ok(Math.abs(thresholds[1]! - 0.8) < 1e-6, `t_1 is 0.8, got ${thresholds[1]}`);
  assert.equal(joint[0 * 3 + 1], 1, 'the example labelled 0 but confidently 1 is counted in C[0][1]');
  const { issues } = findLabelIssues(probs, labels, 3);
  assert.deepEqual(
    issues.map((i) => [i.index, i.given, i.suggested]),
    [[3, 0, 1]],
    `only example 3 is a label issue, suggested class 1; got ${JSON.stringify(issues)}`,
  );
  assert.ok(Math.abs(issues[0]!.selfConfidence - 0.1) < 1e-6 && Math.abs(issues[0]!.suggestedProbability - 0.85) < 1e-6, 'self-confidence and suggestion come from the probabilities');
});

test('stratified folds spread each class evenly and are reproducible', () => {
  const labels = Int32Array.from({ length: 103 }, (_, i) => (i < 50 ? 0 : i < 97 ? 1 : 2));
  const a = stratifiedFolds(labels, 3, 5, 7);
  assert.deepEqual(Array.from(a), Array.from(stratifiedFolds(labels, 3, 5, 7)), 'same seed, same folds');
  for (let c = 0; c < 3; c++) {
    const per = [0, 0, 0, 0, 0];
    labels.forEach((y, i) => y === c && per[a[i]!]!++);
    assert.ok(Math.max(...per) - Math.min(...per) <= 1, `class ${c} is spread evenly over the folds: ${per}`);
  }
});

test('10% injected label flips in Gaussian clusters: precision ≥ 0.7, recall ≥ 0.6 from out-of-fold probabilities', async () => {
  const n = 900;
  const k = 6;
  const dims = 64;
  const { x, labels, flipped, truth } = clusters(n, k, dims, 0.45, 0.1, 42);
  const tensorsBefore = tf.memory().numTensors;
  const started = performance.now();
  const folds: number[] = [];
  const { probs, cancelled } = await outOfFoldProbabilities({ x, dims, labels, numClasses: k, folds: 5, seed: 3, onFold: (done) => void folds.push(done) });
  const oofSeconds = (performance.now() - started) / 1000;
  assert.equal(cancelled, false, 'not cancelled');
  assert.deepEqual(folds, [1, 2, 3, 4, 5], 'progress after each fold');
  assert.equal(tf.memory().numTensors, tensorsBefore, 'out-of-fold training leaks no tensors');
  // Out-of-fold accuracy against the true classes: the clusters overlap, but not hopelessly.
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (probs[i * k + j]! > probs[i * k + best]!) best = j;
    if (best === truth[i]) correct++;
  }
  const accuracy = correct / n;

  for (const method of ['prune-by-noise-rate', 'confident-joint'] as const) {
    const result = findLabelIssues(probs, labels, k, { method });
    const found = result.issues.map((i) => i.index);
    const { precision, recall } = precisionRecall(found, flipped);
    const suggestedRight = result.issues.filter((i) => flipped.has(i.index) && i.suggested === truth[i.index]).length;
    console.log(
      `${method}: accuracy ${accuracy.toFixed(3)} (vs truth), ${found.length} flagged of ${flipped.size} flipped, estimated ${result.estimatedIssues.toFixed(1)}, ` +
        `precision ${precision.toFixed(3)}, recall ${recall.toFixed(3)}, suggestion right on ${suggestedRight}, out-of-fold training ${oofSeconds.toFixed(1)} s`,
    );
    assert.ok(precision >= 0.7, `${method}: precision ${precision.toFixed(3)} ≥ 0.7`);
    assert.ok(recall >= 0.6, `${method}: recall ${recall.toFixed(3)} ≥ 0.6`);
    assert.ok(suggestedRight >= 0.8 * precision * found.length, `${method}: the suggestion is the true class for most caught flips (${suggestedRight})`);
    const scores = result.issues.map((i) => i.score);
    assert.ok(scores.every((s, i) => i === 0 || scores[i - 1]! >= s), `${method}: issues are ranked most suspicious first`);
  }
  // Ranked by self-confidence, the top of the list is almost all real flips.
  const top = findLabelIssues(probs, labels, k).issues.slice(0, 30).map((i) => i.index);
  const topPrecision = precisionRecall(top, flipped).precision;
  assert.ok(topPrecision >= 0.9, `the 30 least self-confident issues are ≥ 90% real flips (${topPrecision.toFixed(3)})`);

  // A self-confidence cap trades recall for precision; it never adds issues.
  const all = findLabelIssues(probs, labels, k);
  const capped = findLabelIssues(probs, labels, k, { maxSelfConfidence: 0.1 });
  const cappedPr = precisionRecall(capped.issues.map((i) => i.index), flipped);
  const allPr = precisionRecall(all.issues.map((i) => i.index), flipped);
  assert.ok(capped.issues.every((i) => i.selfConfidence < 0.1), 'the cap holds');
  assert.ok(capped.issues.length < all.issues.length && cappedPr.precision >= allPr.precision, `capped: precision ${cappedPr.precision.toFixed(3)} ≥ ${allPr.precision.toFixed(3)}`);
  console.log(`maxSelfConfidence 0.1: ${capped.issues.length} flagged, precision ${cappedPr.precision.toFixed(3)}, recall ${cappedPr.recall.toFixed(3)}`);

  const overlap = classOverlap({ probs, labels, k });
  assert.ok(overlap.length > 0 && overlap[0]!.score > 0, `class overlap finds confused pairs: ${JSON.stringify(overlap.slice(0, 2))}`);
});

test('a clean dataset yields few label issues', async () => {
  const n = 300;
  const k = 3;
  const dims = 32;
  const { x, labels } = clusters(n, k, dims, 1.5, 0, 9);
  const { probs } = await outOfFoldProbabilities({ x, dims, labels, numClasses: k, seed: 1 });
  const { issues } = findLabelIssues(probs, labels, k);
  assert.ok(issues.length <= 3, `well-separated, correctly labelled clusters: at most 3 issues, got ${issues.length}`);
});

test('class overlap from a confusion matrix ranks the most confused pair first', () => {
  const pairs = classOverlap({
    confusion: [
      [50, 8, 1],
      [6, 40, 0],
      [2, 0, 30],
    ],
  });
  assert.deepEqual(
    pairs.map((p) => [p.a, p.b, p.aAsB, p.bAsA]),
    [
      [0, 1, 8, 6],
      [0, 2, 1, 2],
    ],
    `pairs by overlap, empty pairs left out: ${JSON.stringify(pairs)}`,
  );
});
