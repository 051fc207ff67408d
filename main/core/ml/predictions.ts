/**
 * Predictions: a run classifies project images (stored, shown in the gallery), or a folder
 * on disk (answered, not stored). A run that was not fine-tuned classifies cached embeddings
 * with its head; a fine-tuned run needs its whole model, image by image.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import type { Database } from 'better-sqlite3';
import type { ImagePrediction, PredictFolderResult } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import type { Change } from '../data/history.ts';
import type { Store } from '../store/open.ts';
import { applyLabels, labelGroups, type LabelGroup } from '../data/labels-store.ts';
import { predictionRunId } from '../data/gallery.ts';
import { CoreError } from '../errors.ts';
import { formatFromExtension, isSupportedFormat } from '../media/image-safety.ts';
import { ensureEmbeddings, fromBlob, loadPresentEmbeddings, toBlob } from './embeddings.ts';
import { featureKey, modelDirFor } from './models.ts';
import { getRunRow, runClasses, runDir } from './runs.ts';
import type { PredictOutcome } from './train-protocol.ts';
import { runInTrainWorker } from './train-runner.ts';
import { applyTemperature } from '../eval/calibration.ts';
import { runCalibration } from '../eval/run-calibration.ts';
import { embedPool } from './training.ts';
import { backendLabel, noteRuntime } from './runtime-info.ts';

/** The run's temperature applied to predicted probabilities, in place (T = 1 leaves them as they are). */
function calibrate(outcome: PredictOutcome, temperature: number): void {
  if (temperature === 1 || !outcome.probabilities.length) return;
  outcome.probabilities.set(applyTemperature(outcome.probabilities, outcome.numClasses, temperature));
}

/** The most probable class of one row of probabilities. */
function argmax(probs: Float32Array): number {
  let best = 0;
  for (let c = 1; c < probs.length; c++) if (probs[c]! > probs[best]!) best = c;
  return best;
}

export function requireUsableRun(db: Database, runId: number) {
  const run = getRunRow(db, runId);
  if (run.status !== 'done' || !run.model_dir) {
    throw new CoreError('invalid_input', `${run.name} has no trained model (it is ${run.status}). Choose a finished run.`);
  }
  return run;
}

type UsableRun = ReturnType<typeof requireUsableRun>;

/**
 * A run's class probabilities for project images: from cached embeddings through its head,
 * or (fine-tuned runs) from the files through its whole model. `predicted` are the targets
 * the outcome's rows belong to, in order (images whose embedding could not be made are
 * left out); `outcome.errors` marks rows whose file could not be read.
 */
export async function runProbabilities<T extends { imageId: number; sha256: string; path: string }>(
  ctx: CoreContext,
  store: Store,
  run: UsableRun,
  targets: T[],
  options: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<{ outcome: PredictOutcome; predicted: T[] }> {
  const db = store.db;
  const dir = runDir(store, run.id);
  if (run.fine_tuned) {
    const outcome = await runInTrainWorker<PredictOutcome>(
      { type: 'predict', runDir: dir, files: targets.map((t) => t.path), backbone: { id: run.backbone, modelDir: modelDirFor(ctx, run.backbone) } },
      { signal: options.signal, onMessage: (m) => m.type === 'progress' && options.onProgress?.(m.done, m.total) },
    );
    return { outcome, predicted: targets };
  }
  const key = featureKey(run.backbone);
  const pool = embedPool(ctx);
  const embedded = await ensureEmbeddings(
    db,
    pool,
    { backbone: run.backbone, featureKey: key, modelDir: modelDirFor(ctx, run.backbone), view: 'center', targets },
    { signal: options.signal, onProgress: ({ done, total }) => options.onProgress?.(done, total) },
  );
  if (embedded.backendDetail) noteRuntime(embedded.backendDetail, pool.size);
  const { x, dims, kept: predicted } = loadPresentEmbeddings(db, key, 'center', targets);
  const outcome = await runInTrainWorker<PredictOutcome>({ type: 'predict', runDir: dir, embeddings: { x, n: predicted.length, dims } }, { signal: options.signal });
  return { outcome, predicted };
}

export function startPredict(ctx: CoreContext, runId: number, scope: 'unlabeled' | 'all'): { jobId: string } {
  const store = ctx.requireStore();
  const run = requireUsableRun(store.db, runId);
  const targets = store.db
    .prepare(
      `SELECT i.id AS imageId, i.sha256, i.path FROM images i WHERE i.status = 'active'
       ${scope === 'unlabeled' ? 'AND i.id NOT IN (SELECT image_id FROM labels)' : ''} ORDER BY i.path, i.id`,
    )
    .all() as { imageId: number; sha256: string; path: string }[];
  if (!targets.length) {
    throw new CoreError('invalid_input', scope === 'unlabeled' ? 'Every image is labelled: there is nothing unlabelled to predict.' : 'The project has no images to predict.');
  }
  const job = ctx.jobs.start(
    { kind: 'predict', title: `Predict ${targets.length} images with ${run.name}`, params: { runId, scope } },
    async (job) => {
      const db = job.store.db;
      const { outcome, predicted } = await runProbabilities(ctx, job.store, run, targets, {
        signal: job.signal,
        onProgress: (done, total) => job.progress(done, total + 1),
      });
      const at = Date.now();
      const k = outcome.numClasses;
      calibrate(outcome, runCalibration(db, runId).temperature);
      const insert = db.prepare(
        `INSERT OR REPLACE INTO predictions (run_id, image_id, class_index, confidence, probabilities, created_at)
         VALUES (@runId, @imageId, @classIndex, @confidence, @probabilities, @at)`,
      );
      let stored = 0;
      db.transaction(() => {
        predicted.forEach((t, i) => {
          if (outcome.errors[i]) return;
          const probs = outcome.probabilities.subarray(i * k, (i + 1) * k);
          const best = argmax(probs);
          insert.run({ runId, imageId: t.imageId, classIndex: best, confidence: probs[best]!, probabilities: toBlob(probs), at });
          stored++;
        });
      })();
      ctx.events.emit('dataset.changed', { reason: 'predictions' });
      ctx.events.emit('runs.changed', { runId });
      return { predicted: stored, failed: targets.length - stored };
    },
  );
  return { jobId: job.id };
}

/** One image's prediction, every class with its probability. */
export function imagePrediction(db: Database, imageId: number): ImagePrediction | null {
  const run = predictionRunId(db);
  if (run === null) return null;
  const row = db.prepare('SELECT class_index, confidence, probabilities FROM predictions WHERE run_id = ? AND image_id = ?').get(run, imageId) as
    | { class_index: number; confidence: number; probabilities: Buffer }
    | undefined;
  if (!row) return null;
  const classes = runClasses(db, run);
  const probs = fromBlob(row.probabilities);
  const c = classes[row.class_index];
  const exists = c && db.prepare('SELECT 1 FROM classes WHERE id = ?').get(c.id) !== undefined;
  return {
    runId: run,
    classId: exists ? c.id : null,
    className: c?.name ?? '?',
    confidence: row.confidence,
    top: classes.map((cl, i) => ({ className: cl.name, probability: probs[i] ?? 0 })).sort((a, b) => b.probability - a.probability),
  };
}

/** The user accepts the current predictions as labels (source: model). Undoable like any labelling. */
export function acceptPredictions(db: Database, imageIds: readonly number[], at: number): Change<{ changed: number }> {
  const run = predictionRunId(db);
  if (run === null) throw new CoreError('invalid_input', 'No model has predicted these images yet. Predict with a run first.');
  const classes = runClasses(db, run);
  const rows = db
    .prepare(
      `SELECT p.image_id AS imageId, p.class_index AS classIndex FROM json_each(@ids) j JOIN predictions p ON p.image_id = j.value AND p.run_id = @run`,
    )
    .all({ ids: JSON.stringify([...new Set(imageIds)]), run }) as { imageId: number; classIndex: number }[];
  const byClass = new Map<number, number[]>();
  const classExists = db.prepare('SELECT 1 FROM classes WHERE id = ?');
  for (const r of rows) {
    const c = classes[r.classIndex];
    if (!c || classExists.get(c.id) === undefined) continue;
    byClass.set(c.id, [...(byClass.get(c.id) ?? []), r.imageId]);
  }
  const before: LabelGroup[] = [];
  const after: LabelGroup[] = [];
  let changed = 0;
  for (const [classId, ids] of byClass) {
    const groups = labelGroups(db, ids, classId);
    const n = applyLabels(db, ids, classId, 'model', at);
    if (!n) continue;
    changed += n;
    before.push(...groups);
    after.push({ classId, source: 'model', updatedAt: at, imageIds: groups.flatMap((g) => g.imageIds) });
  }
  if (!changed) return { result: { changed }, entry: null };
  return {
    result: { changed },
    entry: {
      description: `Accept the model's label for ${changed === 1 ? '1 image' : `${changed} images`}`,
      undo: [{ kind: 'labels', groups: before }],
      redo: [{ kind: 'labels', groups: after }],
    },
  };
}

/** Classifies every image file in a folder (recursively) with a run; nothing is imported. */
export async function predictFolder(ctx: CoreContext, runId: number, dir: string): Promise<PredictFolderResult> {
  const store = ctx.requireStore();
  const run = requireUsableRun(store.db, runId);
  const root = nodePath.resolve(dir);
  const stats = await fs.promises.stat(root).catch(() => null);
  if (!stats?.isDirectory()) throw new CoreError('not_found', `There is no folder at ${root}.`);
  // Asynchronously: a folder of many thousand files must not stall the host's event loop.
  const files = (await fs.promises.readdir(root, { recursive: true, withFileTypes: true }))
    .filter((d) => d.isFile() && isSupportedFormat(formatFromExtension(d.name) ?? ''))
    .map((d) => nodePath.join(d.parentPath ?? (d as unknown as { path: string }).path, d.name))
    .sort();
  const classes = runClasses(store.db, runId).map((c) => c.name);
  if (!files.length) return { runId, classes, backend: null, workers: 0, rows: [] };
  const outcome = await runInTrainWorker<PredictOutcome>({
    type: 'predict',
    runDir: runDir(store, runId),
    files,
    backbone: { id: run.backbone, modelDir: modelDirFor(ctx, run.backbone) },
  });
  noteRuntime(outcome.backend, 1);
  const k = outcome.numClasses;
  const { temperature, threshold } = runCalibration(store.db, runId);
  calibrate(outcome, temperature);
  return {
    runId,
    classes,
    backend: backendLabel(outcome.backend),
    workers: 1,
    rows: files.map((path, i) => {
      if (outcome.errors[i]) return { path, className: null, confidence: null, error: outcome.errors[i]!, abstained: false };
      const probs = outcome.probabilities.subarray(i * k, (i + 1) * k);
      const best = argmax(probs);
      const abstained = probs[best]! < threshold;
      return { path, className: abstained ? null : (classes[best] ?? null), confidence: probs[best]!, error: null, abstained };
    }),
  };
}
