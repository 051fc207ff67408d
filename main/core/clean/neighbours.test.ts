import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { resolveBackboneDir } from '../ml/backbones.ts';
import { EmbedPool } from '../ml/embed-pool.ts';
import { chooseBackend } from '../ml/runtime.ts';
import { SeededRandom } from '../ml/train/prng.ts';
import { knnOutliers, l2Normalise, nearDuplicateGroups, nearestNeighbours } from './neighbours.ts';

const MODELS = process.env.SEEDBED_MODELS_DIR || nodePath.resolve(import.meta.dirname, '../../../../shared/models');
const TRASHNET = nodePath.resolve(import.meta.dirname, '../../../../shared/data/trashnet');
const BACKBONE = 'mobilenet_v1_0.25_224';
const haveData = fs.existsSync(TRASHNET) && fs.existsSync(nodePath.join(MODELS, BACKBONE));
const skip = haveData ? false : `needs ../shared/data/trashnet and ${BACKBONE} in ${MODELS}`;
/**
 * Cosine similarity above which two mobilenet_v1_0.25_224 embeddings are called the same
 * photo. Measured on the 60 TrashNet images below: a JPEG q40 re-encode scores ≥ 0.959 with
 * its original and a mirror image ≥ 0.960, while two different photos (any views) score at
 * most 0.926.
 */
const NEAR_DUPLICATE = 0.94;

before(async () => {
  await chooseBackend();
});

function gaussian(rng: SeededRandom): number {
  const u = 1 - rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

function randomRows(n: number, dims: number, rng: SeededRandom): Float32Array {
  return Float32Array.from({ length: n * dims }, () => gaussian(rng));
}

test('near-duplicates: tiny perturbations are grouped with their source, distinct vectors are not; groups join transitively', () => {
  const rng = new SeededRandom(5);
  const dims = 128;
  const n = 200;
  const base = randomRows(n, dims, rng);
  // Copies of the first 20 rows, each nudged by noise at 1% of a row's length.
  const copies = 20;
  const emb = new Float32Array((n + copies + 3) * dims);
  emb.set(base);
  for (let c = 0; c < copies; c++) for (let d = 0; d < dims; d++) emb[(n + c) * dims + d] = base[c * dims + d]! + 0.01 * gaussian(rng);
  // A chain a → b → c: neighbours in turn are above the threshold, a and c are not.
  const a = randomRows(1, dims, rng);
  const step = randomRows(1, dims, rng);
  const unitA = l2Normalise(a, dims);
  // u: unit, orthogonal to a; the chain walks 15° at a time along the arc from a towards u
  // (cos 15° = 0.966 between neighbours, cos 30° = 0.866 between the ends).
  const along = step.reduce((acc, v, d) => acc + v * unitA[d]!, 0);
  const u = l2Normalise(step.map((v, d) => v - along * unitA[d]!), dims);
  const angle = Math.PI / 12;
  for (let s = 0; s < 3; s++) for (let d = 0; d < dims; d++) emb[(n + copies + s) * dims + d] = Math.cos(s * angle) * unitA[d]! + Math.sin(s * angle) * u[d]!;
  const { groups, pairs } = nearDuplicateGroups(emb, dims, 0.95);
  const expected = [...Array.from({ length: copies }, (_, c) => [c, n + c]), [n + copies, n + copies + 1, n + copies + 2]];
  const sorted = (g: number[][]) => g.map((m) => m.join(',')).sort();
  assert.deepEqual(sorted(groups.map((g) => g.members)), sorted(expected), `each copy with its source, the chain as one group; got ${JSON.stringify(groups.map((g) => g.members))}`);
  assert.equal(groups[0]!.members.length, 3, 'the largest group comes first');
  assert.ok(!pairs.some((p) => p.a === n + copies && p.b === n + copies + 2), 'the chain ends are not a pair themselves: the group comes from union-find');
  assert.ok(pairs.every((p) => p.similarity >= 0.95), 'every pair is above the threshold');
});

test('k-NN outliers: scattered far points are flagged overall, a point in the wrong class only within class, normal points not', () => {
  const rng = new SeededRandom(11);
  const dims = 64;
  const k = 3;
  const perClass = 100;
  const centres = Array.from({ length: k }, () => randomRows(1, dims, rng).map((v) => v * 3));
  const far = 6;
  const n = k * perClass + far + 1;
  const emb = new Float32Array(n * dims);
  const labels = new Int32Array(n);
  for (let i = 0; i < k * perClass; i++) {
    const c = i % k;
    labels[i] = c;
    for (let d = 0; d < dims; d++) emb[i * dims + d] = centres[c]![d]! + gaussian(rng);
  }
  // The far points: in another region, spread out, so they are no one's close neighbours either.
  const farCentre = randomRows(1, dims, rng).map((v) => v * 3);
  for (let f = 0; f < far; f++) {
    const i = k * perClass + f;
    labels[i] = f % k;
    for (let d = 0; d < dims; d++) emb[i * dims + d] = farCentre[d]! + 3 * gaussian(rng);
  }
  // A point of class 1's cluster labelled 0: at home overall, a stranger in its class.
  const stray = n - 1;
  labels[stray] = 0;
  for (let d = 0; d < dims; d++) emb[stray * dims + d] = centres[1]![d]! + gaussian(rng);

  const tensors = tf.memory().numTensors;
  const result = knnOutliers(emb, dims, labels, 10);
  assert.equal(tf.memory().numTensors, tensors, 'no tensor leak');
  const flaggedOverall = [...result.overall.flagged.keys()].filter((i) => result.overall.flagged[i]);
  const flaggedWithin = [...result.withinClass.flagged.keys()].filter((i) => result.withinClass.flagged[i]);
  const farRows = Array.from({ length: far }, (_, f) => k * perClass + f);
  assert.deepEqual(flaggedOverall, farRows, `exactly the far points are overall outliers (z: ${farRows.map((i) => result.overall.z[i]!.toFixed(1))}); got ${flaggedOverall}`);
  assert.ok(!flaggedOverall.includes(stray), 'the stray sits in a dense cluster: not an overall outlier');
  assert.ok(flaggedWithin.includes(stray), `the stray is a within-class outlier (z ${result.withinClass.z[stray]!.toFixed(1)})`);
  assert.ok(farRows.every((i) => flaggedWithin.includes(i)), 'far points are within-class outliers too');
  assert.equal(flaggedWithin.length, far + 1, `no normal point is a within-class outlier: ${flaggedWithin}`);
});

test('k-NN with the TF.js engine matches plain loops, and 3,000 × 1,152 takes a few seconds', () => {
  const rng = new SeededRandom(2);
  const small = randomRows(300, 48, rng);
  const labels = Int32Array.from({ length: 300 }, (_, i) => i % 4);
  const viaTf = nearestNeighbours(small, 48, 5, { labels, engine: 'tf' });
  const viaLoops = nearestNeighbours(small, 48, 5, { labels, engine: 'loops' });
  assert.deepEqual(Array.from(viaTf.overall.indices), Array.from(viaLoops.overall.indices), 'same overall neighbours');
  assert.deepEqual(Array.from(viaTf.withinClass!.indices), Array.from(viaLoops.withinClass!.indices), 'same within-class neighbours');
  for (let i = 0; i < 300 * 5; i++) assert.ok(labels[viaTf.withinClass!.indices[i]!] === labels[Math.floor(i / 5)], 'within-class neighbours share the label');

  const n = 3000;
  const dims = 1152;
  const big = randomRows(n, dims, rng);
  const bigLabels = Int32Array.from({ length: n }, (_, i) => i % 6);
  const tensors = tf.memory().numTensors;
  let started = performance.now();
  knnOutliers(big, dims, bigLabels, 10);
  const knnSeconds = (performance.now() - started) / 1000;
  started = performance.now();
  nearDuplicateGroups(big, dims, 0.9);
  const dupSeconds = (performance.now() - started) / 1000;
  console.log(`3000 × 1152: k-NN outliers (overall + within class) ${knnSeconds.toFixed(2)} s, near-duplicate groups ${dupSeconds.toFixed(2)} s`);
  assert.equal(tf.memory().numTensors, tensors, 'no tensor leak');
  assert.ok(knnSeconds < 6 && dupSeconds < 6, `each pass takes a few seconds at most (${knnSeconds.toFixed(1)} s, ${dupSeconds.toFixed(1)} s)`);
});

test('real TrashNet photos: a JPEG q40 re-encode and the mirror image group with their original; different photos never group', { skip }, async () => {
  const modelDir = resolveBackboneDir(BACKBONE, { env: { SEEDBED_MODELS_DIR: MODELS } });
  assert.ok(modelDir, `${BACKBONE} is in ${MODELS}`);
  const classes = fs
    .readdirSync(TRASHNET)
    .filter((c) => fs.statSync(nodePath.join(TRASHNET, c)).isDirectory())
    .sort();
  const paths = classes.flatMap((c) =>
    fs
      .readdirSync(nodePath.join(TRASHNET, c))
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .slice(0, 10)
      .map((f) => nodePath.join(TRASHNET, c, f)),
  );
  assert.equal(paths.length, 60, `10 images from each of the 6 classes, got ${paths.length}`);
  const tmp = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-dups-'));
  const pool = new EmbedPool({ size: 2 });
  after(() => pool.close());
  try {
    const reencoded = await Promise.all(
      paths.map(async (p, i) => {
        const out = nodePath.join(tmp, `reencoded-${i}.jpg`);
        await sharp(p).jpeg({ quality: 40 }).toFile(out);
        return out;
      }),
    );
    const started = performance.now();
    const original = await pool.embedAll({ backbone: BACKBONE, modelDir, paths });
    const mirrored = await pool.embedAll({ backbone: BACKBONE, modelDir, paths, view: 'flip' });
    const recoded = await pool.embedAll({ backbone: BACKBONE, modelDir, paths: reencoded });
    const embedSeconds = (performance.now() - started) / 1000;
    for (const e of [original, mirrored, recoded]) assert.ok(e.errors.every((x) => x === null), `every image embeds: ${e.errors.filter(Boolean)}`);
    const n = paths.length;
    const dims = original.dims;
    // Rows: originals 0..59, mirror images 60..119, re-encodes 120..179.
    const all = new Float32Array(3 * n * dims);
    all.set(original.embeddings, 0);
    all.set(mirrored.embeddings, n * dims);
    all.set(recoded.embeddings, 2 * n * dims);
    const { groups, pairs } = nearDuplicateGroups(all, dims, NEAR_DUPLICATE);
    const unit = l2Normalise(all, dims);
    const cos = (i: number, j: number) => {
      let s = 0;
      for (let d = 0; d < dims; d++) s += unit[i * dims + d]! * unit[j * dims + d]!;
      return s;
    };
    const reSims = Array.from({ length: n }, (_, i) => cos(i, 2 * n + i));
    let maxDifferent = -1;
    for (let i = 0; i < 3 * n; i++) for (let j = i + 1; j < 3 * n; j++) if (i % n !== j % n) maxDifferent = Math.max(maxDifferent, cos(i, j));
    console.log(
      `${BACKBONE}: re-encode vs original cosine min ${Math.min(...reSims).toFixed(4)}, different photos max ${maxDifferent.toFixed(4)}, ` +
        `threshold ${NEAR_DUPLICATE}, ${groups.length} groups, ${pairs.length} pairs, embedding 180 images ${embedSeconds.toFixed(1)} s`,
    );
    for (let i = 0; i < n; i++) {
      const group = groups.find((g) => g.members.includes(i));
      assert.deepEqual(group?.members, [i, n + i, 2 * n + i], `${nodePath.basename(paths[i]!)} groups with exactly its mirror image and its re-encode; got ${JSON.stringify(group?.members)}`);
    }
    assert.equal(groups.length, n, 'one group per photo, none joining two photos');
    assert.ok(pairs.every((p) => p.a % n === p.b % n), 'no pair joins two different photos');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
