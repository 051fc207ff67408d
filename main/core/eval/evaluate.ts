/**
 * Evaluating a finished run on its test or validation images: probabilities from the run's
 * model (cached embeddings through its head, or the whole fine-tuned model), then every
 * metric of EvaluationResult, with bootstrap intervals, curves, calibration (before and
 * after temperature scaling fitted on validation) and per-tag slices.
 */
import type { Database } from 'better-sqlite3';
import type { EvaluationResult } from '../../../shared/contract/evaluation.ts';
import type { CoreContext } from '../context.ts';
import { CoreError } from '../errors.ts';
import { requireUsableRun, runProbabilities } from '../ml/predictions.ts';
import { runClasses } from '../ml/runs.ts';
import { applyTemperature, coverageCurve, fitTemperature, reliability } from './calibration.ts';
import { bootstrapIntervals, headlineMetrics, oneVsRest } from './metrics.ts';
import { sliceMetrics } from './slices.ts';

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
): Promise<{ probs: Float32Array; y: Int32Array; images: EvalImage[]; k: number }> {
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

export async function evaluateRun(ctx: CoreContext, runId: number, split: 'test' | 'val', signal?: AbortSignal): Promise<EvaluationResult> {
  const started = performance.now();
  const db = ctx.requireStore().db;
  const classes = runClasses(db, runId).map((c) => c.name);
  const images = splitImages(db, runId, split);
  if (!images.length) {
    throw new CoreError(
      'invalid_input',
      `The project has no ${split === 'test' ? 'test' : 'validation'} images of this run's classes to evaluate on. Give images a split (Dataset view, or seedbed train does it) first.`,
    );
  }
  const evaluated = await probabilitiesOf(ctx, runId, images, signal);
  const { probs, y, k } = evaluated;
  const headline = headlineMetrics(probs, y, k);
  const intervals = bootstrapIntervals(probs, y, k, BOOTSTRAP);
  const curves = oneVsRest(probs, y, k);

  let temperature: EvaluationResult['temperature'] = null;
  if (split === 'test') {
    const valImages = splitImages(db, runId, 'val');
    if (valImages.length) {
      const val = await probabilitiesOf(ctx, runId, valImages, signal);
      const fitted = fitTemperature(val.probs, val.y, k);
      temperature = { value: fitted.temperature, after: reliability(applyTemperature(probs, k, fitted.temperature), y, k) };
    }
  }
  const correct = Uint8Array.from(evaluated.images, (_, i) => {
    let best = 0;
    for (let c = 1; c < k; c++) if (probs[i * k + c]! > probs[i * k + best]!) best = c;
    return best === y[i] ? 1 : 0;
  });

  return {
    runId,
    source: split,
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
    coverage: coverageCurve(probs, y, k),
    slices: sliceMetrics(correct, tagsOf(db, evaluated.images.map((i) => i.imageId))),
    seconds: (performance.now() - started) / 1000,
  };
}
