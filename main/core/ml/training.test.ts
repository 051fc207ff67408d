/**
 * Transfer learning end to end through the core's contract, with the real wasm runtime, the
 * smallest shared backbone and real TrashNet photos: train, early stopping, cancelling
 * mid-epoch, cached embeddings, predictions in the gallery, accepting one, export reloaded
 * in a fresh process.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import nodePath from 'node:path';
import { after, before, test } from 'node:test';
import type { EventMessage, JobInfo, MethodName, ParamsOf, ResultOf, RunDetail } from '../../../shared/contract/index.ts';
import type { Core } from '../core.ts';
import { callCore, jobEnded, testCore } from '../core-calls.ts';

const TRASHNET = nodePath.resolve(import.meta.dirname, '../../../../shared/data/trashnet');
const MODELS = nodePath.resolve(import.meta.dirname, '../../../../shared/models');
const BACKBONE = 'mobilenet_v1_0.25_224';
const CLASSES = ['cardboard', 'glass', 'metal', 'paper', 'plastic', 'trash'];
const PER_CLASS = 20;
const haveData = fs.existsSync(TRASHNET) && fs.existsSync(nodePath.join(MODELS, BACKBONE));
const skip = haveData ? false : `needs ../shared/data/trashnet and ../shared/models/${BACKBONE}`;

const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-training-test-'));
const previousModels = process.env.SEEDBED_MODELS_DIR;
let core: Core;
const events: EventMessage[] = [];

const call = <M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> => callCore(core, method, params);
const waitJob = (jobId: string): Promise<JobInfo> => jobEnded(core, jobId, events);

async function train(config: ParamsOf<'train.start'>['config']): Promise<{ run: RunDetail; job: JobInfo }> {
  const { jobId, runId } = await call('train.start', { config: { backbone: BACKBONE, ...config } });
  const job = await waitJob(jobId);
  return { run: await call('runs.get', { runId }), job };
}

/** A fixed subset: the first PER_CLASS photos of each class by file name, plus 3 unlabelled ones. */
function makeDataset(root: string): string[] {
  const loose: string[] = [];
  for (const c of CLASSES) {
    fs.mkdirSync(nodePath.join(root, 'data', c), { recursive: true });
    const files = fs.readdirSync(nodePath.join(TRASHNET, c)).filter((f) => f.endsWith('.jpg')).sort();
    for (const f of files.slice(0, PER_CLASS)) fs.copyFileSync(nodePath.join(TRASHNET, c, f), nodePath.join(root, 'data', c, f));
    if (['glass', 'paper', 'metal'].includes(c)) {
      const f = files[PER_CLASS + 5]!;
      fs.copyFileSync(nodePath.join(TRASHNET, c, f), nodePath.join(root, 'data', `unsorted-${f}`));
      loose.push(nodePath.join(root, 'data', `unsorted-${f}`));
    }
  }
  return loose;
}

before(async () => {
  if (!haveData) return;
  process.env.SEEDBED_MODELS_DIR = MODELS;
  core = testCore(dir, { events });
  makeDataset(dir);
  await call('project.create', { path: nodePath.join(dir, 'p.seedbed') });
  const { jobId } = await call('import.start', { paths: [nodePath.join(dir, 'data')], split: 'auto' });
  assert.equal((await waitJob(jobId)).status, 'done');
});

after(async () => {
  await core?.close();
  if (previousModels === undefined) delete process.env.SEEDBED_MODELS_DIR;
  else process.env.SEEDBED_MODELS_DIR = previousModels;
  fs.rmSync(dir, { recursive: true, force: true });
});

const db = () => core.requireStore().db;

test('a run trains on cached embeddings and scores well above chance on its test split', { skip }, async () => {
  const { run, job } = await train({ epochs: 40 });
  assert.equal(job.status, 'done', job.error ?? '');
  assert.equal(run.status, 'done');
  assert.deepEqual(run.classes, CLASSES);
  // Stratified 70/15/15 of 20 per class: 14/3/3.
  for (const c of CLASSES) assert.deepEqual(run.splitCounts[c], { train: 14, val: 3, test: 3 });
  const test = run.metrics?.test;
  assert.ok(test, 'test metrics');
  assert.equal(test.count, 18);
  assert.ok(test.accuracy > 0.5, `test accuracy ${test.accuracy} is well above chance (1/6)`);
  assert.equal(test.confusion.length, 6);
  assert.equal(test.confusion.flat().reduce((a, b) => a + b, 0), 18);
  assert.match(run.backend ?? '', /^wasm/);
  assert.equal(run.workers, 2);
  assert.ok(run.epochs.length >= 1 && run.epochs.every((e) => e.phase === 'head'), 'head epochs recorded');
  const announced = events.filter((e) => e.event === 'run.epoch' && e.data.runId === run.id);
  assert.equal(announced.length, run.epochs.length, 'every epoch was announced as it ended');
  assert.ok(run.bestEpoch && run.bestEpoch.epoch <= run.epochs.length, 'a best epoch among those trained');
  assert.ok(run.diagnosis?.message, 'a diagnosis in words');
  assert.ok(fs.existsSync(nodePath.join(dir, 'p.seedbed.d', 'runs', String(run.id), 'model', 'model.json')));
  // One vector per labelled image content; the 3 unlabelled images were not needed.
  assert.equal(db().prepare('SELECT COUNT(*) FROM embeddings').pluck().get(), CLASSES.length * PER_CLASS);
});

test('a second run reuses every cached embedding, and the same seed gives the same curves', { skip }, async () => {
  const before = db().prepare('SELECT sha256, created_at FROM embeddings ORDER BY sha256').all();
  const first = (await call('runs.list', {})).at(-1)!;
  const { run } = await train({ epochs: 40 });
  assert.deepEqual(db().prepare('SELECT sha256, created_at FROM embeddings ORDER BY sha256').all(), before, 'nothing was embedded again');
  const a = (await call('runs.get', { runId: first.id })).epochs;
  assert.equal(run.epochs.length, a.length);
  run.epochs.forEach((e, i) => assert.ok(Math.abs(e.trainLoss - a[i]!.trainLoss) < 1e-6, `epoch ${i + 1} train loss is reproducible`));
});

test('early stopping ends a run built to overfit, and keeps its best epoch', { skip }, async () => {
  const { run } = await train({ epochs: 200, hiddenUnits: 1024, dropout: 0, l2: 0, learningRate: 0.01, labelSmoothing: 0, patience: 4, schedule: 'constant' });
  assert.equal(run.status, 'done');
  assert.ok(run.epochs.length < 200, `stopped after ${run.epochs.length} of 200 epochs`);
  const best = run.bestEpoch!.epoch;
  assert.equal(run.epochs.length, best + 4, 'stopped patience epochs after the best one');
  const bestLoss = Math.min(...run.epochs.map((e) => e.valLoss!));
  assert.equal(run.epochs[best - 1]!.valLoss, bestLoss);
});

test('cancelling mid-epoch leaves the project consistent and the run marked cancelled', { skip }, async () => {
  const labelsBefore = db().prepare('SELECT image_id, class_id, source FROM labels ORDER BY image_id').all();
  const splitsBefore = db().prepare('SELECT image_id, split FROM splits ORDER BY image_id').all();
  const { jobId, runId } = await call('train.start', { config: { backbone: BACKBONE, epochs: 500, batchSize: 1, patience: 0 } });
  // Cancel as soon as the first epoch ends: the worker is then in the middle of the second.
  await new Promise<void>((resolve) => {
    const off = core.events.on((m) => {
      if (m.event === 'run.epoch' && m.data.runId === runId) {
        off();
        resolve();
      }
    });
  });
  await call('jobs.cancel', { jobId });
  const job = await waitJob(jobId);
  assert.equal(job.status, 'cancelled');
  const run = await call('runs.get', { runId });
  assert.equal(run.status, 'cancelled');
  assert.ok(run.epochs.length >= 1 && run.epochs.length < 500, `epochs so far: ${run.epochs.length}`);
  assert.equal(fs.existsSync(nodePath.join(dir, 'p.seedbed.d', 'runs', String(runId))), false, 'no half-written model files');
  assert.deepEqual(db().prepare('SELECT image_id, class_id, source FROM labels ORDER BY image_id').all(), labelsBefore);
  assert.deepEqual(db().prepare('SELECT image_id, split FROM splits ORDER BY image_id').all(), splitsBefore);
  assert.deepEqual(db().pragma('foreign_key_check'), []);
  assert.equal(db().pragma('integrity_check', { simple: true }), 'ok');
  await assert.rejects(call('predict.start', { runId, scope: 'all' }), /no trained model/);
});

test('predictions show in the gallery, sort by confidence, and one is accepted as a label (undoable)', { skip }, async () => {
  const run = (await call('runs.list', {})).find((r) => r.status === 'done')!;
  const { jobId } = await call('predict.start', { runId: run.id, scope: 'all' });
  assert.equal((await waitJob(jobId)).status, 'done');
  const page = await call('images.query', { filter: { sort: 'confidence-asc' }, offset: 0, limit: 500 });
  assert.equal(page.total, CLASSES.length * PER_CLASS + 3);
  assert.ok(page.rows.every((r) => r.prediction !== null && CLASSES.includes(r.prediction.className)), 'every image has a prediction');
  const confidences = page.rows.map((r) => r.prediction!.confidence);
  assert.deepEqual(confidences, [...confidences].sort((a, b) => a - b), 'least confident first');

  const unlabelled = await call('images.query', { filter: { unlabeled: true }, offset: 0, limit: 10 });
  assert.equal(unlabelled.total, 3);
  const target = unlabelled.rows[0]!;
  const detail = await call('predictions.get', { imageId: target.id });
  assert.ok(detail && detail.top.length === 6, 'six classes with their probabilities');
  assert.ok(Math.abs(detail.top.reduce((a, t) => a + t.probability, 0) - 1) < 1e-3, 'probabilities sum to 1');
  assert.equal(detail.top[0]!.className, target.prediction!.className);

  assert.deepEqual(await call('predictions.accept', { imageIds: [target.id] }), { changed: 1 });
  const image = await call('images.get', { id: target.id });
  assert.equal(image.classId, target.prediction!.classId);
  assert.equal(image.labelSource, 'model');
  assert.equal(image.labelHistory.at(-1)?.source, 'model');
  assert.match((await call('history.state', {})).undoLabel ?? '', /Accept the model's label for 1 image/);
  await call('history.undo', {});
  assert.equal((await call('images.get', { id: target.id })).classId, null);

  // Filters by predicted class and by confidence agree with the rows' own predictions.
  const glassId = page.rows.find((r) => r.prediction!.className === 'glass')?.prediction!.classId;
  if (glassId) {
    const glass = await call('images.query', { filter: { predictedClassIds: [glassId] }, offset: 0, limit: 500 });
    assert.equal(glass.total, page.rows.filter((r) => r.prediction!.classId === glassId).length);
  }
  const median = confidences[Math.floor(confidences.length / 2)]!;
  const unsure = await call('images.query', { filter: { confidence: { max: median } }, offset: 0, limit: 500 });
  assert.equal(unsure.total, confidences.filter((c) => c <= median).length);
  assert.ok(unsure.rows.every((r) => r.prediction!.confidence <= median), 'only images at or below the confidence asked for');

  // Labelled images whose prediction disagrees with their label.
  const disagree = await call('images.query', { filter: { disagree: true }, offset: 0, limit: 500 });
  for (const r of disagree.rows) assert.notEqual(r.prediction!.classId, r.classId);
});

test('an exported model reloads in a fresh process and gives the same predictions', { skip }, async () => {
  const run = (await call('runs.list', {})).find((r) => r.status === 'done')!;
  const out = nodePath.join(dir, 'export');
  const result = await call('export.run', { runId: run.id, dir: out });
  assert.deepEqual(result.files, ['labels.json', 'metadata.json', 'model-card.html', 'model.json', 'weights.bin']);
  const labels = JSON.parse(fs.readFileSync(nodePath.join(out, 'labels.json'), 'utf8')) as string[];
  assert.deepEqual(labels, CLASSES);
  const meta = JSON.parse(fs.readFileSync(nodePath.join(out, 'metadata.json'), 'utf8')) as { backbone: string; input: { width: number } };
  assert.equal(meta.backbone, BACKBONE);
  assert.equal(meta.input.width, 224);

  const images = (await call('images.query', { filter: {}, offset: 0, limit: 6 })).rows;
  const require = createRequire(import.meta.url);
  const resolve = (name: string) => require.resolve(name);
  const script = nodePath.join(dir, 'load-export.mjs');
  // Plain TF.js and sharp, nothing of Seedbed: what a user's program would do.
  fs.writeFileSync(
    script,
    `
    const tf = await import(${JSON.stringify(resolve('@tensorflow/tfjs-core'))});
    const tfl = await import(${JSON.stringify(resolve('@tensorflow/tfjs-layers'))});
    const wasm = await import(${JSON.stringify(resolve('@tensorflow/tfjs-backend-wasm'))});
    const sharp = (await import(${JSON.stringify(resolve('sharp'))})).default;
    const fs = await import('node:fs');
    wasm.setWasmPaths(${JSON.stringify(nodePath.dirname(resolve('@tensorflow/tfjs-backend-wasm')) + nodePath.sep)});
    await tf.setBackend('wasm');
    const dir = process.argv[2];
    const json = JSON.parse(fs.readFileSync(dir + '/model.json', 'utf8'));
    const weights = fs.readFileSync(dir + '/weights.bin');
    const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) }));
    const out = [];
    for (const path of process.argv.slice(3)) {
      const rgb = await sharp(path).rotate().resize(224, 224, { fit: 'cover' }).removeAlpha().raw().toBuffer();
      const probs = tf.tidy(() => model.predict(tf.tensor4d(Float32Array.from(rgb), [1, 224, 224, 3])).dataSync());
      out.push(Array.from(probs));
    }
    console.log(JSON.stringify(out));
    `,
  );
  const fresh = JSON.parse(execFileSync(process.execPath, [script, out, ...images.map((i) => i.path)], { encoding: 'utf8' })) as number[][];
  for (const [i, image] of images.entries()) {
    const stored = await call('predictions.get', { imageId: image.id });
    const byName = new Map(stored!.top.map((t) => [t.className, t.probability]));
    fresh[i]!.forEach((p, c) => assert.ok(Math.abs(p - byName.get(labels[c]!)!) < 1e-3, `${image.fileName} ${labels[c]}: ${p} vs ${byName.get(labels[c]!)}`));
  }
});

test('fine-tuning the top block trains on wasm (replacement gradient kernels) and its whole model predicts', { skip }, async () => {
  const { run, job } = await train({ epochs: 20, fineTuneBlocks: 1, fineTuneEpochs: 2 });
  assert.equal(job.status, 'done', job.error ?? '');
  assert.equal(run.fineTuned, true, run.error ?? 'fine-tuned');
  const finetune = run.epochs.filter((e) => e.phase === 'finetune');
  assert.equal(finetune.length, 2);
  assert.ok(finetune.every((e) => Number.isFinite(e.trainLoss) && e.learningRate <= 1e-4), 'finite losses at the fine-tuning learning rate');
  assert.ok(run.metrics?.test && run.metrics.test.accuracy > 0.4, `test accuracy after fine-tuning: ${run.metrics?.test?.accuracy}`);
  const { jobId } = await call('predict.start', { runId: run.id, scope: 'unlabeled' });
  assert.equal((await waitJob(jobId)).status, 'done');
  const unlabelled = await call('images.query', { filter: { unlabeled: true }, offset: 0, limit: 10 });
  assert.ok(unlabelled.rows.every((r) => r.prediction?.runId === run.id), 'the fine-tuned run predicted the unlabelled images');
});

test('training refuses a project with one class, naming what to do', { skip }, async () => {
  const other = testCore(dir, { stateDir: nodePath.join(dir, 'state2'), workers: 1 });
  try {
    await other.dispatch('project.create', { path: nodePath.join(dir, 'one.seedbed') });
    const done = new Promise<void>((resolve) => other.events.on((m) => m.event === 'job.done' && resolve()));
    await other.dispatch('import.start', { paths: [nodePath.join(dir, 'data', 'glass')], split: 'auto' });
    await done;
    const result = await other.dispatch('train.start', { config: { backbone: BACKBONE } });
    assert.equal(result.ok, false);
    assert.match(!result.ok ? result.error.message : '', /Only one class \(glass\).*at least two classes/);
  } finally {
    await other.close();
  }
});

test('a learning rate that blows up in the first epoch fails the run with the reason in words', { skip }, async () => {
  const { jobId, runId } = await call('train.start', {
    config: { backbone: BACKBONE, learningRate: 10, optimizer: 'sgd', schedule: 'constant', batchSize: 1, epochs: 3, labelSmoothing: 0, hiddenUnits: 512 },
  });
  const job = await waitJob(jobId);
  const run = await call('runs.get', { runId });
  assert.equal(job.status, 'failed');
  assert.match(job.error ?? '', /^Training stopped in epoch 1: the loss became infinite or not a number, which usually means the learning rate \(10\) is too high/, 'the job says why, not "something went wrong"');
  assert.equal(run.status, 'failed');
  assert.equal(run.diagnosis, null, 'no epoch to diagnose');
});
