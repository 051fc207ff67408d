/**
 * Cross-validation: the fold assignment (stratified, seeded, every original held out once,
 * derived copies only ever training and never beside their held-out source), mean and sample
 * standard deviation worked out by hand, and crossval.start through the core on a real run
 * (wasm runtime, the smallest shared backbone, real TrashNet photos).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { EventMessage, MethodName, ParamsOf, ResultOf, RunDetail } from '../../../shared/contract/index.ts';
import type { Core } from '../core.ts';
import { jobEnded } from '../core-calls.ts';
import { openTrashnetProject, skipReason, type TrashnetProject } from '../trashnet-fixture.ts';
import { crossValidationFolds, meanAndStd, type FoldImage } from './crossval.ts';

// ---------- fold assignment ----------

/** 3 classes of 7, 5 and 2 originals (ids 1–14), and copies 101–104 of originals 1, 1, 8 and 99 (99 takes no part). */
function sampleImages(): FoldImage[] {
  const images: FoldImage[] = [];
  let id = 1;
  for (const [classIndex, n] of [7, 5, 2].entries()) for (let i = 0; i < n; i++) images.push({ imageId: id++, classIndex, derivedFrom: null });
  images.push({ imageId: 101, classIndex: 0, derivedFrom: 1 }, { imageId: 102, classIndex: 0, derivedFrom: 1 }, { imageId: 103, classIndex: 1, derivedFrom: 8 }, { imageId: 104, classIndex: 2, derivedFrom: 99 });
  return images;
}

test('every original is held out exactly once, stratified by class', () => {
  const images = sampleImages();
  const folds = crossValidationFolds(images, 3, 42, false);
  assert.equal(folds.length, 3, 'three folds');
  const heldOut = folds.flatMap((f) => f.test.map((i) => images[i]!.imageId)).sort((a, b) => a - b);
  assert.deepEqual(heldOut, Array.from({ length: 14 }, (_, i) => i + 1), 'the held-out sets partition the originals');
  for (const [f, fold] of folds.entries()) {
    assert.ok(fold.test.every((i) => images[i]!.derivedFrom === null), `fold ${f}: no copy is held out`);
    assert.deepEqual(fold.val, [], `fold ${f}: no early-stopping images when not asked`);
    assert.ok(fold.test.length === 4 || fold.test.length === 5, `fold ${f}: 14 originals in 3 folds make 4 or 5 (${fold.test.length})`);
    const perClass = [0, 1, 2].map((c) => fold.test.filter((i) => images[i]!.classIndex === c).length);
    assert.ok(perClass[0] === 2 || perClass[0] === 3, `fold ${f}: 7 of class 0 spread 2–3 a fold (${perClass})`);
    assert.ok(perClass[1] === 1 || perClass[1] === 2, `fold ${f}: 5 of class 1 spread 1–2 a fold (${perClass})`);
    const trainOriginals = fold.train.filter((i) => images[i]!.derivedFrom === null).map((i) => images[i]!.imageId);
    const testIds = new Set(fold.test.map((i) => images[i]!.imageId));
    assert.equal(trainOriginals.length + testIds.size, 14, `fold ${f}: every other original trains`);
    assert.ok(trainOriginals.every((id) => !testIds.has(id)), `fold ${f}: nothing trains and is held out`);
  }
});

test('derived copies only train, and never in the fold that holds out their source', () => {
  const images = sampleImages();
  const index = (id: number) => images.findIndex((i) => i.imageId === id);
  const folds = crossValidationFolds(images, 3, 42, true);
  for (const [f, fold] of folds.entries()) {
    const heldOut = new Set([...fold.test, ...fold.val].map((i) => images[i]!.imageId));
    for (const [copy, source] of [[101, 1], [102, 1], [103, 8]] as const) {
      assert.equal(fold.train.includes(index(copy)), !heldOut.has(source), `fold ${f}: copy ${copy} trains exactly when its source ${source} does`);
      assert.ok(!fold.test.includes(index(copy)) && !fold.val.includes(index(copy)), `fold ${f}: copy ${copy} is never held out nor used to stop`);
    }
    assert.ok(fold.train.includes(index(104)), `fold ${f}: a copy whose source takes no part always trains`);
    assert.equal(fold.val.length, Math.round(fold.train.concat(fold.val).filter((i) => images[i]!.derivedFrom === null).length * 0.15), `fold ${f}: 15% of the training originals stop early`);
    assert.ok(fold.val.every((i) => images[i]!.derivedFrom === null && !fold.test.includes(i)), `fold ${f}: early-stopping images are other folds' originals`);
  }
});

test('the assignment is fixed by the seed and changes with it', () => {
  const images = sampleImages();
  assert.deepEqual(crossValidationFolds(images, 4, 7, true), crossValidationFolds(images, 4, 7, true), 'the same seed, the same folds');
  assert.notDeepEqual(crossValidationFolds(images, 4, 7, false), crossValidationFolds(images, 4, 8, false), 'another seed, other folds');
});

test('too few originals or folds are refused with a message', () => {
  assert.throws(() => crossValidationFolds(sampleImages(), 1, 1, false), /at least 2 folds/, 'one fold is no cross-validation');
  assert.throws(() => crossValidationFolds(sampleImages(), 15, 1, false), /needs at least 15 .* has 14/, 'more folds than originals');
});

test('mean and sample standard deviation, worked out by hand', () => {
  // 0.6, 0.8, 0.7, 0.9: mean 0.75; squares 0.0225 + 0.0025 + 0.0025 + 0.0225 = 0.05; /3 → std √(0.05/3) ≈ 0.129099.
  const s = meanAndStd([0.6, 0.8, 0.7, 0.9]);
  assert.ok(Math.abs(s.mean - 0.75) < 1e-12, `mean ${s.mean} = 0.75`);
  assert.ok(Math.abs(s.std - 0.1290994448735806) < 1e-12, `sample std ${s.std} = √(0.05/3)`);
  assert.deepEqual(meanAndStd([0.5]), { mean: 0.5, std: 0 }, 'one value has no spread');
  assert.deepEqual(meanAndStd([0.25, 0.25, 0.25]), { mean: 0.25, std: 0 }, 'equal values have no spread');
});

// ---------- through the core ----------

const CLASSES = ['cardboard', 'glass', 'metal', 'paper'];
const PER_CLASS = 16;
const skip = skipReason;

let project: TrashnetProject;
let core: Core;
let events: EventMessage[];
let run: RunDetail;
const call = <M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> => project.call(method, params);

before(async () => {
  if (skip) return;
  project = await openTrashnetProject('crossval', { perClass: Object.fromEntries(CLASSES.map((c) => [c, PER_CLASS])), train: { epochs: 15 } });
  ({ core, events } = project);
  run = project.run!;
});

after(() => project?.close());

test('crossval.start holds out every train and val original once and stores mean ± std with the run', { skip }, async () => {
  const db = core.requireStore().db;
  const originals = db
    .prepare(`SELECT count(*) FROM images i JOIN splits s ON s.image_id = i.id WHERE s.split IN ('train', 'val') AND i.derived_from IS NULL AND i.status = 'active'`)
    .pluck()
    .get() as number;
  // A copy of a training image (its file is the source's; a distinct content hash makes it its own image).
  const source = db.prepare(`SELECT i.* FROM images i JOIN splits s ON s.image_id = i.id WHERE s.split = 'train' ORDER BY i.id LIMIT 1`).get() as {
    id: number;
    path: string;
    width: number;
    height: number;
    format: string;
    bytes: number;
  };
  const copy = Number(
    db
      .prepare(`INSERT INTO images (path, sha256, width, height, format, bytes, added_at, derived_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(source.path, 'c'.repeat(64), source.width, source.height, source.format, source.bytes, Date.now(), source.id).lastInsertRowid,
  );
  db.prepare(`INSERT INTO labels (image_id, class_id, source, updated_at) SELECT ?, class_id, 'human', 0 FROM labels WHERE image_id = ?`).run(copy, source.id);
  db.prepare(`INSERT INTO splits (image_id, split, source, updated_at) VALUES (?, 'train', 'assigned', 0)`).run(copy);

  assert.equal(await call('crossval.get', { runId: run.id }), null, 'no report before one is made');
  const seen = events.length;
  const { jobId } = await call('crossval.start', { runId: run.id, folds: 3 });
  const job = await jobEnded(core, jobId, events);
  assert.equal(job.status, 'done', `the cross-validation job ends well (${job.error})`);
  const report = (await call('crossval.get', { runId: run.id }))!;
  assert.ok(report, 'the report is stored with the run');
  assert.equal(report.folds, 3, 'three folds');
  assert.equal(report.images, originals + 1, 'every train and val original takes part, and the copy');
  assert.equal(report.perFold.length, 3, 'one result per fold');
  assert.equal(report.perFold.reduce((a, f) => a + f.count, 0), originals, 'the held-out folds together are the originals, each once');
  for (const [f, m] of report.perFold.entries()) {
    for (const [name, v] of Object.entries(m)) if (name !== 'count') assert.ok(v >= 0 && v <= 1, `fold ${f}: ${name} ${v} in [0, 1]`);
  }
  for (const metric of ['accuracy', 'macroF1', 'balancedAccuracy'] as const) {
    const values = report.perFold.map((f) => f[metric]);
    const mean = values.reduce((a, v) => a + v, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1));
    assert.ok(Math.abs(report.mean[metric] - mean) < 1e-12, `${metric}: mean ${report.mean[metric]} = ${mean}`);
    assert.ok(Math.abs(report.std[metric] - std) < 1e-12, `${metric}: sample std ${report.std[metric]} = ${std}`);
  }
  assert.ok(report.mean.accuracy > 1 / CLASSES.length, `held-out accuracy ${report.mean.accuracy} beats chance (${1 / CLASSES.length})`);
  assert.ok(events.slice(seen).some((e) => e.event === 'runs.changed' && e.data.runId === run.id), 'runs.changed is announced for the report');
  console.log(JSON.stringify({ mean: report.mean, std: report.std, perFold: report.perFold, seconds: report.seconds }));
});
