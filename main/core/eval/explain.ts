/**
 * Why a run decided what it did for one image: a Grad-CAM or occlusion heatmap (computed in
 * the training worker by explain-compute.ts, cached per image, method and class in
 * `<runDir>/explain/`), and the training images nearest to it in the backbone's embedding
 * space, with their labels (often the real reason for a mistake).
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import type { Database } from 'better-sqlite3';
import sharp from 'sharp';
import { EXPLAIN_METHODS, type ExplainMethod, type Explanation, type NeighbourImage } from '../../../shared/contract/evaluation.ts';
import type { CoreContext } from '../context.ts';
import { CoreError } from '../errors.ts';
import { modelInput, toJpeg } from '../augment/pipeline.ts';
import { ensureEmbeddings, loadEmbeddings } from '../ml/embeddings.ts';
import { featureKey, modelDirFor } from '../ml/models.ts';
import { MODEL_INPUT_SIZE } from '../ml/pixels.ts';
import { requireUsableRun } from '../ml/predictions.ts';
import { runClasses, runDir } from '../ml/runs.ts';
import { WarmTrainWorker } from '../ml/train-runner.ts';
import { embedPool } from '../ml/training.ts';
import type { ExplainOutcome } from './explain-compute.ts';
import { runCalibration } from './run-calibration.ts';

/** Bumped when what a cached explanation holds (or how it is computed) changes: older files are then recomputed. */
const CACHE_VERSION = 1;

interface CachedExplanation {
  version: number;
  /** The image's content when it was explained: a changed file is explained again. */
  sha256: string;
  method: ExplainMethod;
  classIndex: number;
  /** The head's logits: probabilities are made from them with the run's current temperature. */
  logits: number[];
  grid: { size: number; values: number[] };
  overlay: string;
  input: string;
}

interface ImageFile {
  id: number;
  sha256: string;
  path: string;
}

/** The image's content hash and a file of it that exists (its first path, else another it was imported from). */
function imageFile(db: Database, imageId: number): ImageFile {
  const row = db.prepare('SELECT id, sha256, path FROM images WHERE id = ?').get(imageId) as ImageFile | undefined;
  if (!row) throw new CoreError('not_found', `There is no image ${imageId} in this project.`);
  const others = db.prepare('SELECT path FROM image_paths WHERE image_id = ? AND path != ? ORDER BY added_at').pluck().all(imageId, row.path) as string[];
  const path = [row.path, ...others].find((p) => fs.existsSync(p));
  if (!path) throw new CoreError('not_found', `The file of image ${imageId} is missing (${row.path}). Put it back or re-import its folder, then try again.`);
  return { ...row, path };
}

function cacheFile(dir: string, imageId: number, method: ExplainMethod, classIndex: number): string {
  return nodePath.join(dir, `${imageId}-${method}-${classIndex}.json`);
}

function readCache(file: string, sha256: string, method: ExplainMethod, numClasses: number): CachedExplanation | null {
  let entry: CachedExplanation;
  try {
    entry = JSON.parse(fs.readFileSync(file, 'utf8')) as CachedExplanation;
  } catch {
    return null;
  }
  const usable =
    entry.version === CACHE_VERSION &&
    entry.sha256 === sha256 &&
    entry.method === method &&
    Array.isArray(entry.logits) &&
    entry.logits.length === numClasses &&
    Array.isArray(entry.grid?.values) &&
    entry.grid.values.length === entry.grid.size * entry.grid.size;
  return usable ? entry : null;
}

/**
 * The cached explanation of the predicted class: any cached explanation of this image holds
 * the logits, and so which class is predicted, whichever class it explains.
 */
function readPredictedCache(dir: string, imageId: number, sha256: string, method: ExplainMethod, numClasses: number): CachedExplanation | null {
  for (let c = 0; c < numClasses; c++) {
    const any = readCache(cacheFile(dir, imageId, method, c), sha256, method, numClasses);
    if (!any) continue;
    const predicted = argmax(any.logits);
    return predicted === c ? any : readCache(cacheFile(dir, imageId, method, predicted), sha256, method, numClasses);
  }
  return null;
}

function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** softmax(logits / temperature), every class named, most likely first. */
function topClasses(logits: readonly number[], classes: readonly string[], temperature: number): Explanation['top'] {
  const t = temperature > 0 ? temperature : 1;
  const max = Math.max(...logits.map((z) => z / t));
  const e = logits.map((z) => Math.exp(z / t - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return classes.map((className, i) => ({ className, probability: e[i]! / sum })).sort((a, b) => b.probability - a.probability);
}

/**
 * A size × size grid resampled to side × side pixels, bilinear between cell centres (edges
 * clamped): what the overlay shows, and what its shares of the image are measured on.
 */
export function upsampleGrid(values: readonly number[], size: number, side = MODEL_INPUT_SIZE): Float32Array {
  const out = new Float32Array(side * side);
  const scale = size / side;
  const at = (r: number, c: number) => values[Math.min(size - 1, Math.max(0, r)) * size + Math.min(size - 1, Math.max(0, c))]!;
  for (let y = 0; y < side; y++) {
    const gy = (y + 0.5) * scale - 0.5;
    const y0 = Math.floor(gy);
    const fy = gy - y0;
    for (let x = 0; x < side; x++) {
      const gx = (x + 0.5) * scale - 0.5;
      const x0 = Math.floor(gx);
      const fx = gx - x0;
      out[y * side + x] =
        (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
    }
  }
  return out;
}

/** Matplotlib's inferno at 0, 0.1, …, 1: dark for weak, bright yellow for strong, readable by most colour-blind users. */
const INFERNO: [number, number, number][] = [
  [0, 0, 4], [22, 11, 57], [66, 10, 104], [106, 23, 110], [147, 38, 103], [188, 55, 84],
  [221, 81, 58], [243, 120, 25], [252, 165, 10], [246, 215, 70], [252, 255, 164],
];

function inferno(v: number): [number, number, number] {
  const t = Math.min(1, Math.max(0, v)) * (INFERNO.length - 1);
  const i = Math.min(INFERNO.length - 2, Math.floor(t));
  const f = t - i;
  const [a, b] = [INFERNO[i]!, INFERNO[i + 1]!];
  return [a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2])];
}

/** The heatmap as a transparent 224 px PNG: inferno colours, weak regions see-through (the viewer's slider scales the rest). */
async function overlayPng(values: readonly number[], size: number): Promise<string> {
  const side = MODEL_INPUT_SIZE;
  const heat = upsampleGrid(values, size, side);
  const rgba = Buffer.alloc(side * side * 4);
  for (let p = 0; p < heat.length; p++) {
    const [r, g, b] = inferno(heat[p]!);
    rgba[p * 4] = Math.round(r);
    rgba[p * 4 + 1] = Math.round(g);
    rgba[p * 4 + 2] = Math.round(b);
    rgba[p * 4 + 3] = Math.round(230 * Math.min(1, Math.max(0, heat[p]!)));
  }
  const png = await sharp(rgba, { raw: { width: side, height: side, channels: 4 } }).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

function classIndexOf(classes: readonly string[], className: string, runName: string): number {
  const exact = classes.indexOf(className);
  if (exact >= 0) return exact;
  // Class names are unique without regard to case in a project.
  const folded = classes.findIndex((c) => c.toLowerCase() === className.toLowerCase());
  if (folded >= 0) return folded;
  throw new CoreError('invalid_input', `${runName} does not know the class "${className}". Its classes are: ${classes.join(', ')}.`);
}

export async function explainImage(ctx: CoreContext, runId: number, imageId: number, method: ExplainMethod, className?: string): Promise<Explanation> {
  const started = performance.now();
  if (!EXPLAIN_METHODS.includes(method)) throw new CoreError('invalid_input', `There is no explanation method "${method}"; choose ${EXPLAIN_METHODS.join(' or ')}.`);
  const store = ctx.requireStore();
  const db = store.db;
  const run = requireUsableRun(db, runId);
  const classes = runClasses(db, runId).map((c) => c.name);
  const image = imageFile(db, imageId);
  const wanted = className === undefined ? null : classIndexOf(classes, className, run.name);
  const folder = runDir(store, runId);
  const dir = nodePath.join(folder, 'explain');
  const temperature = runCalibration(db, runId).temperature;
  const answer = (entry: CachedExplanation, cached: boolean): Explanation => ({
    runId,
    imageId,
    method,
    className: classes[entry.classIndex]!,
    top: topClasses(entry.logits, classes, temperature),
    grid: entry.grid,
    overlay: entry.overlay,
    input: entry.input,
    cached,
    ms: performance.now() - started,
  });

  const hit = wanted === null ? readPredictedCache(dir, imageId, image.sha256, method, classes.length) : readCache(cacheFile(dir, imageId, method, wanted), image.sha256, method, classes.length);
  if (hit) return answer(hit, true);

  let outcome: ExplainOutcome;
  try {
    // A warm worker: the first explanation starts it, the next ones answer in well under a second.
    outcome = await ctx.jobs.shared('explain-worker', () => new WarmTrainWorker()).run<ExplainOutcome>({
      type: 'explain',
      runDir: folder,
      backbone: { id: run.backbone, modelDir: modelDirFor(ctx, run.backbone) },
      fineTuned: run.fine_tuned === 1,
      file: image.path,
      method,
      classIndex: wanted,
    });
  } catch (err) {
    if (err instanceof CoreError) throw err;
    throw new CoreError('io_error', `Seedbed could not explain image ${imageId} (${image.path}) with ${run.name}: ${(err as Error).message}`);
  }
  if (outcome.logits.length !== classes.length) {
    throw new CoreError('invalid_input', `${run.name}'s model predicts ${outcome.logits.length} classes but the run lists ${classes.length}; its model files do not belong to it. Train it again.`);
  }
  const input = await modelInput(image.path);
  const entry: CachedExplanation = {
    version: CACHE_VERSION,
    sha256: image.sha256,
    method,
    classIndex: outcome.classIndex,
    logits: outcome.logits,
    grid: { size: outcome.size, values: outcome.grid },
    overlay: await overlayPng(outcome.grid, outcome.size),
    input: `data:image/jpeg;base64,${(await toJpeg(input, 85)).toString('base64')}`,
  };
  try {
    fs.mkdirSync(dir, { recursive: true });
    const file = cacheFile(dir, imageId, method, entry.classIndex);
    // Written beside, then renamed: a reader never sees half a file.
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(entry));
    fs.renameSync(`${file}.tmp`, file);
  } catch (err) {
    // The explanation stands without its cache; only the next request is slower.
    console.warn(`Seedbed could not cache an explanation in ${dir}: ${(err as Error).message}`);
  }
  return answer(entry, false);
}

/**
 * The run's training images (active, labelled with one of the run's classes, in the train
 * split, not derived copies) most similar to the image: cosine similarity of their cached
 * 'center' embeddings, most similar first. Images without an embedding are embedded first
 * (normally only the image asked about, when it is new). Linear scan on the main thread:
 * a few thousand × about a thousand floats takes milliseconds (see explain.test.ts).
 */
export async function nearestTrainingImages(ctx: CoreContext, runId: number, imageId: number, count: number): Promise<NeighbourImage[]> {
  const store = ctx.requireStore();
  const db = store.db;
  const run = requireUsableRun(db, runId);
  const image = db.prepare('SELECT id AS imageId, sha256, path FROM images WHERE id = ?').get(imageId) as { imageId: number; sha256: string; path: string } | undefined;
  if (!image) throw new CoreError('not_found', `There is no image ${imageId} in this project.`);
  const k = Math.max(1, Math.min(50, Math.floor(count)));
  const runClassIds = runClasses(db, runId).map((c) => c.id);
  const training = db
    .prepare(
      `SELECT i.id AS imageId, i.sha256, i.path, c.name AS className
       FROM images i JOIN labels l ON l.image_id = i.id JOIN classes c ON c.id = l.class_id JOIN splits s ON s.image_id = i.id
       WHERE i.status = 'active' AND i.derived_from IS NULL AND s.split = 'train' AND l.class_id IN (SELECT value FROM json_each(?))
       ORDER BY i.id`,
    )
    .all(JSON.stringify(runClassIds)) as { imageId: number; sha256: string; path: string; className: string }[];
  if (!training.length) return [];

  const key = featureKey(run.backbone);
  const targets = [image, ...training];
  const ensured = await ensureEmbeddings(db, embedPool(ctx), { backbone: run.backbone, featureKey: key, modelDir: modelDirFor(ctx, run.backbone), view: 'center', targets });
  const query = loadEmbeddings(db, key, 'center', [image.sha256]);
  if (!query.present[0]) {
    const why = ensured.failed.find((f) => f.imageId === imageId)?.reason ?? 'it has no embedding';
    throw new CoreError('io_error', `Seedbed could not place image ${imageId} (${image.path}) among the training images: ${why}.`);
  }
  const dims = query.dims;
  let qNorm = 0;
  for (let d = 0; d < dims; d++) qNorm += query.x[d]! * query.x[d]!;
  qNorm = Math.sqrt(qNorm) || 1;

  const loaded = loadEmbeddings(db, key, 'center', training.map((t) => t.sha256));
  const scored: { index: number; similarity: number }[] = [];
  training.forEach((_, i) => {
    if (!loaded.present[i] || loaded.dims !== dims) return;
    let dot = 0;
    let norm = 0;
    const row = i * dims;
    for (let d = 0; d < dims; d++) {
      const v = loaded.x[row + d]!;
      dot += v * query.x[d]!;
      norm += v * v;
    }
    scored.push({ index: i, similarity: dot / (qNorm * (Math.sqrt(norm) || 1)) });
  });
  scored.sort((a, b) => b.similarity - a.similarity || training[a.index]!.imageId - training[b.index]!.imageId);
  return scored.slice(0, k).map(({ index, similarity }) => {
    const t = training[index]!;
    return { imageId: t.imageId, path: t.path, className: t.className, similarity };
  });
}
