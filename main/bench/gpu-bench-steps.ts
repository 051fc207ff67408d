/**
 * The measurements of `npm run bench:gpu` (gpu-bench.ts), run inside one child process per
 * backend and kernel set, since a process chooses its backend once: embeddings per second,
 * head-training seconds, and fine-tuning steps (forward + backward + Adam) through the top 2
 * blocks or all layers, with tensor and memory counts after each group of steps.
 *
 * Every tensor is read with `await t.data()`: on webgpu in Node a synchronous read throws.
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlatOptimizer } from '../core/ml/train/flat-optimizer.ts';
import { DEFAULT_TRAIN_CONFIG } from '../../shared/contract/training.ts';
import { resolveBackboneDir } from '../core/ml/backbones.ts';
import { featureModel, loadCanonicalBackbone, splitTop, type CanonicalBackbone } from '../core/ml/canonical.ts';
import { featureTaps } from '../core/ml/features.ts';
import { activateBackend } from '../core/ml/runtime.ts';
import { gaussianClusters } from '../core/ml/train/synthetic-data.ts';
import { trainClassifier } from '../core/ml/train/trainer.ts';
import { probeAdapter } from '../core/ml/webgpu.ts';

export type Measurement =
  | { kind: 'embeddings'; model: string; batch: number; batches: number }
  | { kind: 'head'; model: string }
  | { kind: 'finetune'; model: string; blocks: 'top 2' | 'all'; batch: number; warmup: number; steps: number; profile: boolean };

/** What one child process measures. */
export interface ChildPlan {
  backend: string;
  kernels: 'seedbed' | 'backend';
  /** webgpu on the software adapter (SwiftShader) is allowed. */
  software: boolean;
  measurements: Measurement[];
}

/** Memory at one moment: tensors and bytes the engine tracks, and the backend's own pool. */
export interface MemorySnapshot {
  tensors: number;
  /** Bytes of all live tensors (tf.memory().numBytes). */
  bytes: number;
  /** webgpu: bytes of GPU buffers in use and allocated (in use + the reuse pool). */
  gpuBytesInUse?: number;
  gpuBytesAllocated?: number;
  /** wasm: the size of its heap (it only grows). */
  wasmHeapBytes?: number;
  /** Other backends: the process's resident memory. */
  rssBytes?: number;
}

export interface Figures {
  /** embeddings */
  imagesPerSecond?: number;
  /** head training */
  seconds?: number;
  epochs?: number;
  stoppedEarly?: boolean;
  valAccuracy?: number | null;
  /** fine-tuning, per timed step */
  msPerStep?: number;
  /** JavaScript time until the step's kernels are enqueued (on CPU backends the kernels run inside it). */
  jsMsPerStep?: number;
  /** webgpu: GPU time of one more step (timestamp queries), null where the adapter has none. */
  gpuMsPerStep?: number | null;
  /** Kernels in one profiled step. */
  kernelsPerStep?: number;
  /** Memory before the warm-up steps and after each of the two timed groups of steps (fine-tuning), or before and after (others). */
  memory?: MemorySnapshot[];
}

export type ChildMessage =
  | { type: 'backend'; detail: string }
  | { type: 'absent'; reason: string }
  | { type: 'result'; index: number; figures: Figures }
  | { type: 'failed'; index: number; error: string };

const CLASSES = 6;
const SIZE = 224;
const log = (plan: ChildPlan, message: string): void => void process.stderr.write(`  [${plan.backend}, ${plan.kernels} kernels] ${message}\n`);

function memorySnapshot(): MemorySnapshot {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
  const snapshot: MemorySnapshot = { tensors: m.numTensors, bytes: m.numBytes };
  const backend = tf.getBackend();
  if (backend === 'webgpu') {
    snapshot.gpuBytesInUse = m.numBytesInGPU ?? 0;
    snapshot.gpuBytesAllocated = m.numBytesAllocatedInGPU ?? 0;
  } else if (backend === 'wasm') {
    const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer.byteLength;
    if (heap !== undefined) snapshot.wasmHeapBytes = heap;
    else snapshot.rssBytes = process.memoryUsage().rss;
  } else {
    snapshot.rssBytes = process.memoryUsage().rss;
  }
  return snapshot;
}

/** Random pixels in 0..255, built once per size: a batch is uploaded anew each time, as the embedding worker does. */
function randomPixels(count: number): Float32Array {
  const pixels = new Float32Array(count * SIZE * SIZE * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.random() * 255;
  return pixels;
}

async function embeddings(b: CanonicalBackbone, m: Extract<Measurement, { kind: 'embeddings' }>): Promise<Figures> {
  const model = featureModel(b, featureTaps(b));
  try {
    const pixels = randomPixels(m.batch);
    const embed = async (): Promise<void> => {
      const out = tf.tidy(() => model.predict(tf.tensor4d(pixels, [m.batch, SIZE, SIZE, 3])) as tf.Tensor);
      try {
        await out.data();
      } finally {
        out.dispose();
      }
    };
    await embed(); // warm-up: shaders compiled, wasm buffers sized
    const before = memorySnapshot();
    const start = performance.now();
    for (let i = 0; i < m.batches; i++) await embed();
    const seconds = (performance.now() - start) / 1000;
    return { imagesPerSecond: (m.batch * m.batches) / seconds, memory: [before, memorySnapshot()] };
  } finally {
    model.dispose();
  }
}

/** The default head (DEFAULT_TRAIN_CONFIG, health measured) on learnable Gaussian clusters as wide as the backbone's embeddings. */
async function headTraining(b: CanonicalBackbone): Promise<Figures> {
  const features = featureModel(b, featureTaps(b));
  const dims = features.outputs[0]!.shape[1] as number;
  features.dispose();
  const train = gaussianClusters({ n: 2000, classes: CLASSES, dims, seed: 1, separation: 0.3 });
  const val = gaussianClusters({ n: 400, classes: CLASSES, dims, seed: 2, separation: 0.3 });
  const before = memorySnapshot();
  const start = performance.now();
  const result = await trainClassifier({ train, val, numClasses: CLASSES, config: DEFAULT_TRAIN_CONFIG, phase: 'head', health: true });
  const seconds = (performance.now() - start) / 1000;
  result.head.dispose();
  if (result.error) throw new Error(result.error);
  return {
    seconds,
    epochs: result.epochs.length,
    stoppedEarly: result.stoppedEarly,
    valAccuracy: result.epochs[result.epochs.length - 1]?.valAccuracy ?? null,
    memory: [before, memorySnapshot()],
  };
}

/** Kernels one step runs (a kernel built from other kernels counts with them). */
async function countKernels(step: () => tf.Scalar): Promise<number> {
  const profile = await tf.profile(step);
  const loss = profile.result as tf.Scalar;
  await loss.data();
  loss.dispose();
  return profile.kernels.length;
}

/** GPU time of one step: the sum of its shaders' times from timestamp queries; null where the adapter has none. */
async function gpuMilliseconds(step: () => tf.Scalar): Promise<number | null> {
  if ((tf.backend() as unknown as { supportTimestampQuery?: boolean }).supportTimestampQuery !== true) return null;
  let loss: tf.Scalar | null = null;
  const timing = await tf.time(() => void (loss = step()));
  await loss!.data();
  loss!.dispose();
  return typeof timing.kernelMs === 'number' ? timing.kernelMs : null;
}

/**
 * Fine-tuning steps as the training worker runs them: the backbone above the cut (splitTop's
 * `upper`) + a softmax head on its pooled last feature map, trained with Adam on a random
 * activation at the cut (the trunk's Adam as one flat update, as the trainer does). Warm-up, then two timed groups of steps with memory read after each,
 * then one profiled step for the kernel count and, on webgpu, one timed for GPU time.
 */
async function fineTune(b: CanonicalBackbone, m: Extract<Measurement, { kind: 'finetune' }>): Promise<Figures> {
  const blocks = m.blocks === 'all' ? b.blockEnds.length : 2;
  const { lower, upper } = splitTop(b, blocks);
  const cutShape = (lower.outputs[0]!.shape as number[]).slice(1);
  const width = (upper.outputs[0]!.shape as number[])[3]!;
  // Every layer above the cut trains, as in the training worker.
  for (const layer of upper.layers) layer.trainable = true;
  const kernel = tf.variable(tf.randomNormal([width, CLASSES], 0, 1 / Math.sqrt(width)), true);
  const bias = tf.variable(tf.zeros([CLASSES]), true);
  const trunkVariables = upper.trainableWeights.map((w) => w.read() as tf.Variable);
  const variables = [...trunkVariables, kernel, bias];
  // As the trainer does: the head's Adam per variable, the trunk's as one flat vector.
  const headOptimizer: tf.Optimizer = tf.train.adam(1e-4);
  const trunkOptimizer: tf.Optimizer = tf.train.adam(1e-4);
  const trunkUpdate = new FlatOptimizer(trunkOptimizer, trunkVariables);
  const headNames = new Set([kernel.name, bias.name]);
  const x = tf.randomUniform([m.batch, ...cutShape], 0, 6);
  const labels = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: m.batch }, (_, i) => i % CLASSES), 'int32'), CLASSES));
  const step = (): tf.Scalar =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const map = upper.apply(x, { training: false }) as tf.Tensor4D;
        const logits = tf.add(tf.matMul(tf.mean(map, [1, 2]), kernel), bias);
        return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
      }, variables);
      const head: tf.NamedTensorMap = {};
      const trunk: tf.NamedTensorMap = {};
      for (const [name, g] of Object.entries(grads)) (headNames.has(name) ? head : trunk)[name] = g;
      headOptimizer.applyGradients(head);
      trunkUpdate.applyGradients(trunk);
      return value;
    });
  const timedStep = async (): Promise<[number, number]> => {
    const start = performance.now();
    const loss = step();
    const enqueued = performance.now();
    try {
      const [value] = await loss.data();
      if (!Number.isFinite(value)) throw new Error(`the loss became ${value}`);
    } finally {
      loss.dispose();
    }
    return [performance.now() - start, enqueued - start];
  };
  try {
    const memory = [memorySnapshot()];
    for (let i = 0; i < m.warmup; i++) await timedStep();
    let total = 0;
    let js = 0;
    for (let group = 0; group < 2; group++) {
      for (let i = 0; i < m.steps; i++) {
        const [ms, jsMs] = await timedStep();
        total += ms;
        js += jsMs;
      }
      memory.push(memorySnapshot());
    }
    const steps = 2 * m.steps;
    return {
      imagesPerSecond: (m.batch * steps * 1000) / total,
      msPerStep: total / steps,
      jsMsPerStep: js / steps,
      ...(m.profile ? { kernelsPerStep: await countKernels(step) } : {}),
      ...(tf.getBackend() === 'webgpu' ? { gpuMsPerStep: await gpuMilliseconds(step) } : {}),
      memory,
    };
  } finally {
    tf.dispose([x, labels, kernel, bias]);
    trunkUpdate.dispose();
    headOptimizer.dispose();
    trunkOptimizer.dispose();
    lower.dispose();
    upper.dispose();
  }
}

/** Sends a message to the parent and waits until it is written, so none is lost if the process dies next. */
function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('gpu-bench-steps runs in a child process started by gpu-bench.ts.'));
    process.send(message, undefined, {}, (err) => (err ? reject(err) : resolve()));
  });
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

/** Runs a plan in this (child) process, sending each result to the parent as it is measured. */
export async function runChild(plan: ChildPlan): Promise<void> {
  if (plan.backend === 'webgpu') {
    const probe = await probeAdapter();
    if (!probe.ok) return send({ type: 'absent', reason: `${probe.reason}; ${probe.fix}` });
    if (probe.summary.fallback && !plan.software) return send({ type: 'absent', reason: `only a software adapter (${probe.summary.name}); measure it with --software-gpu` });
  }
  let detail: string;
  try {
    detail = (await activateBackend({ SEEDBED_BACKEND: plan.backend })).detail.replace(/ \(forced by SEEDBED_BACKEND\)$/, '');
  } catch (err) {
    return send({ type: 'absent', reason: errorText(err) });
  }
  await send({ type: 'backend', detail });
  const backbones = new Map<string, CanonicalBackbone>();
  const backbone = async (id: string): Promise<CanonicalBackbone> => {
    let b = backbones.get(id);
    if (!b) {
      const dir = resolveBackboneDir(id, { env: process.env });
      if (!dir) throw new Error(`${id} is not in SEEDBED_MODELS_DIR (${process.env.SEEDBED_MODELS_DIR ?? 'unset'}); point it at a folder holding ${id}/model.json`);
      b = await loadCanonicalBackbone(id, dir);
      backbones.set(id, b);
    }
    return b;
  };
  for (const [index, m] of plan.measurements.entries()) {
    log(plan, `${m.kind}${m.kind === 'finetune' ? ` ${m.blocks}` : ''}, ${m.model}${'batch' in m ? `, batch ${m.batch}` : ''}…`);
    const start = performance.now();
    try {
      const b = await backbone(m.model);
      const figures = m.kind === 'embeddings' ? await embeddings(b, m) : m.kind === 'head' ? await headTraining(b) : await fineTune(b, m);
      await send({ type: 'result', index, figures });
    } catch (err) {
      await send({ type: 'failed', index, error: errorText(err) });
    }
    log(plan, `  took ${((performance.now() - start) / 1000).toFixed(1)} s`);
  }
  for (const b of backbones.values()) b.dispose();
}
