/**
 * Augmentation and rebalancing in real training runs (wasm runtime, the smallest shared
 * backbone, real TrashNet photos): augmented views are embedded for training images only and
 * cached per view; an identity policy's views are the image itself; undersampling leaves the
 * dataset untouched and its drop list restores the training set exactly; derived images never
 * reach validation or test; the balance preview matches what the run then does.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AugmentPolicy, JobInfo, MethodName, ParamsOf, ResultOf, RunDetail } from '../../../shared/contract/index.ts';
import { AUGMENT_PRESETS } from '../../../shared/domain/augment-presets.ts';
import { openTrashnetProject, skipReason, TEST_BACKBONE, type TrashnetProject } from '../trashnet-fixture.ts';
import { fromBlob } from '../ml/embeddings.ts';
import { trainingSet } from '../ml/training.ts';
import { restoreUndersample } from './balance.ts';
import { policyKey } from './pipeline.ts';

/** Imbalanced on purpose: trash is the minority. */
const PER_CLASS: Record<string, number> = { cardboard: 14, glass: 14, metal: 14, trash: 6 };
const skip = skipReason;

let project: TrashnetProject;
const call = <M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> => project.call(method, params);
const db = () => project.core.requireStore().db;

async function train(config: ParamsOf<'train.start'>['config']): Promise<RunDetail> {
  const { jobId, runId } = await call('train.start', { config: { backbone: TEST_BACKBONE, epochs: 6, patience: 0, ...config } });
  const job: JobInfo = await project.job(jobId);
  assert.equal(job.status, 'done', job.error ?? '');
  return call('runs.get', { runId });
}

/** Content hashes of the active images in a split. */
function shasIn(split: 'train' | 'val' | 'test'): Set<string> {
  return new Set(db().prepare(`SELECT i.sha256 FROM images i JOIN splits s ON s.image_id = i.id WHERE s.split = ?`).pluck().all(split) as string[]);
}

function augmentedRows(policy: AugmentPolicy, seed: number): { sha256: string; view: string }[] {
  return db()
    .prepare(`SELECT sha256, view FROM embeddings WHERE view LIKE ? ORDER BY sha256, view`)
    .all(`aug:${policyKey(policy)}:${seed}:%`) as { sha256: string; view: string }[];
}

before(async () => {
  if (!skip) project = await openTrashnetProject('augment-training', { perClass: PER_CLASS });
});

after(() => project?.close());

test('oversampling with augmentation embeds views of training images only, as the preview said, and caches them', { skip }, async () => {
  const policy = AUGMENT_PRESETS.natural;
  const settings = { balance: { strategy: 'oversample' as const }, augment: { policy, views: 1 }, seed: 3 };
  const preview = await call('balance.preview', settings);
  const run = await train({ ...settings, seed: 3 });
  assert.ok(run.plan, 'the run stores its plan');
  assert.equal(run.plan.balance.strategy, 'oversample');
  assert.equal(run.plan.policyName, 'natural');
  assert.equal(run.plan.viewsPerImage, 1);
  assert.deepEqual(run.plan.perClass, preview.examples, 'the run trained on the counts the preview showed');
  assert.equal(run.config.classWeights, 'none', 'oversampling alone does not weigh classes');
  // Every class reaches the largest class's count, in images × (1 + views).
  const largest = Math.max(...run.plan.balance.classes.map((c) => c.have));
  for (const c of run.plan.balance.classes) {
    assert.equal(c.planned, largest, `${c.name} is oversampled to ${largest}`);
    assert.equal(run.plan.perClass[c.name], largest * 2, `${c.name} trains as ${largest} images × 2`);
  }

  const rows = augmentedRows(policy, 3);
  assert.equal(rows.length, run.plan.examples.views, 'one stored vector per planned view');
  const trainShas = shasIn('train');
  const heldOut = new Set([...shasIn('val'), ...shasIn('test')]);
  assert.ok(rows.length > 0, 'views were embedded');
  for (const r of rows) {
    assert.ok(trainShas.has(r.sha256), `view ${r.view} belongs to a training image`);
    assert.ok(!heldOut.has(r.sha256), `no view of a validation or test image (${r.sha256.slice(0, 8)})`);
  }

  // A second run with the same settings embeds nothing again.
  const stamps = db().prepare(`SELECT sha256, view, created_at FROM embeddings ORDER BY sha256, view`).all();
  const again = await train({ ...settings, seed: 3 });
  assert.deepEqual(db().prepare(`SELECT sha256, view, created_at FROM embeddings ORDER BY sha256, view`).all(), stamps, 'every view came from the cache');
  assert.deepEqual(again.plan?.perClass, run.plan.perClass);
});

test('an identity policy gives views equal to the image itself; a real one gives views that differ', { skip }, async () => {
  const identity: AugmentPolicy = { name: 'identity', ops: [{ op: 'brightness', p: 1, strength: 0 }, { op: 'hflip', p: 0, strength: 1 }] };
  await train({ augment: { policy: identity, views: 2 }, balance: { strategy: 'none' }, seed: 5 });
  const rows = db()
    .prepare(`SELECT a.vector AS view, c.vector AS center FROM embeddings a JOIN embeddings c ON c.sha256 = a.sha256 AND c.backbone = a.backbone AND c.view = 'center' WHERE a.view LIKE ?`)
    .all(`aug:${policyKey(identity)}:5:%`) as { view: Buffer; center: Buffer }[];
  assert.equal(rows.length, 2 * shasIn('train').size, 'two views per training image');
  for (const r of rows) {
    const a = fromBlob(r.view);
    const b = fromBlob(r.center);
    const worst = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
    assert.ok(worst < 1e-4, `an identity view embeds like the image itself (largest difference ${worst})`);
  }
  const natural = db()
    .prepare(`SELECT a.vector AS view, c.vector AS center FROM embeddings a JOIN embeddings c ON c.sha256 = a.sha256 AND c.backbone = a.backbone AND c.view = 'center' WHERE a.view LIKE ?`)
    .all(`aug:${policyKey(AUGMENT_PRESETS.natural)}:3:%`) as { view: Buffer; center: Buffer }[];
  const differing = natural.filter((r) => Buffer.compare(r.view, r.center) !== 0).length;
  assert.ok(differing > natural.length * 0.9, `${differing} of ${natural.length} natural views differ from their image`);
});

test('undersampling leaves images out of one run only, and its drop list restores the training set exactly', { skip }, async () => {
  const before = db().prepare(`SELECT id, status FROM images ORDER BY id`).all();
  const trainIds = (db().prepare(`SELECT image_id FROM splits WHERE split = 'train' ORDER BY image_id`).pluck().all() as number[]);
  const run = await train({ balance: { strategy: 'undersample', target: 4 }, seed: 7 });
  assert.ok(run.plan, 'the run stores its plan');
  const dropped = run.plan.droppedImageIds;
  for (const c of run.plan.balance.classes) assert.equal(c.planned, Math.min(c.have, 4), `${c.name} trains on at most 4 images`);
  assert.equal(dropped.length, run.plan.balance.classes.reduce((a, c) => a + c.dropped, 0));
  assert.ok(dropped.every((id) => trainIds.includes(id)), 'only training images are left out');
  assert.equal(run.plan.examples.images, trainIds.length - dropped.length);
  const kept = trainIds.filter((id) => !dropped.includes(id));
  assert.deepEqual(restoreUndersample(kept, dropped), trainIds, 'kept + dropped is the training set, exactly');
  assert.deepEqual(db().prepare(`SELECT id, status FROM images ORDER BY id`).all(), before, 'no image was excluded or changed');
  // The same seed leaves the same images out.
  const again = await train({ balance: { strategy: 'undersample', target: 4 }, seed: 7 });
  assert.deepEqual(again.plan?.droppedImageIds, dropped);
});

test('a derived image whose source is in validation or test never reaches a run', { skip }, async () => {
  const source = db().prepare(`SELECT i.id, i.path, i.width, i.height, i.format, i.bytes FROM images i JOIN splits s ON s.image_id = i.id WHERE s.split = 'test' LIMIT 1`).get() as {
    id: number; path: string; width: number; height: number; format: string; bytes: number;
  };
  const label = db().prepare('SELECT class_id FROM labels WHERE image_id = ?').pluck().get(source.id) as number;
  const at = Date.now();
  const derived = Number(
    db()
      .prepare(`INSERT INTO images (path, sha256, width, height, format, bytes, added_at, derived_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(source.path, 'f'.repeat(64), source.width, source.height, source.format, source.bytes, at, source.id).lastInsertRowid,
  );
  db().prepare(`INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (?, ?, 'human', ?)`).run(derived, label, at);
  await call('splits.assign', { seed: 1 });
  assert.equal(db().prepare('SELECT split FROM splits WHERE image_id = ?').pluck().get(derived), 'test', 'a copy sits on its source\'s side of the split');
  const set = trainingSet(db());
  assert.ok(!set.images.some((i) => i.imageId === derived), 'the copy is not in any run\'s images');
  const preview = await call('balance.preview', { balance: { strategy: 'none' }, augment: { policy: null, views: 0 } });
  assert.ok(preview.classes.every((c) => c.derived === 0), 'a copy outside training is not counted as a training copy');
  db().prepare('DELETE FROM images WHERE id = ?').run(derived);
});
