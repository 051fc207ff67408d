/**
 * The training engine: trains a classification head (optionally with a trainable trunk
 * below it) on examples already in memory. Pure computation: no database, no files; the
 * caller stores the epochs it is told about and saves the head it gets back.
 *
 * A custom loop rather than model.fit: fit cannot seed its shuffling, cannot be stopped
 * between batches, and its Dropout layers reuse one mask for every batch when seeded.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { EpochHealth, EpochMetrics, RunPhase, TrainConfig } from '../../../../shared/contract/training.ts';
import { CoreError } from '../../errors.ts';
import { checkGpu, gpuFailure } from '../webgpu.ts';
import { stoppedIn } from './diagnosis.ts';
import { FlatOptimizer } from './flat-optimizer.ts';
import { SeededRandom } from './prng.ts';

/** Examples in memory: row-major float32, one row of prod(shape) values per example. */
export interface Examples {
  x: Float32Array;
  n: number;
  /** One example's shape, e.g. [768] or [7, 7, 768]. */
  shape: number[];
  /** Class index per example. */
  y: Int32Array;
}

export interface TrainOptions {
  train: Examples;
  val: Examples | null;
  numClasses: number;
  config: TrainConfig;
  phase: RunPhase;
  /**
   * Optional trainable feature extractor (fine-tuning): maps a batch of examples to features
   * [b, D]; its trainable weights are trained too, with config.fineTuneLearningRate. It runs
   * in inference mode (batch-norm statistics frozen), as small batches would spoil them.
   */
  trunk?: tfl.LayersModel;
  /** Phase 2 continues from a phase-1 head instead of a fresh one; that head is left unchanged. */
  initialHead?: tfl.LayersModel;
  /**
   * With a trunk: what it outputs before any fine-tuning, on the training set (the cached
   * embeddings). Their statistics standardise the trunk's output as phase 1 standardised the
   * embeddings, so dropout and the head see the same scale in both phases.
   */
  trunkFeatures?: Examples;
  /** Called after each epoch and awaited, with the best epoch so far. */
  onEpoch?: (m: EpochMetrics, best: number | null) => void | Promise<void>;
  /** Checked before every batch; true = stop now (the caller cancelled). */
  shouldStop?: () => boolean;
  /**
   * Measure gradient norms, update ratios, dead ReLUs and non-finite values every epoch
   * (EpochMetrics.health); default true. A search's trials may turn it off.
   */
  health?: boolean;
}

export interface TrainResult {
  /** Raw features → class probabilities; a plain Dense/Dropout model. The caller disposes it. */
  head: tfl.LayersModel;
  epochs: EpochMetrics[];
  /** The epoch (1-based, this phase) with the lowest validation loss; the last one without validation data. */
  bestEpoch: number | null;
  stoppedEarly: boolean;
  cancelled: boolean;
  /** Why training stopped before its planned end for a reason other than early stopping or a cancel. */
  error?: string;
  /** When `error` is the non-finite guard: the epoch (1-based, this phase) that blew up and what blew up; that epoch is not in `epochs`. */
  nonFinite?: { epoch: number; what: 'loss' | 'validation loss' | 'weights' };
}

const HIDDEN_ACTIVATIONS: Record<string, (x: tf.Tensor) => tf.Tensor> = {
  relu: (x) => tf.relu(x),
  relu6: (x) => tf.relu6(x),
  elu: (x) => tf.elu(x),
  tanh: (x) => tf.tanh(x),
  sigmoid: (x) => tf.sigmoid(x),
  linear: (x) => x,
};

/** The plateau and cosine schedules never go below this fraction of the starting rate. */
const MIN_LR_FRACTION = 0.01;
/** Yield to the event loop at least this often, so that a cancel message can arrive mid-epoch. */
const YIELD_EVERY_MS = 50;
const EVAL_BATCH = 256;

/** Slope below zero of the leaky_relu hidden activation. */
const LEAKY_SLOPE = 0.1;
/** Rows of the fixed validation batch that dead ReLUs are counted on (fewer with a trunk, which is costly to run). */
const PROBE_ROWS = 256;
const PROBE_ROWS_WITH_TRUNK = 32;

/** The head's layers as the training loop runs them: the same variables the model holds. */
export type HeadStep =
  | { kind: 'flatten' }
  | { kind: 'dropout'; rate: number }
  | { kind: 'leaky_relu'; alpha: number }
  | { kind: 'dense'; kernel: tf.Variable; bias: tf.Variable | null; activation: string };

/**
 * Class weights per class: 'balanced' = n / (k · count_c) over the k classes present, so that
 * they average 1 per training example. A class without training examples keeps weight 1 (it
 * still counts in the validation loss).
 */
export function classWeightsFor(y: Int32Array, numClasses: number, mode: TrainConfig['classWeights']): Float32Array {
  const weights = new Float32Array(numClasses).fill(1);
  if (mode === 'none') return weights;
  const counts = new Array<number>(numClasses).fill(0);
  for (const c of y) counts[c]!++;
  const present = counts.filter((c) => c > 0).length;
  for (let c = 0; c < numClasses; c++) if (counts[c]! > 0) weights[c] = y.length / (present * counts[c]!);
  return weights;
}

/**
 * Per-example cross-entropy of log-probabilities against one-hot targets smoothed by
 * `labelSmoothing` (ε): target = (1 − ε)·onehot + ε/k.
 */
export function smoothedCrossEntropy(logProbs: tf.Tensor2D, labels: tf.Tensor1D, labelSmoothing: number): tf.Tensor1D {
  return tf.tidy(() => {
    const k = logProbs.shape[1];
    const onehot = tf.cast(tf.oneHot(tf.cast(labels, 'int32'), k), 'float32');
    const targets = labelSmoothing > 0 ? tf.add(tf.mul(onehot, 1 - labelSmoothing), labelSmoothing / k) : onehot;
    return tf.neg(tf.sum(tf.mul(targets, logProbs), 1)) as tf.Tensor1D;
  });
}

/** Class probabilities [n × classes] of a head on raw examples, batch by batch. */
export async function predictProbabilities(head: tfl.LayersModel, ex: Examples, batchSize = EVAL_BATCH): Promise<Float32Array> {
  checkExamples(ex, 'prediction');
  const rowSize = ex.shape.reduce((a, b) => a * b, 1);
  const outShape = head.outputs[0]?.shape;
  const k = outShape?.[outShape.length - 1];
  if (typeof k !== 'number') throw new CoreError('internal', 'The classifier head has no output layer with a known number of classes.');
  const out = new Float32Array(ex.n * k);
  for (let start = 0; start < ex.n; start += batchSize) {
    const b = Math.min(batchSize, ex.n - start);
    const probs = tf.tidy(() => head.predict(tf.tensor(ex.x.subarray(start * rowSize, (start + b) * rowSize), [b, ...ex.shape])) as tf.Tensor);
    out.set((await probs.data()) as Float32Array, start * k);
    probs.dispose();
  }
  return out;
}

/**
 * Trains a classification head (and the trunk's trainable weights when one is given) with
 * the config's optimizer, schedule, regularisation and early stopping, reproducibly for a
 * given seed, data and backend.
 *
 * Reported losses (train and validation alike, so that their curves compare) are the
 * objective without its L2 term: label-smoothed cross-entropy, each example weighted by its
 * class weight (weights from the training set), as a weighted mean. Train loss and accuracy
 * are measured during the epoch, dropout on; validation ones after it, dropout off.
 *
 * Without a trunk, inputs are standardised with the training set's per-feature mean and
 * standard deviation while training; the standardisation is then folded into the first
 * Dense layer so that the returned head takes raw features.
 *
 * Phase 'head' runs config.epochs at config.learningRate; phase 'finetune' runs
 * config.fineTuneEpochs with head and trunk at config.fineTuneLearningRate. The schedule
 * scales both.
 */
export async function trainClassifier(o: TrainOptions): Promise<TrainResult> {
  const { config, numClasses, trunk } = o;
  // An empty validation set is no validation set: nothing to stop early on.
  const val = o.val && o.val.n > 0 ? o.val : null;
  checkExamples(o.train, 'training');
  if (o.train.n === 0) throw new CoreError('invalid_input', 'There are no training images: label some images and put them in the training split.');
  if (val) checkExamples(val, 'validation');
  if (!Number.isInteger(numClasses) || numClasses < 2) throw new CoreError('invalid_input', `A classifier needs at least 2 classes; this one has ${numClasses}.`);
  for (const ex of val ? [o.train, val] : [o.train]) {
    for (const c of ex.y) if (!(c >= 0 && c < numClasses)) throw new CoreError('internal', `An example has class index ${c}, outside the ${numClasses} classes.`);
  }
  if (val && val.shape.join() !== o.train.shape.join()) {
    throw new CoreError('internal', `Validation examples have shape [${val.shape}] but training examples [${o.train.shape}].`);
  }

  const rng = new SeededRandom(config.seed);
  const plannedEpochs = o.phase === 'finetune' ? config.fineTuneEpochs : config.epochs;
  const baseLearningRate = o.phase === 'finetune' ? config.fineTuneLearningRate : config.learningRate;
  const featureShape = trunk ? trunkOutputShape(trunk) : o.train.shape;

  const head = o.initialHead ? cloneHead(o.initialHead) : buildHead(featureShape, numClasses, config, rng);
  const steps = headSteps(head, numClasses);
  const headVariables = steps.flatMap((s) => (s.kind === 'dense' ? (s.bias ? [s.kernel, s.bias] : [s.kernel]) : []));
  const trunkVariables = trunk ? trunk.trainableWeights.map((w) => w.read() as tf.Variable) : [];
  const allVariables = [...headVariables, ...trunkVariables];
  const headNames = new Set(headVariables.map((v) => v.name));
  const measureHealth = o.health !== false;
  const denseSteps = steps.filter((s): s is Extract<HeadStep, { kind: 'dense' }> => s.kind === 'dense');
  const layerNames = denseSteps.map((_, i) => (i === denseSteps.length - 1 ? 'output' : `hidden${i + 1}`));
  const kernelIndex = denseSteps.map((s) => allVariables.indexOf(s.kernel));
  const clipNorm = config.clipNorm && config.clipNorm > 0 ? config.clipNorm : 0;

  // Standardise only raw features: a trunk's output is what the head will see at prediction.
  const standardisation = trunk ? (o.trunkFeatures ? featureStatistics(o.trunkFeatures) : null) : featureStatistics(o.train);
  const trainX = standardisation && !trunk ? standardise(o.train.x, standardisation) : o.train.x;
  const valX = val ? (standardisation && !trunk ? standardise(val.x, standardisation) : val.x) : null;
  const trunkStats = trunk && standardisation ? { mean: tf.tensor1d(standardisation.mean), std: tf.tensor1d(standardisation.std) } : null;
  const runTrunk = trunk
    ? (x: tf.Tensor): tf.Tensor => {
        const f = trunk.apply(x, { training: false }) as tf.Tensor;
        return trunkStats ? tf.div(tf.sub(f, trunkStats.mean), trunkStats.std) : f;
      }
    : undefined;
  // A phase-1 head takes raw features: make it take standardised ones again (undone at the end).
  if (standardisation && o.initialHead) unfoldStandardisation(steps, standardisation);

  const classWeights = classWeightsFor(o.train.y, numClasses, config.classWeights);
  const headOptimizer = createOptimizer(config.optimizer, baseLearningRate);
  const trunkOptimizer = trunk && trunkVariables.length > 0 ? createOptimizer(config.optimizer, config.fineTuneLearningRate) : null;
  // The trunk has dozens of weight tensors: one flat update instead of ~14 kernels each.
  const trunkUpdate = trunkOptimizer ? new FlatOptimizer(trunkOptimizer, trunkVariables) : null;

  const epochs: EpochMetrics[] = [];
  let bestEpoch: number | null = null;
  let bestLoss = Infinity;
  let epochsSinceBest = 0;
  let plateauBest = Infinity;
  let plateauWait = 0;
  let plateauFactor = 1;
  const plateauPatience = Math.max(2, Math.floor(config.patience / 2));
  let stoppedEarly = false;
  let cancelled = false;
  let error: string | undefined;
  // Weights to go back to: after the last finite epoch (a NaN loss) and the best one (restoreBest).
  let lastGood: tf.Tensor[] | null = snapshot(allVariables);
  let best: tf.Tensor[] | null = null;
  let lastYield = performance.now();

  const rowSize = o.train.shape.reduce((a, b) => a * b, 1);
  const order = Int32Array.from({ length: o.train.n }, (_, i) => i);
  // Gradient norms are read on the epoch's last full batch: a short remainder batch would be noisier.
  const fullBatches = Math.floor(o.train.n / config.batchSize);
  const measuredBatchStart = fullBatches > 0 ? (fullBatches - 1) * config.batchSize : 0;
  // Dead ReLUs are counted on the same rows every epoch: the first ones of the validation set (or the training set without one).
  const probe = measureHealth && denseSteps.some((s, i) => i < denseSteps.length - 1 && (s.activation === 'relu' || s.activation === 'relu6'))
    ? probeBatch(valX && val ? { x: valX, n: val.n } : { x: trainX, n: o.train.n }, rowSize, trunk ? PROBE_ROWS_WITH_TRUNK : PROBE_ROWS)
    : null;
  let nonFinite: TrainResult['nonFinite'];

  try {
    epochLoop: for (let epoch = 1; epoch <= plannedEpochs; epoch++) {
      const started = performance.now();
      const factor = config.schedule === 'cosine' ? cosineFactor(epoch, plannedEpochs) : config.schedule === 'plateau' ? plateauFactor : 1;
      const learningRate = baseLearningRate * factor;
      setLearningRate(headOptimizer, learningRate);
      if (trunkOptimizer) setLearningRate(trunkOptimizer, config.fineTuneLearningRate * factor);

      rng.shuffle(order);
      let gradNorms: number[] | null = null;
      let lossSum = 0;
      let weightSum = 0;
      let correct = 0;
      // A step's results are read while the next step is queued: reading waits for the device
      // (a GPU) to finish, and a synchronous read would stop both it and this thread. A step
      // with an infinite loss has then already been applied, and so has the one after it; the
      // weights go back to the last good (or best) snapshot all the same.
      let pending: PendingStep | null = null;
      let failed = false;
      const settle = async (step: PendingStep): Promise<void> => {
        const [objective, batchLoss, batchCorrect] = await Promise.all([step.objective.data(), step.loss.data(), step.correct.data()]);
        const norms = step.norms ? Array.from(await step.norms.data()) : null;
        disposeStep(step);
        if (failed) return;
        if (!Number.isFinite(objective[0]!) || !Number.isFinite(batchLoss[0]!)) {
          failed = true;
          return;
        }
        if (norms) gradNorms = norms;
        lossSum += batchLoss[0]!;
        weightSum += step.weightSum;
        correct += batchCorrect[0]!;
      };
      for (let start = 0; start < o.train.n; start += config.batchSize) {
        if (performance.now() - lastYield > YIELD_EVERY_MS) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          lastYield = performance.now();
        }
        if (o.shouldStop?.()) {
          cancelled = true;
          break;
        }
        const b = Math.min(config.batchSize, o.train.n - start);
        const batchX = new Float32Array(b * rowSize);
        const batchY = new Int32Array(b);
        const batchW = new Float32Array(b);
        for (let i = 0; i < b; i++) {
          const row = order[start + i]!;
          batchX.set(trainX.subarray(row * rowSize, (row + 1) * rowSize), i * rowSize);
          batchY[i] = o.train.y[row]!;
          batchW[i] = classWeights[batchY[i]!]!;
        }
        const dropoutSeeds = steps.map((s) => (s.kind === 'dropout' ? rng.nextSeed() : 0));
        const measure = measureHealth && start === measuredBatchStart;
        let queued: PendingStep | null = null;
        tf.tidy(() => {
          const x = tf.tensor(batchX, [b, ...o.train.shape]);
          const y = tf.tensor1d(batchY, 'int32');
          const w = tf.tensor1d(batchW);
          const sideResults: tf.Tensor[] = [];
          const { value, grads } = tf.variableGrads(() => {
            const features = runTrunk ? runTrunk(x) : x;
            const logProbs = forward(steps, features, dropoutSeeds, trunk !== undefined);
            const weighted = tf.mul(smoothedCrossEntropy(logProbs, y, config.labelSmoothing), w);
            // Side results would die with the gradient scope: keep them, dispose them when read.
            sideResults.push(tf.keep(tf.sum(weighted)), tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logProbs, 1), y), 'float32'))));
            return tf.add(tf.mean(weighted), l2Penalty(steps, config.l2)) as tf.Scalar;
          }, allVariables);
          const norms = measure ? tf.keep(tf.stack(denseSteps.map((s) => tf.norm(grads[s.kernel.name]!)))) : null;
          const clipped = clipNorm > 0 ? clipByGlobalNorm(grads, clipNorm) : grads;
          const headGrads: tf.NamedTensorMap = {};
          const trunkGrads: tf.NamedTensorMap = {};
          for (const [name, g] of Object.entries(clipped)) (headNames.has(name) ? headGrads : trunkGrads)[name] = g;
          headOptimizer.applyGradients(headGrads);
          if (trunkUpdate && Object.keys(trunkGrads).length > 0) trunkUpdate.applyGradients(trunkGrads);
          queued = { objective: tf.keep(value), loss: sideResults[0]!, correct: sideResults[1]!, norms, weightSum: batchW.reduce((a, v) => a + v, 0) };
        });
        if (gpuFailure() !== null) {
          for (const step of [queued as PendingStep | null, pending]) if (step) disposeStep(step);
          checkGpu('training');
        }
        if (pending) await settle(pending);
        pending = queued as PendingStep | null;
        if (failed) break;
      }
      if (pending) await settle(pending);
      checkGpu('training');
      if (cancelled) break epochLoop;
      if (failed) {
        nonFinite = { epoch, what: 'loss' };
        const kept = config.restoreBest && best ? `from the best epoch (${bestEpoch})` : epochs.length > 0 ? `from epoch ${epochs.length}` : 'from before training';
        error =
          `${stoppedIn(epoch)}the loss became infinite or not a number, which usually means the learning rate (${rate(learningRate)}) is too high for this data. ` +
          `The model keeps its weights ${kept}. Try a learning rate 10 times lower${config.optimizer === 'adam' ? '' : ', or the Adam optimizer'}.`;
        restore(allVariables, config.restoreBest && best ? best : lastGood!);
        break epochLoop;
      }

      const trainLoss = weightSum > 0 ? lossSum / weightSum : 0;
      const valStats = val && valX ? await evaluateSplit(steps, runTrunk, valX, val, classWeights, config.labelSmoothing) : null;
      if (valStats && !Number.isFinite(valStats.loss)) {
        nonFinite = { epoch, what: 'validation loss' };
        error =
          `${stoppedIn(epoch)}the validation loss became infinite or not a number, which usually means the learning rate (${rate(learningRate)}) is too high. ` +
          `Try a learning rate 10 times lower.`;
        restore(allVariables, config.restoreBest && best ? best : lastGood!);
        break;
      }
      let health: EpochHealth | undefined;
      if (measureHealth) {
        const updates = await updateRatios(denseSteps, kernelIndex.map((i) => lastGood![i]!), headVariables);
        if (!updates.weightsFinite) {
          // The loss can stay finite a while after a weight has overflowed (without validation data nothing else notices).
          nonFinite = { epoch, what: 'weights' };
          const kept = config.restoreBest && best ? `from the best epoch (${bestEpoch})` : epochs.length > 0 ? `from epoch ${epochs.length}` : 'from before training';
          error =
            `${stoppedIn(epoch)}some of the model's weights became infinite or not a number, which usually means the learning rate (${rate(learningRate)}) is too high for this data. ` +
            `The model keeps its weights ${kept}. Try a learning rate 10 times lower, or gradient clipping.`;
          restore(allVariables, config.restoreBest && best ? best : lastGood!);
          break;
        }
        const deadRelu = probe ? await deadReluShare(steps, runTrunk, probe, o.train.shape) : null;
        const grad = Object.fromEntries(layerNames.map((name, i) => [name, gradNorms?.[i] ?? NaN]));
        const ratio = Object.fromEntries(layerNames.map((name, i) => [name, updates.ratios[i]!]));
        health = {
          gradNorms: grad,
          updateRatios: ratio,
          deadRelu,
          nonFinite: [...Object.values(grad), ...Object.values(ratio)].some((v) => !Number.isFinite(v)) || (deadRelu !== null && !Number.isFinite(deadRelu)),
        };
      }
      tf.dispose(lastGood!);
      lastGood = snapshot(allVariables);
      if (valStats === null || valStats.loss < bestLoss) {
        bestLoss = valStats?.loss ?? bestLoss;
        bestEpoch = epoch;
        epochsSinceBest = 0;
        if (valStats && config.restoreBest) {
          if (best) tf.dispose(best);
          best = snapshot(allVariables);
        }
      } else {
        epochsSinceBest++;
      }
      const monitored = valStats?.loss ?? trainLoss;
      if (monitored < plateauBest) {
        plateauBest = monitored;
        plateauWait = 0;
      } else if (++plateauWait >= plateauPatience) {
        plateauFactor = Math.max(plateauFactor / 2, MIN_LR_FRACTION);
        plateauWait = 0;
      }

      const metrics: EpochMetrics = {
        phase: o.phase,
        epoch,
        trainLoss,
        trainAccuracy: correct / o.train.n,
        valLoss: valStats?.loss ?? null,
        valAccuracy: valStats?.accuracy ?? null,
        learningRate,
        seconds: (performance.now() - started) / 1000,
      };
      if (health) metrics.health = health;
      epochs.push(metrics);
      await o.onEpoch?.(metrics, bestEpoch);
      lastYield = performance.now();
      if (valStats && config.patience > 0 && epochsSinceBest >= config.patience && epoch < plannedEpochs) {
        stoppedEarly = true;
        break;
      }
    }

    if (config.restoreBest && best && bestEpoch !== null && bestEpoch !== epochs.length && error === undefined) restore(allVariables, best);
    if (standardisation) await foldStandardisation(steps, standardisation);
  } catch (err) {
    head.dispose();
    throw err;
  } finally {
    if (lastGood) tf.dispose(lastGood);
    if (trunkStats) tf.dispose([trunkStats.mean, trunkStats.std]);
    if (best) tf.dispose(best);
    disposeOptimizer(headOptimizer);
    trunkUpdate?.dispose();
    if (trunkOptimizer) disposeOptimizer(trunkOptimizer);
  }

  const result: TrainResult = { head, epochs, bestEpoch, stoppedEarly, cancelled };
  if (error !== undefined) result.error = error;
  if (error !== undefined && nonFinite) result.nonFinite = nonFinite;
  return result;
}

/** One queued training step's results, read once the device has computed them. */
interface PendingStep {
  objective: tf.Tensor;
  loss: tf.Tensor;
  correct: tf.Tensor;
  /** Per-layer gradient norms, on the one batch per epoch they are measured on. */
  norms: tf.Tensor | null;
  weightSum: number;
}

function disposeStep(step: PendingStep): void {
  tf.dispose([step.objective, step.loss, step.correct, ...(step.norms ? [step.norms] : [])]);
}

// ---------- the head ----------

/** A fresh head: [dropout → hidden Dense (relu, He init)] → dropout → softmax Dense, seeded. */
function buildHead(featureShape: number[], numClasses: number, config: TrainConfig, rng: SeededRandom): tfl.Sequential {
  const layers: tfl.layers.Layer[] = [];
  const inputShape = featureShape;
  const first = (): { inputShape?: number[] } => (layers.length === 0 ? { inputShape } : {});
  if (featureShape.length > 1) layers.push(tfl.layers.flatten({ inputShape }));
  if (config.hiddenUnits > 0) {
    if (config.dropout > 0) layers.push(tfl.layers.dropout({ rate: config.dropout, ...first() }));
    const activation = config.activation ?? 'relu';
    const seed = rng.nextSeed();
    layers.push(
      tfl.layers.dense({
        units: config.hiddenUnits,
        // tfjs-layers has no leaky ReLU activation, only a LeakyReLU layer: a linear Dense feeds it.
        activation: activation === 'leaky_relu' ? 'linear' : activation,
        kernelInitializer: config.init === 'glorot' ? tfl.initializers.glorotUniform({ seed }) : tfl.initializers.heNormal({ seed }),
        biasInitializer: 'zeros',
        ...first(),
      }),
    );
    if (activation === 'leaky_relu') layers.push(tfl.layers.leakyReLU({ alpha: LEAKY_SLOPE }));
  }
  if (config.dropout > 0) layers.push(tfl.layers.dropout({ rate: config.dropout, ...first() }));
  layers.push(
    tfl.layers.dense({
      units: numClasses,
      activation: 'softmax',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: rng.nextSeed() }),
      biasInitializer: 'zeros',
      ...first(),
    }),
  );
  return tfl.sequential({ layers });
}

/** A copy of a head with its own weights, so that training it leaves the original as it was. */
function cloneHead(source: tfl.LayersModel): tfl.Sequential {
  const inputShape = source.inputs[0]?.shape.slice(1) as number[] | undefined;
  if (!inputShape || inputShape.some((d) => typeof d !== 'number')) {
    throw new CoreError('internal', 'The head to continue from has no fixed input shape.');
  }
  const layers: tfl.layers.Layer[] = [];
  const first = (): { inputShape?: number[] } => (layers.length === 0 ? { inputShape } : {});
  for (const layer of source.layers) {
    const cls = layer.getClassName();
    const cfg = layer.getConfig();
    if (cls === 'Flatten') layers.push(tfl.layers.flatten({ ...first() }));
    else if (cls === 'Dropout') layers.push(tfl.layers.dropout({ rate: Number(cfg.rate), ...first() }));
    else if (cls === 'LeakyReLU') layers.push(tfl.layers.leakyReLU({ alpha: Number(cfg.alpha), ...first() }));
    else if (cls === 'Dense') {
      layers.push(
        tfl.layers.dense({
          units: Number(cfg.units),
          activation: String(cfg.activation) as 'relu',
          useBias: cfg.useBias !== false,
          kernelInitializer: 'zeros',
          ...first(),
        }),
      );
    } else if (cls !== 'InputLayer') {
      throw new CoreError('internal', `The head to continue from has a ${cls} layer; a head may hold only Dense, Dropout, LeakyReLU and Flatten layers.`);
    }
  }
  const clone = tfl.sequential({ layers });
  clone.setWeights(source.getWeights());
  return clone;
}

export function headSteps(head: tfl.LayersModel, numClasses: number): HeadStep[] {
  const steps: HeadStep[] = [];
  for (const layer of head.layers) {
    const cls = layer.getClassName();
    if (cls === 'InputLayer') continue;
    if (cls === 'Flatten') steps.push({ kind: 'flatten' });
    else if (cls === 'Dropout') steps.push({ kind: 'dropout', rate: Number(layer.getConfig().rate) });
    else if (cls === 'LeakyReLU') steps.push({ kind: 'leaky_relu', alpha: Number(layer.getConfig().alpha) });
    else if (cls === 'Dense') {
      const find = (suffix: string): tf.Variable | null => (layer.weights.find((w) => w.originalName.endsWith(suffix))?.read() as tf.Variable | undefined) ?? null;
      const kernel = find('/kernel');
      if (!kernel) throw new CoreError('internal', `Dense layer ${layer.name} of the head has no kernel.`);
      steps.push({ kind: 'dense', kernel, bias: find('/bias'), activation: String(layer.getConfig().activation) });
    } else {
      throw new CoreError('internal', `The head has a ${cls} layer; a head may hold only Dense, Dropout, LeakyReLU and Flatten layers.`);
    }
  }
  const dense = steps.filter((s) => s.kind === 'dense');
  const last = dense[dense.length - 1];
  if (!last || last.activation !== 'softmax') throw new CoreError('internal', 'The head must end in a softmax Dense layer.');
  if (last.kernel.shape[1] !== numClasses) {
    throw new CoreError('invalid_input', `The head to continue from predicts ${last.kernel.shape[1]} classes, but this run has ${numClasses}. Train a new head.`);
  }
  for (const s of dense.slice(0, -1)) {
    if (!(s.activation in HIDDEN_ACTIVATIONS)) throw new CoreError('internal', `The head's hidden activation "${s.activation}" is not supported for training.`);
  }
  return steps;
}

/**
 * Log-probabilities of the head: the same Dense maths as the model. Training (dropout seeds
 * given) draws fresh dropout masks and records gradients; `inputNeedsGradient` is true when
 * x comes from a trainable trunk.
 */
function forward(steps: HeadStep[], x: tf.Tensor, dropoutSeeds: number[] | null, inputNeedsGradient = false, logits = false): tf.Tensor2D {
  let h = x;
  const kinds = steps.map((s) => s.kind);
  const lastDense = kinds.lastIndexOf('dense');
  const firstDenseIndex = kinds.indexOf('dense');
  steps.forEach((step, i) => {
    if (step.kind === 'flatten') h = tf.reshape(h, [h.shape[0]!, -1]);
    else if (step.kind === 'leaky_relu') h = tf.leakyRelu(h, step.alpha);
    else if (step.kind === 'dropout') {
      if (dropoutSeeds && step.rate > 0) h = tf.dropout(h, step.rate, undefined, dropoutSeeds[i]);
    } else {
      const needsInputGradient = i > firstDenseIndex || inputNeedsGradient;
      let z: tf.Tensor = dropoutSeeds ? denseMatMul(h as tf.Tensor2D, step.kernel as tf.Tensor2D, needsInputGradient) : tf.matMul(h as tf.Tensor2D, step.kernel as tf.Tensor2D);
      if (step.bias) z = tf.add(z, step.bias);
      h = i === lastDense ? (logits ? z : tf.logSoftmax(z)) : HIDDEN_ACTIVATIONS[step.activation]!(z);
    }
  });
  return h as tf.Tensor2D;
}

/**
 * A head's class scores before the softmax (logits), with the model's own inference maths
 * (no dropout): what explanations read and differentiate with respect to the features.
 */
export function headLogits(steps: HeadStep[], x: tf.Tensor): tf.Tensor2D {
  return forward(steps, x, null, false, true);
}

/**
 * x·w whose gradient is built from plain matMuls on explicitly transposed operands: on wasm
 * (tfjs-backend-wasm 4.22) a matMul with a transpose flag, which tfjs's own MatMul gradient
 * uses, is 8–14 times slower than transposing first, and it dominated a training step.
 */
function denseMatMul(x: tf.Tensor2D, w: tf.Tensor2D, inputNeedsGradient: boolean): tf.Tensor2D {
  if (!inputNeedsGradient) {
    // x is data: only w gets a gradient, so the op takes w alone and x is a constant.
    const op = tf.customGrad<tf.Tensor2D>((...args) => {
      const [wIn, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
      // Saved, not just captured: the forward pass disposes x (a dropout output) before the backward pass.
      save([x]);
      return { value: tf.matMul(x, wIn), gradFunc: (dy, saved) => tf.matMul(tf.transpose(saved[0]!), dy) };
    });
    return op(w);
  }
  const op = tf.customGrad<tf.Tensor2D>((...args) => {
    const [xIn, wIn, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    save([xIn, wIn]);
    return {
      value: tf.matMul(xIn, wIn),
      gradFunc: (dy, saved) => {
        const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
        return [tf.transpose(tf.matMul(ws, tf.transpose(dy))), tf.matMul(tf.transpose(xs), dy)];
      },
    };
  });
  return op(x, w);
}

// ---------- training health ----------

/** Gradients scaled by min(1, maxNorm / their global L2 norm): the direction kept, the step bounded. */
function clipByGlobalNorm(grads: tf.NamedTensorMap, maxNorm: number): tf.NamedTensorMap {
  const all = Object.values(grads);
  const globalNorm = tf.sqrt(tf.addN(all.map((g) => tf.sum(tf.square(g)))));
  const scale = tf.minimum(1, tf.div(maxNorm, tf.maximum(globalNorm, 1e-12)));
  return Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, tf.mul(g, scale)]));
}

/** The first `rows` rows of a split, as the fixed batch dead ReLUs are counted on. */
function probeBatch(split: { x: Float32Array; n: number }, rowSize: number, rows: number): { x: Float32Array; n: number } {
  const n = Math.min(rows, split.n);
  return { x: split.x.slice(0, n * rowSize), n };
}

/**
 * Per Dense layer, ‖kernel now − kernel before‖ / ‖kernel before‖ (‖kernel now‖ below when the
 * one before was all zeros), and whether every weight of the head is still finite.
 */
async function updateRatios(dense: Extract<HeadStep, { kind: 'dense' }>[], before: tf.Tensor[], headVariables: tf.Variable[]): Promise<{ ratios: number[]; weightsFinite: boolean }> {
  const stacked = tf.tidy(() => {
    const parts = dense.flatMap((s, i) => [tf.norm(tf.sub(s.kernel, before[i]!)), tf.norm(before[i]!), tf.norm(s.kernel)]);
    const allFinite = tf.cast(tf.all(tf.stack(headVariables.map((v) => tf.all(tf.isFinite(v))))), 'float32');
    return tf.stack([...parts, allFinite]);
  });
  const values = await stacked.data();
  stacked.dispose();
  const ratios = dense.map((_, i) => {
    const [delta, was, now] = [values[3 * i]!, values[3 * i + 1]!, values[3 * i + 2]!];
    return was > 0 ? delta / was : now > 0 ? delta / now : 0;
  });
  return { ratios, weightsFinite: values[values.length - 1] === 1 };
}

/**
 * Share of the units of the ReLU hidden layers whose pre-activation is never above zero on
 * the probe batch (dropout off): such a unit outputs 0 and gets no gradient, so it cannot
 * learn its way back.
 */
async function deadReluShare(steps: HeadStep[], trunk: ((x: tf.Tensor) => tf.Tensor) | undefined, probe: { x: Float32Array; n: number }, shape: number[]): Promise<number | null> {
  if (probe.n === 0) return null;
  let units = 0;
  let deadCount: tf.Tensor | null = null;
  tf.tidy(() => {
    let h: tf.Tensor = tf.tensor(probe.x, [probe.n, ...shape]);
    if (trunk) h = trunk(h);
    const lastDense = steps.map((s) => s.kind).lastIndexOf('dense');
    const counts: tf.Tensor[] = [];
    steps.forEach((step, i) => {
      if (i >= lastDense) return;
      if (step.kind === 'flatten') h = tf.reshape(h, [h.shape[0]!, -1]);
      else if (step.kind === 'leaky_relu') h = tf.leakyRelu(h, step.alpha);
      else if (step.kind === 'dense') {
        let z: tf.Tensor = tf.matMul(h as tf.Tensor2D, step.kernel as tf.Tensor2D);
        if (step.bias) z = tf.add(z, step.bias);
        if (step.activation === 'relu' || step.activation === 'relu6') {
          counts.push(tf.sum(tf.cast(tf.lessEqual(tf.max(z, 0), 0), 'float32')));
          units += z.shape[1]!;
        }
        h = HIDDEN_ACTIVATIONS[step.activation]!(z);
      }
    });
    if (units > 0) deadCount = tf.keep(tf.addN(counts));
  });
  const counted = deadCount as tf.Tensor | null;
  if (counted === null) return null;
  const dead = (await counted.data())[0]!;
  counted.dispose();
  return dead / units;
}

function l2Penalty(steps: HeadStep[], l2: number): tf.Scalar {
  if (l2 === 0) return tf.scalar(0);
  const sums = steps.flatMap((s) => (s.kind === 'dense' ? [tf.sum(tf.square(s.kernel))] : []));
  return tf.mul(tf.addN(sums), l2) as tf.Scalar;
}

async function evaluateSplit(
  steps: HeadStep[],
  trunk: ((x: tf.Tensor) => tf.Tensor) | undefined,
  x: Float32Array,
  ex: Examples,
  classWeights: Float32Array,
  labelSmoothing: number,
): Promise<{ loss: number; accuracy: number }> {
  const rowSize = ex.shape.reduce((a, b) => a * b, 1);
  let lossSum = 0;
  let weightSum = 0;
  let correct = 0;
  for (let start = 0; start < ex.n; start += EVAL_BATCH) {
    const b = Math.min(EVAL_BATCH, ex.n - start);
    const labels = ex.y.subarray(start, start + b);
    const weights = Float32Array.from(labels, (c) => classWeights[c]!);
    const sums = tf.tidy(() => {
      const input = tf.tensor(x.subarray(start * rowSize, (start + b) * rowSize), [b, ...ex.shape]);
      const features = trunk ? trunk(input) : input;
      const logProbs = forward(steps, features, null);
      const y = tf.tensor1d(labels, 'int32');
      const weighted = tf.sum(tf.mul(smoothedCrossEntropy(logProbs, y, labelSmoothing), tf.tensor1d(weights)));
      const hitCount = tf.sum(tf.cast(tf.equal(tf.argMax(logProbs, 1), y), 'float32'));
      return tf.stack([weighted, hitCount]);
    });
    const [loss, hits] = (await sums.data()) as Float32Array;
    sums.dispose();
    lossSum += loss!;
    weightSum += weights.reduce((a, v) => a + v, 0);
    correct += hits!;
  }
  return { loss: weightSum > 0 ? lossSum / weightSum : ex.n > 0 ? NaN : 0, accuracy: ex.n > 0 ? correct / ex.n : 0 };
}

// ---------- standardisation ----------

interface FeatureStatistics {
  mean: Float32Array;
  std: Float32Array;
}

/**
 * Per-feature mean and standard deviation of the training examples. A (nearly) constant
 * feature gets a floor of 1/1000 of the average spread instead of its own tiny one, so
 * that an unseen image differing slightly there is not blown up a millionfold.
 */
function featureStatistics(ex: Examples): FeatureStatistics {
  const d = ex.shape.reduce((a, b) => a * b, 1);
  const sum = new Float64Array(d);
  const sumSq = new Float64Array(d);
  for (let i = 0; i < ex.n; i++) {
    const off = i * d;
    for (let j = 0; j < d; j++) {
      const v = ex.x[off + j]!;
      sum[j]! += v;
      sumSq[j]! += v * v;
    }
  }
  const mean = new Float32Array(d);
  const std = new Float32Array(d);
  let spread = 0;
  for (let j = 0; j < d; j++) {
    const m = sum[j]! / ex.n;
    mean[j] = m;
    std[j] = Math.sqrt(Math.max(0, sumSq[j]! / ex.n - m * m));
    spread += std[j]!;
  }
  const floor = spread > 0 ? (spread / d) * 1e-3 : 1;
  for (let j = 0; j < d; j++) if (!(std[j]! >= floor)) std[j] = floor;
  return { mean, std };
}

function standardise(x: Float32Array, s: FeatureStatistics): Float32Array {
  const d = s.mean.length;
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const j = i % d;
    out[i] = (x[i]! - s.mean[j]!) / s.std[j]!;
  }
  return out;
}

function firstDense(steps: HeadStep[]): Extract<HeadStep, { kind: 'dense' }> {
  const dense = steps.find((s) => s.kind === 'dense');
  if (!dense || dense.kind !== 'dense') throw new CoreError('internal', 'The head has no Dense layer.');
  return dense;
}

/**
 * Makes the first Dense layer take raw features: with z = W·((x − μ)/σ) + b,
 * W' = W / σ (per input row) and b' = b − (μ/σ)·W.
 */
async function foldStandardisation(steps: HeadStep[], s: FeatureStatistics): Promise<void> {
  const dense = firstDense(steps);
  if (!dense.bias) {
    // Without a bias the shift μ/σ·W has nowhere to go; only an all-zero shift can be folded.
    const largest = tf.tidy(() => tf.max(tf.abs(tf.matMul(tf.tensor2d(s.mean, [1, s.mean.length]), tf.div(dense.kernel, tf.tensor2d(s.std, [s.std.length, 1])) as tf.Tensor2D))));
    const value = (await largest.data())[0]!;
    largest.dispose();
    if (value > 0) throw new CoreError('internal', 'Cannot fold the input standardisation into a Dense layer without a bias.');
  }
  tf.tidy(() => {
    const invStd = tf.div(1, tf.tensor2d(s.std, [s.std.length, 1]));
    const shift = tf.matMul(tf.mul(tf.tensor2d(s.mean, [1, s.mean.length]), tf.transpose(invStd)), dense.kernel as tf.Tensor2D);
    if (dense.bias) dense.bias.assign(tf.sub(dense.bias, tf.reshape(shift, dense.bias.shape)));
    dense.kernel.assign(tf.mul(dense.kernel, invStd));
  });
}

/** The inverse of foldStandardisation: W = W'·σ, b = b' + μ·W'. */
function unfoldStandardisation(steps: HeadStep[], s: FeatureStatistics): void {
  const dense = firstDense(steps);
  tf.tidy(() => {
    if (dense.bias) dense.bias.assign(tf.add(dense.bias, tf.reshape(tf.matMul(tf.tensor2d(s.mean, [1, s.mean.length]), dense.kernel as tf.Tensor2D), dense.bias.shape)));
    dense.kernel.assign(tf.mul(dense.kernel, tf.tensor2d(s.std, [s.std.length, 1])));
  });
}

// ---------- optimizers, schedules, snapshots ----------

function createOptimizer(name: TrainConfig['optimizer'], learningRate: number): tf.Optimizer {
  switch (name) {
    case 'adam':
      return tf.train.adam(learningRate);
    case 'sgd':
      return tf.train.momentum(learningRate, 0.9);
    case 'rmsprop':
      return tf.train.rmsprop(learningRate);
  }
}

function setLearningRate(optimizer: tf.Optimizer, learningRate: number): void {
  // SGD and momentum keep the rate in a tensor; the others read the field on every step.
  // (instanceof cannot tell: tfjs optimizers answer it by duck typing.)
  const withSetter = optimizer as unknown as { setLearningRate?: (rate: number) => void; learningRate: number };
  if (typeof withSetter.setLearningRate === 'function') withSetter.setLearningRate(learningRate);
  else withSetter.learningRate = learningRate;
}

function disposeOptimizer(optimizer: tf.Optimizer): void {
  optimizer.dispose();
  // MomentumOptimizer.dispose (tfjs 4.22) forgets its parent's learning-rate scalar.
  const rate = (optimizer as unknown as { c?: tf.Tensor }).c;
  if (rate && !rate.isDisposed) rate.dispose();
}

/** A learning rate as a person reads it: 0.0005, not 0.0004999999999. */
function rate(learningRate: number): string {
  return String(Number(learningRate.toPrecision(3)));
}

/** From 1 at the first epoch down to MIN_LR_FRACTION at the last, along half a cosine. */
function cosineFactor(epoch: number, epochs: number): number {
  const progress = epochs > 1 ? (epoch - 1) / (epochs - 1) : 0;
  return MIN_LR_FRACTION + (1 - MIN_LR_FRACTION) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

function snapshot(variables: tf.Variable[]): tf.Tensor[] {
  return variables.map((v) => tf.clone(v));
}

function restore(variables: tf.Variable[], values: tf.Tensor[]): void {
  variables.forEach((v, i) => v.assign(values[i]!));
}

// ---------- checks ----------

function trunkOutputShape(trunk: tfl.LayersModel): number[] {
  const shape = trunk.outputs[0]?.shape.slice(1);
  if (!shape || shape.length === 0 || shape.some((d) => typeof d !== 'number')) {
    throw new CoreError('internal', `The trainable part of the backbone has no fixed output shape (${JSON.stringify(trunk.outputs[0]?.shape)}).`);
  }
  return shape as number[];
}

function checkExamples(ex: Examples, what: string): void {
  const rowSize = ex.shape.reduce((a, b) => a * b, 1);
  if (ex.x.length !== ex.n * rowSize || ex.y.length !== ex.n) {
    throw new CoreError(
      'internal',
      `The ${what} examples do not match their size: ${ex.x.length} values and ${ex.y.length} labels for ${ex.n} examples of shape [${ex.shape}].`,
    );
  }
  for (let i = 0; i < ex.x.length; i++) {
    if (!Number.isFinite(ex.x[i]!)) {
      throw new CoreError('internal', `${what[0]!.toUpperCase()}${what.slice(1)} example ${Math.floor(i / rowSize)} holds a value that is not a finite number; its image summary is damaged.`);
    }
  }
}
