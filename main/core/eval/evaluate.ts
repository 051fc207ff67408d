/**
 * Evaluating a finished run on its test or validation images: probabilities from the run's
 * model (cached embeddings through its head, or the whole fine-tuned model), then every
 * metric of EvaluationResult, with bootstrap intervals, curves, calibration (before and
 * after temperature scaling fitted on validation) and per-tag slices.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import nodePath from 'node:path';
import type { Database } from 'better-sqlite3';
import type { EvaluatedImage, EvaluationResult } from '../../../shared/contract/evaluation.ts';
import { formatFromExtension, isSupportedFormat } from '../media/image-safety.ts';
import { modelDirFor } from '../ml/models.ts';
import type { PredictOutcome } from '../ml/train-protocol.ts';
import { runInTrainWorker } from '../ml/train-runner.ts';
import type { CoreContext } from '../context.ts';
import { CoreError } from '../errors.ts';
import { requireUsableRun, runProbabilities } from '../ml/predictions.ts';
import { runClasses, runDir } from '../ml/runs.ts';
import { applyTemperature, coverageCurve, fitTemperature, reliability } from './calibration.ts';
import { bootstrapIntervals, headlineMetrics, oneVsRest } from './metrics.ts';
import { sliceMetrics } from './slices.ts';
import { runCalibration } from './run-calibration.ts';

export const BOOTSTRAP = { samples: 1000, seed: 1 };

export interface EvalImage {
  imageId: number;
  sha256: string;
  path: string;
  classIndex: number;
}

/**
 * Active, labelled, original images of one split whose class the run knows, in a stable
 * order. Derived copies are never evaluated.
 */
export function splitImages(db: Database, runId: number, split: 'test' | 'val'): EvalImage[] {
  const index = new Map(runClasses(db, runId).map((c, i) => [c.id, i]));
  const rows = db
    .prepare(
      `SELECT i.id AS imageId, i.sha256, i.path, l.class_id AS classId
       FROM images i JOIN labels l ON l.image_id = i.id JOIN splits s ON s.image_id = i.id
       WHERE i.status = 'active' AND i.derived_from IS NULL AND s.split = ? ORDER BY i.id`,
    )
    .all(split) as { imageId: number; sha256: string; path: string; classId: number }[];
  return rows.filter((r) => index.has(r.classId)).map((r) => ({ imageId: r.imageId, sha256: r.sha256, path: r.path, classIndex: index.get(r.classId)! }));
}

/** Probabilities of the images that could be read, with their true classes. */
async function probabilitiesOf(
  ctx: CoreContext,
  runId: number,
  images: EvalImage[],
  signal?: AbortSignal,
): Promise<{ probs: Float32Array; y: Int32Array; images: (EvalImage & { imageId: number | null })[]; k: number }> {
  const store = ctx.requireStore();
  const run = requireUsableRun(store.db, runId);
  const { outcome, predicted } = await runProbabilities(ctx, store, run, images, { signal });
  const k = outcome.numClasses;
  const kept = predicted.filter((_, i) => !outcome.errors[i]);
  const probs = new Float32Array(kept.length * k);
  let row = 0;
  predicted.forEach((_, i) => {
    if (!outcome.errors[i]) probs.set(outcome.probabilities.subarray(i * k, (i + 1) * k), row++ * k);
  });
  return { probs, y: Int32Array.from(kept, (i) => i.classIndex), images: kept, k };
}

function tagsOf(db: Database, imageIds: readonly number[]): { key: string; value: string }[][] {
  const get = db.prepare('SELECT key, value FROM tags WHERE image_id = ? ORDER BY key');
  return imageIds.map((id) => get.all(id) as { key: string; value: string }[]);
}

/**
 * The images of a folder whose sub-folders are named after the run's classes (any depth
 * below them). Images in other folders are left out; the result says which folders those were.
 */
async function folderImages(root: string, classes: readonly string[]): Promise<{ images: { path: string; classIndex: number }[]; ignored: string[] }> {
  const dir = nodePath.resolve(root);
  const stats = await fs.promises.stat(dir).catch(() => null);
  if (!stats?.isDirectory()) throw new CoreError('not_found', `There is no folder at ${dir}.`);
  const entries = await fs.promises.readdir(dir, { recursive: true, withFileTypes: true });
  const images: { path: string; classIndex: number }[] = [];
  const ignored = new Set<string>();
  for (const d of entries) {
    if (!d.isFile() || !isSupportedFormat(formatFromExtension(d.name) ?? '')) continue;
    const full = nodePath.join(d.parentPath ?? (d as unknown as { path: string }).path, d.name);
    const parts = nodePath.relative(dir, full).split(nodePath.sep);
    if (parts.length < 2) {
      ignored.add('loose files');
      continue;
    }
    const classIndex = classes.indexOf(parts[0]!);
    if (classIndex < 0) ignored.add(`${parts[0]}/`);
    else images.push({ path: full, classIndex });
  }
  images.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { images, ignored: [...ignored].sort() };
}

/** Probabilities of a folder's images through the run's whole model (nothing is imported or cached). */
async function folderProbabilities(ctx: CoreContext, runId: number, images: { path: string; classIndex: number }[]) {
  const store = ctx.requireStore();
  const run = requireUsableRun(store.db, runId);
  const outcome = await runInTrainWorker<PredictOutcome>({
    type: 'predict',
    runDir: runDir(store, runId),
    files: images.map((i) => i.path),
    backbone: { id: run.backbone, modelDir: modelDirFor(ctx, run.backbone) },
  });
  const k = outcome.numClasses;
  const kept = images.filter((_, i) => !outcome.errors[i]);
  const probs = new Float32Array(kept.length * k);
  let row = 0;
  images.forEach((_, i) => {
    if (!outcome.errors[i]) probs.set(outcome.probabilities.subarray(i * k, (i + 1) * k), row++ * k);
  });
  return { probs, y: Int32Array.from(kept, (i) => i.classIndex), images: kept.map((i) => ({ imageId: null, path: i.path })), k, unreadable: images.length - kept.length };
}

/** How many of these files hold the content of an active training or validation image of the project. */
async function seenInTraining(db: Database, paths: readonly string[]): Promise<number> {
  const known = db.prepare(
    `SELECT 1 FROM images i JOIN splits s ON s.image_id = i.id WHERE i.sha256 = ? AND i.status = 'active' AND s.split IN ('train', 'val')`,
  ).pluck();
  let seen = 0;
  for (const path of paths) {
    const bytes = await fs.promises.readFile(path).catch(() => null);
    if (bytes && known.get(createHash('sha256').update(bytes).digest('hex'))) seen++;
  }
  return seen;
}

/** Pairs of classes confused either way, most confusions first. */
export function confusedPairs(confusion: number[][], classes: readonly string[]): EvaluationResult['confusedPairs'] {
  const pairs: EvaluationResult['confusedPairs'] = [];
  for (let a = 0; a < classes.length; a++) {
    for (let b = a + 1; b < classes.length; b++) {
      const aAsB = confusion[a]?.[b] ?? 0;
      const bAsA = confusion[b]?.[a] ?? 0;
      if (aAsB + bAsA > 0) pairs.push({ a: classes[a]!, b: classes[b]!, aAsB, bAsA });
    }
  }
  return pairs.sort((p, q) => q.aAsB + q.bAsA - (p.aAsB + p.bAsA) || (p.a < q.a ? -1 : 1));
}

export async function evaluateRun(
  ctx: CoreContext,
  runId: number,
  from: { split: 'test' | 'val' } | { dir: string },
  signal?: AbortSignal,
): Promise<EvaluationResult> {
  const started = performance.now();
  const db = ctx.requireStore().db;
  const classes = runClasses(db, runId).map((c) => c.name);
  const split = 'split' in from ? from.split : null;
  let evaluated: { probs: Float32Array; y: Int32Array; images: { imageId: number | null; path: string }[]; k: number };
  const warnings: string[] = [];
  if (split) {
    const images = splitImages(db, runId, split);
    if (!images.length) {
      throw new CoreError(
        'invalid_input',
        `The project has no ${split === 'test' ? 'test' : 'validation'} images of this run's classes to evaluate on. Give images a split (Dataset view, or seedbed train does it) first.`,
      );
    }
    evaluated = await probabilitiesOf(ctx, runId, images, signal);
  } else {
    const dir = (from as { dir: string }).dir;
    const found = await folderImages(dir, classes);
    if (!found.images.length) {
      throw new CoreError(
        'invalid_input',
        `${nodePath.resolve(dir)} has no images in folders named after this run's classes (${classes.join(', ')})${found.ignored.length ? `; it has ${found.ignored.join(', ')}` : ''}. Put each class's images in a folder with its name.`,
      );
    }
    const folder = await folderProbabilities(ctx, runId, found.images);
    evaluated = folder;
    if (folder.unreadable) warnings.push(`${folder.unreadable} file${folder.unreadable === 1 ? '' : 's'} of the folder could not be read and ${folder.unreadable === 1 ? 'is' : 'are'} left out.`);
    if (found.ignored.length) warnings.push(`Left out, not named after a class of this run: ${found.ignored.join(', ')}.`);
    const seen = await seenInTraining(db, folder.images.map((i) => i.path));
    if (seen) {
      warnings.push(
        `${seen} of the folder's ${folder.images.length} images ${seen === 1 ? 'is' : 'are'} also in this project's training or validation images, ` +
          'so these numbers overstate how the model does on images it has never seen.',
      );
    }
  }
  const { probs, y, k } = evaluated;
  const runTemperature = runCalibration(db, runId).temperature;
  const headline = headlineMetrics(probs, y, k);
  const intervals = bootstrapIntervals(probs, y, k, BOOTSTRAP);
  const curves = oneVsRest(probs, y, k);

  let temperature: EvaluationResult['temperature'] = null;
  if (split !== 'val') {
    const valImages = splitImages(db, runId, 'val');
    if (valImages.length) {
      const val = await probabilitiesOf(ctx, runId, valImages, signal);
      const fitted = fitTemperature(val.probs, val.y, k);
      temperature = { value: fitted.temperature, after: reliability(applyTemperature(probs, k, fitted.temperature), y, k) };
    }
  }
  const rows: EvaluatedImage[] = evaluated.images.map((image, i) => {
    let best = 0;
    for (let c = 1; c < k; c++) if (probs[i * k + c]! > probs[i * k + best]!) best = c;
    return { imageId: image.imageId, path: image.path, trueIndex: y[i]!, predictedIndex: best, confidence: probs[i * k + best]!, trueProbability: probs[i * k + y[i]!]! };
  });
  const correct = Uint8Array.from(rows, (r) => (r.predictedIndex === r.trueIndex ? 1 : 0));
  const imageIds = evaluated.images.map((i) => i.imageId).filter((id): id is number => id !== null);

  return {
    runId,
    source: split ?? 'folder',
    count: evaluated.images.length,
    classes,
    headline: intervals,
    bootstrap: BOOTSTRAP,
    perClass: Object.fromEntries(classes.map((name, c) => [name, headline.perClass[c]!])),
    confusion: headline.confusion,
    confusionNormalised: headline.confusionNormalised,
    curves: Object.fromEntries(classes.map((name, c) => [name, curves[c]!])),
    calibration: reliability(probs, y, k),
    temperature,
    coverage: coverageCurve(runTemperature === 1 ? probs : applyTemperature(probs, k, runTemperature), y, k),
    coverageTemperature: runTemperature,
    slices: imageIds.length === rows.length ? sliceMetrics(correct, tagsOf(db, imageIds)) : [],
    images: rows,
    warnings,
    confusedPairs: confusedPairs(headline.confusion, classes),
    seconds: (performance.now() - started) / 1000,
  };
}
