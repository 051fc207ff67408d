/**
 * The numbers behind an explanation, computed inside the training worker (train.worker.ts
 * answers 'explain' requests with explainInWorker): Grad-CAM on the backbone's tapped feature
 * maps and occlusion sensitivity through the whole model (backbone + head).
 *
 * Grad-CAM needs no convolution gradients (which wasm lacks): the head sees only the
 * global-average-pooled maps, so ∂score/∂A_k(position) = (1/HW)·∂score/∂pooled_k, and the
 * gradient of the score with respect to the head's input (dense layers only) gives every
 * channel weight. The score is the class's logit (the head's last Dense before its softmax),
 * as in Selvaraju et al.: a log-probability would mix in evidence against the other classes.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ExplainMethod } from '../../../shared/contract/evaluation.ts';
import { CoreError } from '../errors.ts';
import { loadCanonicalBackbone, type CanonicalBackbone, type FeatureTap } from '../ml/canonical.ts';
import { featureTaps } from '../ml/features.ts';
import { loadLayersModelFrom } from '../ml/model-files.ts';
import { decodeForModel, MODEL_INPUT_SIZE } from '../ml/pixels.ts';
import { chooseBackend } from '../ml/runtime.ts';
import { headLogits, headSteps, type HeadStep } from '../ml/train/trainer.ts';
import { readTidy } from '../ml/tensor-read.ts';

export interface ExplainRequest {
  type: 'explain';
  /** The run's folder (head/, model/, run.json). */
  runDir: string;
  backbone: { id: string; modelDir: string };
  /** Fine-tuned runs' backbone weights come from runDir/model, not from the backbone's files. */
  fineTuned: boolean;
  file: string;
  method: ExplainMethod;
  /** Index into the run's classes; null explains the predicted class. */
  classIndex: number | null;
}

export interface ExplainOutcome {
  /** The head's logits for the image (before any temperature). */
  logits: number[];
  /** The class explained. */
  classIndex: number;
  /** size × size values in [0, 1], row-major over the 224 px input. */
  size: number;
  grid: number[];
  backend: string;
  seconds: { load: number; compute: number };
}

/** Which feature maps Grad-CAM weighs: the last block alone, or the last block and the 14×14 tap together. */
export type CamTaps = 'last' | 'all';

/**
 * Occlusion: a patch of the image's mean colour, a quarter of the side (56 px), moved half its
 * size at a time: 7 × 7 = 49 forward passes (one row of positions per batch), about 1 s with
 * the smallest backbone on wasm and a few seconds with the largest.
 */
export const OCCLUSION_PATCH = 56;
export const OCCLUSION_STRIDE = 28;

/** A run's model as explanations need it: its tapped feature maps, and its head as plain maths. */
export interface ExplainModel {
  taps: FeatureTap[];
  /** pixels [n,224,224,3] 0..255 → one [n,h,w,c] map per tap, in the taps' order. */
  maps: tfl.LayersModel;
  steps: HeadStep[];
  numClasses: number;
  dispose(): void;
}

function readTaps(runDir: string, b: CanonicalBackbone): FeatureTap[] {
  try {
    const saved = JSON.parse(fs.readFileSync(nodePath.join(runDir, 'run.json'), 'utf8')) as { taps?: FeatureTap[] };
    if (Array.isArray(saved.taps) && saved.taps.length) return saved.taps;
  } catch {
    // Runs saved before run.json listed their taps pool the backbone's default ones.
  }
  return featureTaps(b);
}

/** Loads the backbone (with a fine-tuned run's own weights) and the run's head. */
export async function loadExplainModel(req: Pick<ExplainRequest, 'runDir' | 'backbone' | 'fineTuned'>): Promise<ExplainModel> {
  const b = await loadCanonicalBackbone(req.backbone.id, req.backbone.modelDir);
  let head: tfl.LayersModel | null = null;
  try {
    if (req.fineTuned) {
      // The run's whole model holds the backbone's layers under the same names, with the fine-tuned weights.
      const saved = await loadLayersModelFrom(nodePath.join(req.runDir, 'model')).catch((err: Error) => {
        throw new CoreError('io_error', `Seedbed cannot read the fine-tuned model in ${nodePath.join(req.runDir, 'model')}: ${err.message}`);
      });
      try {
        for (const layer of b.model.layers) {
          if (!layer.weights.length) continue;
          let source: tfl.layers.Layer;
          try {
            source = saved.getLayer(layer.name);
          } catch {
            throw new CoreError('invalid_input', `The fine-tuned model in ${req.runDir} has no layer "${layer.name}"; it was not made from ${b.id}.`);
          }
          layer.setWeights(source.getWeights());
        }
      } finally {
        saved.dispose();
      }
    }
    head = await loadLayersModelFrom(nodePath.join(req.runDir, 'head')).catch((err: Error) => {
      throw new CoreError('io_error', `Seedbed cannot read the run's classifier head in ${nodePath.join(req.runDir, 'head')}: ${err.message}`);
    });
    const taps = readTaps(req.runDir, b);
    const outputs = taps.map((t) => b.model.getLayer(t.layer).getOutputAt(0) as tfl.SymbolicTensor);
    const width = taps.reduce((a, t, i) => a + (outputs[i]!.shape[3] as number) * (t.pooling === 'avg+max' ? 2 : 1), 0);
    if (head.inputs[0]?.shape[1] !== width) {
      throw new CoreError('invalid_input', `The run's head takes ${head.inputs[0]?.shape[1]} features, but ${b.id}'s pooled feature maps have ${width}.`);
    }
    // Not disposed on its own: its layers are the backbone's, freed with it.
    const maps = tfl.model({ inputs: b.model.inputs, outputs, name: `${b.id}_explain_maps` });
    const numClasses = head.outputs[0]!.shape[1] as number;
    const steps = headSteps(head, numClasses);
    const loadedHead = head;
    return { taps, maps, steps, numClasses, dispose: () => (loadedHead.dispose(), b.dispose()) };
  } catch (err) {
    head?.dispose();
    b.dispose();
    throw err;
  }
}

/** The tapped maps of a batch of images, and the pooled vector the head reads (as the embeddings pool it). */
function forwardMaps(m: ExplainModel, pixels: tf.Tensor4D): { maps: tf.Tensor4D[]; pooled: tf.Tensor2D } {
  const out = m.maps.predict(pixels);
  const maps = (Array.isArray(out) ? out : [out]) as tf.Tensor4D[];
  const parts: tf.Tensor[] = [];
  m.taps.forEach((t, i) => {
    parts.push(tf.mean(maps[i]!, [1, 2]));
    if (t.pooling === 'avg+max') parts.push(tf.max(maps[i]!, [1, 2]));
  });
  return { maps, pooled: (parts.length === 1 ? parts[0]! : tf.concat(parts, 1)) as tf.Tensor2D };
}

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

function checkClass(m: ExplainModel, classIndex: number | null): void {
  if (classIndex !== null && !(Number.isInteger(classIndex) && classIndex >= 0 && classIndex < m.numClasses)) {
    throw new CoreError('invalid_input', `The run predicts ${m.numClasses} classes; there is no class number ${classIndex}.`);
  }
}

/** ReLU, then divided by the largest value: [0, 1]; all zeros when nothing is positive. */
function normalise(values: Float64Array): number[] {
  let max = 0;
  for (const v of values) if (v > max) max = v;
  return Array.from(values, (v) => (max > 0 && v > 0 ? v / max : 0));
}

/**
 * Grad-CAM for one image (pixels 224×224×3, 0..255). Each tap's map gives Σ_k w_k·A_k per
 * position with w_k = (1/HW)·∂logit/∂pooled_k: the position's share of the logit to first
 * order. With 'all', a coarse tap's cell is spread evenly over the finer grid's cells it
 * covers and the shares are added, so the map sums (before the ReLU) to the head's
 * linearised score across both taps; with 'last', only the last block's 7×7 map counts.
 */
export async function gradCam(m: ExplainModel, pixels: Float32Array, classIndex: number | null, camTaps: CamTaps = 'all'): Promise<{ logits: number[]; classIndex: number; size: number; grid: number[] }> {
  checkClass(m, classIndex);
  const x = tf.tensor4d(pixels, [1, MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3]);
  const { maps, pooled } = tf.tidy(() => forwardMaps(m, x));
  x.dispose();
  try {
    const logits = Array.from(await readTidy(() => headLogits(m.steps, pooled)));
    const c = classIndex ?? argmax(logits);
    const gradient = await readTidy(() => {
      const score = (p: tf.Tensor): tf.Scalar => tf.sum(tf.slice(headLogits(m.steps, p), [0, c], [1, 1]));
      return tf.grad(score)(pooled);
    });
    const values = await Promise.all(maps.map((map) => map.data()));
    const chosen = m.taps.map((_, i) => camTaps === 'all' || i === m.taps.length - 1);
    const size = Math.max(...maps.filter((_, i) => chosen[i]).map((t) => t.shape[1]));
    const total = new Float64Array(size * size);
    let offset = 0;
    m.taps.forEach((tap, i) => {
      const map = maps[i]!;
      const [, h, w, k] = map.shape;
      const widthOfTap = k * (tap.pooling === 'avg+max' ? 2 : 1);
      if (chosen[i]) {
        if (h !== w || size % h !== 0) throw new CoreError('internal', `The feature map of ${tap.layer} is ${h}×${w}, which does not tile a ${size}×${size} grid.`);
        const a = values[i]!;
        const cells = h * w;
        const share = new Float64Array(cells);
        for (let p = 0; p < cells; p++) {
          let s = 0;
          for (let ch = 0; ch < k; ch++) s += gradient[offset + ch]! * a[p * k + ch]!;
          share[p] = s / cells;
        }
        if (tap.pooling === 'avg+max') {
          // A max-pooled channel's gradient reaches only the position of its maximum.
          for (let ch = 0; ch < k; ch++) {
            let best = 0;
            for (let p = 1; p < cells; p++) if (a[p * k + ch]! > a[best * k + ch]!) best = p;
            share[best]! += gradient[offset + k + ch]! * a[best * k + ch]!;
          }
        }
        const f = size / h;
        for (let r = 0; r < size; r++) {
          for (let col = 0; col < size; col++) total[r * size + col]! += share[Math.floor(r / f) * w + Math.floor(col / f)]! / (f * f);
        }
      }
      offset += widthOfTap;
    });
    return { logits, classIndex: c, size, grid: normalise(total) };
  } finally {
    for (const t of maps) t.dispose();
    pooled.dispose();
  }
}

/** Class probabilities of images through the whole model (maps → pooled → head → softmax). */
function probabilities(m: ExplainModel, pixels: Float32Array, n: number): Promise<Float32Array> {
  return readTidy(() => {
    const { pooled } = forwardMaps(m, tf.tensor4d(pixels, [n, MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3]));
    return tf.softmax(headLogits(m.steps, pooled));
  });
}

/**
 * Occlusion sensitivity: how much the class's probability drops when a patch of the image's
 * mean colour hides each region (Zeiler & Fergus 2014). A grid cell (one stride, 28 px: an
 * 8 × 8 grid) gets the mean drop of the patches covering it; rises in probability count as no drop.
 */
export async function occlusion(m: ExplainModel, pixels: Float32Array, classIndex: number | null): Promise<{ logits: number[]; classIndex: number; size: number; grid: number[] }> {
  checkClass(m, classIndex);
  const S = MODEL_INPUT_SIZE;
  const logits = Array.from(
    await readTidy(() => {
      const { pooled } = forwardMaps(m, tf.tensor4d(pixels, [1, S, S, 3]));
      return headLogits(m.steps, pooled);
    }),
  );
  const c = classIndex ?? argmax(logits);
  const base = (await probabilities(m, pixels, 1))[c]!;
  const mean = [0, 0, 0];
  for (let i = 0; i < S * S; i++) for (let ch = 0; ch < 3; ch++) mean[ch]! += pixels[i * 3 + ch]! / (S * S);

  const positions = Math.floor((S - OCCLUSION_PATCH) / OCCLUSION_STRIDE) + 1;
  const drops = new Float64Array(positions * positions);
  const image = S * S * 3;
  for (let start = 0; start < drops.length; start += positions) {
    const n = Math.min(positions, drops.length - start);
    const batch = new Float32Array(n * image);
    for (let j = 0; j < n; j++) {
      batch.set(pixels, j * image);
      const py = Math.floor((start + j) / positions) * OCCLUSION_STRIDE;
      const px = ((start + j) % positions) * OCCLUSION_STRIDE;
      for (let y = py; y < py + OCCLUSION_PATCH; y++) {
        for (let x = px; x < px + OCCLUSION_PATCH; x++) batch.set(mean, j * image + (y * S + x) * 3);
      }
    }
    const probs = await probabilities(m, batch, n);
    for (let j = 0; j < n; j++) drops[start + j] = base - probs[j * m.numClasses + c]!;
    // Lets a cancel (worker termination) and other messages in between batches.
    await new Promise((resolve) => setImmediate(resolve));
  }

  const size = S / OCCLUSION_STRIDE;
  const grid = new Float64Array(size * size);
  const covering = (cell: number): number[] => {
    const out: number[] = [];
    for (let p = 0; p < positions; p++) {
      const from = p * OCCLUSION_STRIDE;
      if (from < (cell + 1) * OCCLUSION_STRIDE && from + OCCLUSION_PATCH > cell * OCCLUSION_STRIDE) out.push(p);
    }
    return out;
  };
  for (let r = 0; r < size; r++) {
    for (let col = 0; col < size; col++) {
      const rows = covering(r);
      const cols = covering(col);
      let sum = 0;
      for (const pr of rows) for (const pc of cols) sum += Math.max(0, drops[pr * positions + pc]!);
      grid[r * size + col] = sum / (rows.length * cols.length);
    }
  }
  return { logits, classIndex: c, size, grid: normalise(grid) };
}

/** Answers an 'explain' request inside the training worker. */
export async function explainInWorker(req: ExplainRequest): Promise<ExplainOutcome> {
  const choice = await chooseBackend();
  const started = performance.now();
  const m = await loadExplainModel(req);
  try {
    const decoded = await decodeForModel(req.file);
    const pixels = Float32Array.from(decoded);
    const loaded = performance.now();
    const result = req.method === 'gradcam' ? await gradCam(m, pixels, req.classIndex) : await occlusion(m, pixels, req.classIndex);
    return { ...result, backend: choice.detail, seconds: { load: (loaded - started) / 1000, compute: (performance.now() - loaded) / 1000 } };
  } finally {
    m.dispose();
  }
}
