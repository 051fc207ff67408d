/**
 * A training run as a job: splits (assigned where missing), embeddings (cached, only the
 * missing ones computed), head training and optional fine-tuning in a worker thread, test
 * metrics, model files. Every epoch is stored and announced as it ends, so the curves fill
 * live and a cancelled run keeps them.
 */
import os from 'node:os';
import type { Database } from 'better-sqlite3';
import nodePath from 'node:path';
import type { TrainConfig, TrainConfigPatch } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { assignSplits, splitCounts, splitFingerprint } from '../data/splits.ts';
import { CoreError } from '../errors.ts';
import type { RunningJob } from '../jobs/manager.ts';
import { SeededRandom } from './train/prng.ts';
import { EmbedPool } from './embed-pool.ts';
import { ensureEmbeddings, ensureViewEmbeddings, loadEmbeddings, loadViewEmbeddings } from './embeddings.ts';
import { planRun, runPlanOf } from '../augment/run-plan.ts';
import { chooseDefaultBackbone, featureKey, modelDirFor } from './models.ts';
import { createRun, endRun, finishRun, nonFiniteError, recordEpoch, runDir, setRunPlan, setRunRuntime, type RunClass } from './runs.ts';
import type { ExampleSet, TrainOutcome, TrainRequest } from './train-protocol.ts';
import { CancelledError, runInTrainWorker } from './train-runner.ts';
import { backendLabel, noteRuntime } from './runtime-info.ts';

import { resolveConfig } from './train/resolve-config.ts';

export { resolveConfig };

export function embedPool(ctx: CoreContext): EmbedPool {
  return ctx.jobs.shared('embed-pool', () => new EmbedPool({ size: ctx.options.workers ?? os.availableParallelism() }));
}

export interface Labelled {
  imageId: number;
  sha256: string;
  path: string;
  classIndex: number;
  className: string;
  split: 'train' | 'val' | 'test';
  /** The image this one was materialised from, or null for an original. */
  derivedFrom: number | null;
  derived: boolean;
}

/**
 * Active labelled images with a split, and the classes that have training images, in class
 * order. Derived images (augmented copies) count only in training: one whose split is val or
 * test is left out, so a copy can never be evaluated.
 */
export function trainingSet(db: Database): { classes: RunClass[]; images: Labelled[] } {
  const rows = (
    db
      .prepare(
        `SELECT i.id AS imageId, i.sha256, i.path, c.id AS classId, c.name AS className, s.split, i.derived_from AS derivedFrom
         FROM images i JOIN labels l ON l.image_id = i.id JOIN classes c ON c.id = l.class_id JOIN splits s ON s.image_id = i.id
         WHERE i.status = 'active' ORDER BY c.position, c.id, i.sha256`,
      )
      .all() as { imageId: number; sha256: string; path: string; classId: number; className: string; split: Labelled['split']; derivedFrom: number | null }[]
  ).filter((r) => r.derivedFrom === null || r.split === 'train');
  const withTrain = new Set(rows.filter((r) => r.split === 'train').map((r) => r.classId));
  const classes: RunClass[] = [];
  for (const r of rows) if (withTrain.has(r.classId) && !classes.some((c) => c.id === r.classId)) classes.push({ id: r.classId, name: r.className });
  const index = new Map(classes.map((c, i) => [c.id, i]));
  const images = rows
    .filter((r) => index.has(r.classId))
    .map((r) => ({
      imageId: r.imageId,
      sha256: r.sha256,
      path: r.path,
      classIndex: index.get(r.classId)!,
      className: r.className,
      split: r.split,
      derivedFrom: r.derivedFrom,
      derived: r.derivedFrom !== null,
    }));
  return { classes, images };
}

/**
 * For a project without validation images: 15% of the original training images (seeded) held
 * out to judge by; copies derived from a held-out image leave training with it. Runs and
 * searches hold out the same images for the same seed.
 */
export function holdOutValidation(train: Labelled[], seed: number): { train: Labelled[]; val: Labelled[] } {
  const originals = train.filter((i) => !i.derived);
  const order = new SeededRandom(seed).shuffle(Int32Array.from(originals.keys()));
  const cut = Math.max(1, Math.round(originals.length * HELD_OUT_SHARE));
  const val = Array.from(order.subarray(0, cut), (i) => originals[i]!);
  const heldOut = new Set(val.map((i) => i.imageId));
  return { train: train.filter((i) => !heldOut.has(i.imageId) && !(i.derivedFrom !== null && heldOut.has(i.derivedFrom))), val };
}

/** Share of training originals held out when a project has no validation images. */
const HELD_OUT_SHARE = 0.15;

export function exampleSet(rows: Labelled[], x: Float32Array, dims: number, rowOf: Map<string, number>): ExampleSet {
  const out = new Float32Array(rows.length * dims);
  const y = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    const at = rowOf.get(r.sha256)!;
    out.set(x.subarray(at * dims, (at + 1) * dims), i * dims);
    y[i] = r.classIndex;
  });
  return { x: out, n: rows.length, dims, y };
}

/** The training examples followed by the augmented view rows, each with its image's class. */
export function withViews(set: ExampleSet, views: { x: Float32Array; owner: Int32Array; rows: number }, classOfTarget: number[]): ExampleSet {
  if (!views.rows) return set;
  const x = new Float32Array((set.n + views.rows) * set.dims);
  x.set(set.x);
  x.set(views.x, set.n * set.dims);
  const y = new Int32Array(set.n + views.rows);
  y.set(set.y);
  views.owner.forEach((t, r) => (y[set.n + r] = classOfTarget[t]!));
  return { x, n: set.n + views.rows, dims: set.dims, y };
}

export function startTraining(ctx: CoreContext, patch: TrainConfigPatch): { jobId: string; runId: number } {
  const store = ctx.requireStore();
  const config = resolveConfig(patch);
  const backbone = config.backbone ?? chooseDefaultBackbone(ctx);
  const modelDir = modelDirFor(ctx, backbone);
  config.backbone = backbone;

  // Splits first, so the run records the dataset it will see.
  const assignment = assignSplits(store.db, { seed: config.seed });
  if (assignment.assigned) ctx.events.emit('dataset.changed', { reason: 'splits' });
  const { classes, images } = trainingSet(store.db);
  if (classes.length < 2) {
    throw new CoreError(
      'invalid_input',
      classes.length === 1
        ? `Only one class (${classes[0]!.name}) has training images. Label images of at least two classes to train a classifier.`
        : 'No labelled images to train on. Label images of at least two classes first.',
    );
  }
  const counts = splitCounts(store.db);
  const runCounts = Object.fromEntries(classes.map((c) => [c.name, { train: counts[c.name]?.train ?? 0, val: counts[c.name]?.val ?? 0, test: counts[c.name]?.test ?? 0 }]));

  const runId = createRun(store.db, { jobId: null, backbone, config, classes, fingerprint: splitFingerprint(store.db), splitCounts: runCounts });
  const job = ctx.jobs.start({ kind: 'train', title: `Train run ${runId}`, params: { runId, config } }, async (running) => {
    try {
      return await runTraining(ctx, running, runId, { config, backbone, modelDir, classes, images, warnings: assignment.warnings });
    } catch (err) {
      const cancelled = running.signal.aborted || err instanceof CancelledError;
      endRun(running.store, runId, cancelled ? 'cancelled' : 'failed', cancelled ? null : (err as Error).message);
      ctx.events.emit('runs.changed', { runId });
      // A loss that blew up before any epoch finished is the settings' doing, not a fault: say it as it is.
      const blewUp = !cancelled && nonFiniteError((err as Error).message);
      throw blewUp ? new CoreError('invalid_input', blewUp) : err;
    }
  });
  store.db.prepare('UPDATE runs SET job_id = ? WHERE id = ?').run(job.id, runId);
  ctx.events.emit('runs.changed', { runId });
  return { jobId: job.id, runId };
}

async function runTraining(
  ctx: CoreContext,
  job: RunningJob,
  runId: number,
  plan: { config: TrainConfig; backbone: string; modelDir: string; classes: RunClass[]; images: Labelled[]; warnings: string[] },
): Promise<{ runId: number }> {
  const started = performance.now();
  const db = job.store.db;
  const pool = embedPool(ctx);
  const key = featureKey(plan.backbone);

  // 1. Embeddings: only those not cached yet.
  const embedded = await ensureEmbeddings(
    db,
    pool,
    { backbone: plan.backbone, featureKey: key, modelDir: plan.modelDir, view: 'center', targets: plan.images },
    { signal: job.signal, onProgress: ({ done, total }) => job.progress(done, total) },
  );
  if (embedded.backendDetail) noteRuntime(embedded.backendDetail, pool.size);
  const failed = new Set(embedded.failed.map((f) => f.imageId));
  const usable = plan.images.filter((i) => !failed.has(i.imageId));
  const shas = [...new Set(usable.map((i) => i.sha256))];
  const loaded = loadEmbeddings(db, key, 'center', shas);
  const rowOf = new Map(shas.map((s, i) => [s, i]));
  const present = usable.filter((i) => loaded.present[rowOf.get(i.sha256)!]);

  const bySplit = (s: Labelled['split']) => present.filter((i) => i.split === s);
  let train = bySplit('train');
  let val = bySplit('val');
  const test = bySplit('test');
  const warnings = [...embedded.failed.map((f) => `Left out ${f.path}: ${f.reason}`)];
  if (!val.length && plan.config.patience > 0) {
    // Early stopping needs validation images: held out from training, this run only.
    ({ train, val } = holdOutValidation(train, plan.config.seed));
    const cut = val.length;
    warnings.push(`The project has no validation images: ${cut} training images were held out to decide when to stop.`);
  }

  // 2. Rebalancing and augmentation of the training images only; the plan is stored with the run.
  const planned = planRun(train, plan.classes.map((c) => c.name), plan.config);
  train = planned.kept;
  const viewTargets = train.filter((i) => planned.viewsOf.has(i.imageId)).map((i) => ({ imageId: i.imageId, sha256: i.sha256, views: planned.viewsOf.get(i.imageId)! }));
  const policy = planned.augmentation.policy;
  let views: { x: Float32Array; owner: Int32Array; rows: number } = { x: new Float32Array(0), owner: new Int32Array(0), rows: 0 };
  if (policy && viewTargets.length) {
    job.progress(0, viewTargets.length);
    const made = await ensureViewEmbeddings(
      db,
      pool,
      { backbone: plan.backbone, featureKey: key, modelDir: plan.modelDir, policy, seed: plan.config.seed, targets: viewTargets },
      { signal: job.signal, onProgress: ({ done, total }) => job.progress(done, total) },
    );
    warnings.push(...[...new Map(made.failed.map((f) => [f.imageId, f])).values()].map((f) => `No augmented views of ${f.path}: ${f.reason}`));
    views = loadViewEmbeddings(db, key, policy, plan.config.seed, viewTargets, loaded.dims);
  }
  const runPlan = runPlanOf(planned);
  runPlan.examples.views = views.rows;
  runPlan.examples.total = train.length + views.rows;
  setRunPlan(db, runId, runPlan);
  ctx.events.emit('runs.changed', { runId });
  const trainSet = exampleSet(train, loaded.x, loaded.dims, rowOf);
  const classOf = new Map(train.map((i) => [i.imageId, i.classIndex]));
  const trainExamples = withViews(trainSet, views, viewTargets.map((t) => classOf.get(t.imageId)!));
  const embedSeconds = (performance.now() - started) / 1000;

  // 2. Training in its own thread; epochs are stored and announced as they end.
  const outDir = runDir(job.store, runId);
  // Progress counts epochs over both phases (early stopping may end either sooner).
  const totalEpochs = plan.config.epochs + (plan.config.fineTuneBlocks > 0 ? plan.config.fineTuneEpochs : 0);
  const request: TrainRequest = {
    type: 'train',
    config: plan.config,
    classes: plan.classes.map((c) => c.name),
    train: trainExamples,
    originals: train.length,
    val: exampleSet(val, loaded.x, loaded.dims, rowOf),
    test: exampleSet(test, loaded.x, loaded.dims, rowOf),
    backbone: { id: plan.backbone, modelDir: plan.modelDir },
    files: plan.config.fineTuneBlocks > 0 ? { train: train.map((i) => i.path), val: val.map((i) => i.path), test: test.map((i) => i.path) } : undefined,
    outDir,
  };
  job.progress(0, totalEpochs);
  const trainStarted = performance.now();
  const outcome = await runInTrainWorker<TrainOutcome>(request, {
    signal: job.signal,
    onMessage: (m) => {
      if (m.type === 'epoch') {
        recordEpoch(db, runId, m.epoch, m.bestEpoch);
        const offset = m.epoch.phase === 'finetune' ? plan.config.epochs : 0;
        job.progress(offset + m.epoch.epoch, totalEpochs);
        ctx.events.emit('run.epoch', { runId, epoch: m.epoch, plannedEpochs: m.plannedEpochs, bestEpoch: m.bestEpoch });
      }
    },
  });
  setRunRuntime(db, runId, backendLabel(outcome.backendDetail), pool.size);
  noteRuntime(outcome.backendDetail, pool.size);
  const trainSeconds = (performance.now() - trainStarted) / 1000;
  finishRun(db, runId, {
    metrics: outcome.metrics,
    bestEpoch: outcome.bestEpoch,
    seconds: { embed: embedSeconds, train: trainSeconds, total: (performance.now() - started) / 1000 },
    modelDir: nodePath.relative(job.store.dataDir, outDir),
    fineTuned: outcome.fineTuned,
    warning: [outcome.warning, ...warnings].filter(Boolean).join(' ') || null,
  });
  ctx.events.emit('runs.changed', { runId });
  return { runId };
}
