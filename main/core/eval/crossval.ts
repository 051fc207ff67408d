/**
 * k-fold cross-validation of a run's config on the project's train + val images: the
 * originals are dealt into k stratified folds (seeded by the run's seed); each fold is held
 * out once while a head trains on the rest, on cached 'center' embeddings, in the training
 * worker. Mean and sample standard deviation of the held-out metrics say how much the
 * run's numbers depend on which images happened to land in test.
 *
 * What CV reproduces of the config: the head's hyper-parameters, class weights (per the
 * balance strategy), label smoothing and early stopping (on 15% of each fold's training
 * originals, as a run without validation images does). What it leaves out, said in `notes`:
 * augmented views, oversampling and undersampling, and fine-tuning.
 */
import type { Database } from 'better-sqlite3';
import type { CrossValidationReport, JobInfo, TrainConfig } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { CoreError } from '../errors.ts';
import { ensureEmbeddings, loadPresentEmbeddings } from '../ml/embeddings.ts';
import { featureKey, modelDirFor } from '../ml/models.ts';
import { requireUsableRun } from '../ml/predictions.ts';
import { runClasses } from '../ml/runs.ts';
import { SeededRandom } from '../ml/train/prng.ts';
import type { CrossValidationOutcome } from '../ml/train-protocol.ts';
import { runInTrainWorker } from '../ml/train-runner.ts';
import { embedPool, resolveConfig } from '../ml/training.ts';
import { headlineMetrics } from './metrics.ts';

/** What is stored: the contract's report and, in words, what of the run's config CV did not reproduce. */
export type StoredCrossValidation = CrossValidationReport & { notes: string[] };

/** An image taking part in cross-validation. */
export interface FoldImage {
  imageId: number;
  classIndex: number;
  /** The image this one was made from (an augmented copy), or null for an original. */
  derivedFrom: number | null;
}

/** Indices into the images given, per fold. */
export interface Fold {
  /** Trains the fold's head: originals of the other folds and their derived copies. */
  train: number[];
  /** Decides when to stop (early stopping), drawn from the training originals; empty without. */
  val: number[];
  /** Held out: originals only. */
  test: number[];
}

/** Share of each fold's training originals held out for early stopping, as training does without validation images. */
const INNER_VALIDATION = 0.15;

/**
 * Stratified k-fold assignment: each class's originals, shuffled with `seed`, are dealt round
 * the folds (each class starting where the previous one stopped, so fold sizes differ by at
 * most one). Every original is held out exactly once. A derived copy only ever trains: never
 * in a fold whose held-out (or early-stopping) set holds its source, so no fold is judged on
 * a copy of an image it trained on. With `innerValidation`, INNER_VALIDATION of each fold's
 * training originals (seeded) decide when to stop and leave training with their copies.
 */
export function crossValidationFolds(images: readonly FoldImage[], folds: number, seed: number, innerValidation: boolean): Fold[] {
  if (!Number.isInteger(folds) || folds < 2) throw new CoreError('invalid_input', `Cross-validation needs at least 2 folds; ${folds} were asked for.`);
  const present = new Set(images.map((i) => i.imageId));
  // A copy whose source takes part goes with its source; one whose source does not (its source is in test, or gone) always trains.
  const isOriginal = (i: FoldImage) => i.derivedFrom === null;
  const originals = images.flatMap((img, index) => (isOriginal(img) ? [index] : []));
  if (originals.length < folds) {
    throw new CoreError('invalid_input', `Cross-validation with ${folds} folds needs at least ${folds} labelled training or validation images; the project has ${originals.length}. Label more images or choose fewer folds.`);
  }
  const rand = new SeededRandom(seed);
  const foldOf = new Map<number, number>();
  const byClass = new Map<number, number[]>();
  for (const index of originals) {
    const c = images[index]!.classIndex;
    byClass.set(c, [...(byClass.get(c) ?? []), index]);
  }
  let next = 0;
  for (const c of [...byClass.keys()].sort((a, b) => a - b)) {
    const members = byClass.get(c)!;
    const order = rand.shuffle(Int32Array.from(members.keys()));
    for (const m of order) {
      foldOf.set(images[members[m]!]!.imageId, next);
      next = (next + 1) % folds;
    }
  }
  const sourceOf = (img: FoldImage) => (img.derivedFrom !== null && present.has(img.derivedFrom) ? img.derivedFrom : null);
  return Array.from({ length: folds }, (_, f) => {
    const test = originals.filter((index) => foldOf.get(images[index]!.imageId) === f);
    const trainingOriginals = originals.filter((index) => foldOf.get(images[index]!.imageId) !== f);
    let val: number[] = [];
    if (innerValidation) {
      const order = new SeededRandom(seed + 7919 * (f + 1)).shuffle(Int32Array.from(trainingOriginals.keys()));
      const cut = Math.max(1, Math.round(trainingOriginals.length * INNER_VALIDATION));
      val = Array.from(order.subarray(0, cut), (i) => trainingOriginals[i]!).sort((a, b) => a - b);
    }
    const notTraining = new Set([...test, ...val].map((index) => images[index]!.imageId));
    const train = images.flatMap((img, index) => {
      if (notTraining.has(img.imageId)) return [];
      if (isOriginal(img)) return [index];
      const source = sourceOf(img);
      return source !== null && notTraining.has(source) ? [] : [index];
    });
    return { train, val, test };
  });
}

/** Mean and sample standard deviation (n − 1); the deviation is 0 for a single value. */
export function meanAndStd(values: readonly number[]): { mean: number; std: number } {
  if (!values.length) return { mean: 0, std: 0 };
  const mean = values.reduce((a, v) => a + v, 0) / values.length;
  if (values.length < 2) return { mean, std: 0 };
  const squares = values.reduce((a, v) => a + (v - mean) ** 2, 0);
  return { mean, std: Math.sqrt(squares / (values.length - 1)) };
}

interface CvImage extends FoldImage {
  sha256: string;
  path: string;
}

/**
 * Active labelled images of train and val whose class the run knows, in a stable order:
 * originals of either split, and copies only where they train (split train), as training does.
 */
function crossValidationImages(db: Database, runId: number): CvImage[] {
  const index = new Map(runClasses(db, runId).map((c, i) => [c.id, i]));
  const rows = db
    .prepare(
      `SELECT i.id AS imageId, i.sha256, i.path, l.class_id AS classId, i.derived_from AS derivedFrom, s.split
       FROM images i JOIN labels l ON l.image_id = i.id JOIN splits s ON s.image_id = i.id
       WHERE i.status = 'active' AND s.split IN ('train', 'val') ORDER BY i.id`,
    )
    .all() as { imageId: number; sha256: string; path: string; classId: number; derivedFrom: number | null; split: 'train' | 'val' }[];
  return rows
    .filter((r) => index.has(r.classId) && (r.derivedFrom === null || r.split === 'train'))
    .map((r) => ({ imageId: r.imageId, sha256: r.sha256, path: r.path, classIndex: index.get(r.classId)!, derivedFrom: r.derivedFrom }));
}

function runConfig(db: Database, runId: number): TrainConfig {
  const row = db.prepare('SELECT config FROM runs WHERE id = ?').get(runId) as { config: string } | undefined;
  if (!row) throw new CoreError('not_found', `There is no run ${runId}.`);
  return resolveConfig(JSON.parse(row.config) as TrainConfig);
}

/** What of the config cross-validation does not reproduce, in words. */
function configNotes(config: TrainConfig, fineTuned: boolean): string[] {
  const notes: string[] = [];
  if (config.augment.policy && config.augment.views > 0) {
    notes.push(`The run trained on ${config.augment.views} augmented views per image (${config.augment.policy.name}); cross-validation trains on the images only.`);
  }
  if (config.balance.strategy.includes('oversample') || config.balance.strategy.includes('undersample')) {
    notes.push(`The run rebalanced its classes (${config.balance.strategy}); cross-validation keeps every image once${config.classWeights === 'balanced' ? ' and weighs the classes as the run did' : ''}.`);
  }
  if (fineTuned || config.fineTuneBlocks > 0) notes.push('The run fine-tuned the backbone; cross-validation trains the head only, on the frozen backbone.');
  return notes;
}

export function startCrossValidation(ctx: CoreContext, runId: number, folds: number): JobInfo {
  const store = ctx.requireStore();
  const run = requireUsableRun(store.db, runId);
  const config = runConfig(store.db, runId);
  const images = crossValidationImages(store.db, runId);
  // Checked now, so a bad request fails at once instead of as a failed job.
  crossValidationFolds(images, folds, config.seed, false);
  const job = ctx.jobs.start({ kind: 'crossval', title: `Cross-validate ${run.name} (${folds} folds)`, params: { runId, folds } }, async (job) => {
    const started = performance.now();
    const db = job.store.db;
    const key = featureKey(run.backbone);
    const pool = embedPool(ctx);
    // Progress: embeddings still missing, then one step per fold.
    const embedded = await ensureEmbeddings(
      db,
      pool,
      { backbone: run.backbone, featureKey: key, modelDir: modelDirFor(ctx, run.backbone), view: 'center', targets: images },
      { signal: job.signal, onProgress: ({ done, total }) => job.progress(done, total + folds) },
    );
    const { x, dims, kept: usable } = loadPresentEmbeddings(db, key, 'center', images);
    const assignment = crossValidationFolds(usable, folds, config.seed, config.patience > 0);
    const k = runClasses(db, runId).length;
    const base = embedded.computed + embedded.failed.length;
    job.progress(base, base + folds);
    const outcome = await runInTrainWorker<CrossValidationOutcome>(
      { type: 'crossval', config, numClasses: k, x, dims, y: Int32Array.from(usable, (i) => i.classIndex), folds: assignment },
      { signal: job.signal, onMessage: (m) => m.type === 'progress' && job.progress(base + m.done, base + folds) },
    );
    const perFold = assignment.map((fold, f) => {
      const m = headlineMetrics(outcome.heldOut[f]!, Int32Array.from(fold.test, (i) => usable[i]!.classIndex), k);
      return { accuracy: m.accuracy, macroF1: m.macroF1, balancedAccuracy: m.balancedAccuracy, count: fold.test.length };
    });
    const stat = (metric: 'accuracy' | 'macroF1' | 'balancedAccuracy') => meanAndStd(perFold.map((p) => p[metric]));
    const notes = configNotes(config, run.fine_tuned === 1);
    if (embedded.failed.length) notes.push(`${embedded.failed.length} images could not be read and were left out (${embedded.failed[0]!.path}: ${embedded.failed[0]!.reason}).`);
    outcome.warnings.forEach((w, f) => w && notes.push(`Fold ${f + 1}: ${w}`));
    const report: StoredCrossValidation = {
      runId,
      folds,
      images: usable.length,
      perFold,
      mean: { accuracy: stat('accuracy').mean, macroF1: stat('macroF1').mean, balancedAccuracy: stat('balancedAccuracy').mean },
      std: { accuracy: stat('accuracy').std, macroF1: stat('macroF1').std, balancedAccuracy: stat('balancedAccuracy').std },
      createdAt: Date.now(),
      seconds: (performance.now() - started) / 1000,
      notes,
    };
    db.prepare('UPDATE runs SET crossval = ? WHERE id = ?').run(JSON.stringify(report), runId);
    ctx.events.emit('runs.changed', { runId });
    return { runId, folds, accuracy: report.mean.accuracy };
  });
  return job;
}

/** The run's stored cross-validation report (with its notes), or null before one was made. */
export function getCrossValidation(db: Database, runId: number): StoredCrossValidation | null {
  const row = db.prepare('SELECT crossval FROM runs WHERE id = ?').get(runId) as { crossval: string | null } | undefined;
  if (!row) throw new CoreError('not_found', `There is no run ${runId}.`);
  return row.crossval ? (JSON.parse(row.crossval) as StoredCrossValidation) : null;
}
