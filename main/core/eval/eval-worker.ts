/**
 * The heavy halves of robustness and cross-validation, run in the training worker (never on
 * the main thread): FGSM through a run's whole model, and heads trained fold by fold with a
 * run's config. Arrays in, numbers out.
 */
import nodePath from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { TrainConfig } from '../../../shared/contract/index.ts';
import { loadLayersModelFrom } from '../ml/model-files.ts';
import { decodeBatch, MODEL_INPUT_SIZE } from '../ml/pixels.ts';
import { predictProbabilities, trainClassifier } from '../ml/train/trainer.ts';

export interface FgsmRequest {
  type: 'fgsm';
  /** The run's folder; its model/ sub-folder is the whole classifier (pixels 0..255 → probabilities). */
  runDir: string;
  files: string[];
  /** True class index per file. */
  labels: Int32Array<ArrayBuffer>;
  /** Perturbation sizes in 0–255 pixel units. */
  epsilons: number[];
}

export interface FgsmOutcome {
  /** Images that could be read (the accuracies are over these). */
  count: number;
  /** Accuracy of the whole model on the unperturbed images (agrees with the head on cached embeddings). */
  clean: number;
  /** Accuracy at each ε, in the request's order. */
  accuracy: number[];
  errors: (string | null)[];
  backend: string;
}

export interface CrossValidationRequest {
  type: 'crossval';
  config: TrainConfig;
  numClasses: number;
  /** Embeddings of every image taking part, n × dims row-major, with their classes. */
  x: Float32Array<ArrayBuffer>;
  dims: number;
  y: Int32Array<ArrayBuffer>;
  /** Row indices per fold: what trains, what decides when to stop, what is held out. */
  folds: { train: number[]; val: number[]; test: number[] }[];
}

export interface CrossValidationOutcome {
  /** Per fold, probabilities of its held-out rows (in `test` order), test.length × numClasses. */
  heldOut: Float32Array[];
  /** Per fold, why training stopped early on a numerical problem (the last good weights were kept), or null. */
  warnings: (string | null)[];
  backend: string;
}

/** FGSM images per step: the backward pass through the backbone holds every activation of the batch. */
const FGSM_BATCH = 8;

/**
 * Fast gradient sign (Goodfellow et al. 2015): each image moved by ε in the direction that
 * raises the loss of its true class most, per pixel, clipped to 0..255; one gradient per image
 * serves every ε.
 */
export async function fgsmAccuracy(req: FgsmRequest, onBatch: (done: number, total: number) => void): Promise<Omit<FgsmOutcome, 'backend'>> {
  const model = await loadLayersModelFrom(nodePath.join(req.runDir, 'model'));
  const k = model.outputs[0]!.shape[1] as number;
  const errors: (string | null)[] = [];
  let count = 0;
  let clean = 0;
  const right = req.epsilons.map(() => 0);
  try {
    for (let i = 0; i < req.files.length; i += FGSM_BATCH) {
      const paths = req.files.slice(i, i + FGSM_BATCH);
      const decoded = await decodeBatch(paths);
      errors.push(...decoded.errors);
      const readable = decoded.errors.flatMap((e, j) => (e === null ? [j] : []));
      if (readable.length) {
        const size = MODEL_INPUT_SIZE * MODEL_INPUT_SIZE * 3;
        const pixels = new Float32Array(readable.length * size);
        readable.forEach((j, r) => pixels.set(decoded.pixels.subarray(j * size, (j + 1) * size), r * size));
        const labels = Int32Array.from(readable, (j) => req.labels[i + j]!);
        const correct = tf.tidy(() => {
          const x = tf.tensor4d(pixels, [readable.length, MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3]);
          const truth = tf.tensor1d(labels, 'int32');
          const oneHot = tf.oneHot(truth, k);
          // Summed, not averaged: only the sign of each image's own gradient matters.
          const loss = (input: tf.Tensor) => {
            const p = model.apply(input, { training: false }) as tf.Tensor2D;
            return tf.neg(tf.sum(tf.mul(oneHot, tf.log(tf.clipByValue(p, 1e-12, 1)))));
          };
          const direction = tf.sign(tf.grad(loss)(x));
          const hits = (input: tf.Tensor) => tf.sum(tf.cast(tf.equal(tf.argMax(model.apply(input, { training: false }) as tf.Tensor2D, 1), truth), 'int32'));
          return tf.stack([hits(x), ...req.epsilons.map((e) => hits(tf.clipByValue(tf.add(x, tf.mul(direction, e)), 0, 255)))]);
        });
        const counts = await correct.data();
        correct.dispose();
        count += readable.length;
        clean += counts[0]!;
        req.epsilons.forEach((_, e) => (right[e]! += counts[e + 1]!));
      }
      onBatch(Math.min(req.files.length, i + FGSM_BATCH), req.files.length);
    }
  } finally {
    model.dispose();
  }
  return { count, clean: count ? clean / count : 0, accuracy: right.map((r) => (count ? r / count : 0)), errors };
}

function rowsOf(x: Float32Array, dims: number, y: Int32Array, rows: readonly number[]) {
  const out = new Float32Array(rows.length * dims);
  rows.forEach((r, i) => out.set(x.subarray(r * dims, (r + 1) * dims), i * dims));
  return { x: out, n: rows.length, shape: [dims], y: Int32Array.from(rows, (r) => y[r]!) };
}

/** One head per fold, trained with the run's config on that fold's training rows; its held-out rows classified. */
export async function crossValidate(req: CrossValidationRequest, onFold: (done: number, total: number) => void): Promise<Omit<CrossValidationOutcome, 'backend'>> {
  const heldOut: Float32Array[] = [];
  const warnings: (string | null)[] = [];
  for (const [f, fold] of req.folds.entries()) {
    const result = await trainClassifier({
      train: rowsOf(req.x, req.dims, req.y, fold.train),
      val: fold.val.length ? rowsOf(req.x, req.dims, req.y, fold.val) : null,
      numClasses: req.numClasses,
      config: req.config,
      phase: 'head',
    });
    try {
      if (result.error && !result.epochs.length) throw new Error(`Fold ${f + 1}: ${result.error}`);
      heldOut.push(new Float32Array(await predictProbabilities(result.head, rowsOf(req.x, req.dims, req.y, fold.test))));
      warnings.push(result.error ?? null);
    } finally {
      result.head.dispose();
    }
    onFold(f + 1, req.folds.length);
  }
  return { heldOut, warnings };
}
