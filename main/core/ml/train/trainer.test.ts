import assert from 'node:assert/strict';
import fs from 'node:fs';
import nodePath from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DEFAULT_TRAIN_CONFIG, type EpochMetrics, type TrainConfig } from '../../../../shared/contract/training.ts';
import { CoreError } from '../../errors.ts';
import { resolveBackboneDir } from '../backbones.ts';
import { EmbedPool } from '../embed-pool.ts';
import { chooseBackend } from '../runtime.ts';
import { evaluate } from './metrics.ts';
import { gaussianClusters } from './synthetic-data.ts';
import { classWeightsFor, predictProbabilities, smoothedCrossEntropy, trainClassifier, type Examples, type TrainResult } from './trainer.ts';

const MODELS = process.env.SEEDBED_MODELS_DIR || nodePath.resolve(import.meta.dirname, '../../../../../shared/models');
const TRASHNET = nodePath.resolve(import.meta.dirname, '../../../../../shared/data/trashnet');
const BACKBONE = 'mobilenet_v1_0.25_224';
const haveData = fs.existsSync(TRASHNET) && fs.existsSync(nodePath.join(MODELS, BACKBONE));
const skip = haveData ? false : `needs ../shared/data/trashnet and ${BACKBONE} in ${MODELS}`;

/** Four classes in 16 features with offsets and scales: separable, but not in the first epoch. */
const clusters = (n: number, seed: number, extra: Partial<Parameters<typeof gaussianClusters>[0]> = {}): Examples =>
  gaussianClusters({ n, classes: 4, dims: 16, seed, separation: 2, ...extra });
const TRAIN = clusters(240, 1);
const VAL = clusters(120, 2);
const CLASSES = ['a', 'b', 'c', 'd'];

const config = (patch: Partial<TrainConfig>): TrainConfig => ({ ...DEFAULT_TRAIN_CONFIG, epochs: 25, ...patch });

/** The loss the trainer reports, recomputed from a head's probabilities: class-weighted, label-smoothed cross-entropy. */
function reportedLoss(probs: Float32Array, ex: Examples, train: Examples, k: number, c: TrainConfig): number {
  const weights = classWeightsFor(train.y, k, c.classWeights);
  let sum = 0;
  let weightSum = 0;
  for (let i = 0; i < ex.n; i++) {
    let ce = 0;
    for (let j = 0; j < k; j++) {
      const target = (j === ex.y[i] ? 1 - c.labelSmoothing : 0) + c.labelSmoothing / k;
      if (target > 0) ce -= target * Math.log(probs[i * k + j]!);
    }
    sum += weights[ex.y[i]!]! * ce;
    weightSum += weights[ex.y[i]!]!;
  }
  return sum / weightSum;
}

async function accuracyOf(head: tfl.LayersModel, ex: Examples, classes = CLASSES): Promise<number> {
  return evaluate((await predictProbabilities(head, ex)), ex.y, classes).accuracy;
}

// Every assert.ok carries a message: without one, Node rebuilds the failing expression from the
// (tsx-transformed) source, which can take minutes instead of failing at once.
const close = (actual: number, expected: number, tolerance: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);

async function train(patch: Partial<TrainConfig>, more: Partial<Parameters<typeof trainClassifier>[0]> = {}): Promise<TrainResult> {
  return trainClassifier({ train: TRAIN, val: VAL, numClasses: 4, config: config(patch), phase: 'head', ...more });
}

before(async () => {
  const choice = await chooseBackend();
  assert.equal(choice.backend, 'wasm', `tests run on the wasm runtime (${choice.detail})`);
});

test('learns separable clusters from raw features; the head is a plain Dense/Dropout model with the standardisation folded in, and it saves and reloads', async () => {
  const c = config({});
  const r = await train({});
  try {
    assert.equal(r.cancelled, false);
    assert.equal(r.error, undefined);
    assert.ok(r.epochs.length >= 5, `${r.epochs.length} epochs`);
    assert.deepEqual(
      r.head.layers.map((l) => l.getClassName()),
      ['Dropout', 'Dense', 'Dropout', 'Dense'],
    );
    const accuracy = await accuracyOf(r.head, VAL);
    assert.ok(accuracy >= 0.95, `val accuracy ${accuracy}`);
    // Dropout (0.5) is on while the train accuracy is measured and off for validation.
    const last = r.epochs[r.epochs.length - 1]!;
    assert.ok(last.trainAccuracy < last.valAccuracy! - 0.1, `train accuracy ${last.trainAccuracy} (dropout on) vs val ${last.valAccuracy} (off)`);
    // The head takes raw features: its loss on the raw val set is the best epoch's val loss, which the trainer measured on standardised ones.
    const best = r.epochs[r.bestEpoch! - 1]!;
    close(reportedLoss((await predictProbabilities(r.head, VAL)), VAL, TRAIN, 4, c), best.valLoss!, 1e-4, 'val loss of the returned head');

    let saved: tf.io.ModelArtifacts | null = null;
    await r.head.save(tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const reloaded = await tfl.loadLayersModel(tf.io.fromMemory(saved!));
    try {
      const a = (await predictProbabilities(r.head, VAL));
      const b = (await predictProbabilities(reloaded, VAL));
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-6, `prediction ${i} after reload`);
    } finally {
      reloaded.dispose();
    }
  } finally {
    r.head.dispose();
  }
});

test('the same config, data and backend give identical epochs; another seed does not', async () => {
  const c = { dropout: 0.3, epochs: 8, patience: 0 };
  const [a, b, other] = [await train(c), await train(c), await train({ ...c, seed: 2 })];
  try {
    assert.equal(a.epochs.length, b.epochs.length);
    a.epochs.forEach((e, i) => {
      const f = b.epochs[i]!;
      close(f.trainLoss, e.trainLoss, 1e-6, `train loss of epoch ${i + 1}`);
      close(f.valLoss!, e.valLoss!, 1e-6, `val loss of epoch ${i + 1}`);
      assert.equal(f.trainAccuracy, e.trainAccuracy);
      assert.equal(f.learningRate, e.learningRate);
    });
    const wa = a.head.getWeights().map((w) => w.dataSync());
    const wb = b.head.getWeights().map((w) => w.dataSync());
    wa.forEach((w, i) => assert.deepEqual(wb[i], w, `weights ${i}`));
    assert.notEqual(other.epochs[0]!.trainLoss, a.epochs[0]!.trainLoss, 'another seed shuffles and initialises differently');
  } finally {
    for (const r of [a, b, other]) r.head.dispose();
  }
});

test('no tensor leaks: after training, only the head\'s weights remain (every optimizer and schedule)', async () => {
  const cases: Partial<TrainConfig>[] = [
    { optimizer: 'adam', schedule: 'plateau' },
    { optimizer: 'sgd', learningRate: 0.01, schedule: 'cosine' },
    { optimizer: 'rmsprop', learningRate: 0.01, schedule: 'constant', hiddenUnits: 0 },
  ];
  for (const patch of cases) {
    const before = tf.memory().numTensors;
    const r = await train({ ...patch, epochs: 15, patience: 0 });
    assert.equal(tf.memory().numTensors, before + r.head.weights.length, `${patch.optimizer}: tensors after training`);
    const accuracy = await accuracyOf(r.head, VAL);
    assert.ok(accuracy >= 0.9, `${patch.optimizer} learns: ${accuracy}`);
    r.head.dispose();
    assert.equal(tf.memory().numTensors, before, `${patch.optimizer}: tensors after disposing the head`);
  }
});

test('learning-rate schedules: constant, cosine down to lr/100, plateau halves after max(2, patience/2) epochs without progress', async () => {
  const lr = 0.002;
  const constant = await train({ schedule: 'constant', learningRate: lr, epochs: 6, patience: 0 });
  const cosine = await train({ schedule: 'cosine', learningRate: lr, epochs: 6, patience: 0 });
  // Noisy labels and no regularisation: the val loss stalls early, so plateau must act.
  const noisy = clusters(120, 3, { labelNoise: 0.4 });
  const plateau = await trainClassifier({
    train: noisy,
    val: VAL,
    numClasses: 4,
    // patience 0: no early stopping, and plateau waits max(2, 0) = 2 epochs.
    config: config({ schedule: 'plateau', learningRate: 0.01, epochs: 40, patience: 0, restoreBest: false, dropout: 0, l2: 0 }),
    phase: 'head',
  });
  try {
    assert.deepEqual(constant.epochs.map((e) => e.learningRate), new Array(6).fill(lr));
    const cos = cosine.epochs.map((e) => e.learningRate);
    close(cos[0]!, lr, 1e-12, 'cosine starts at the rate');
    close(cos[5]!, lr / 100, 1e-12, 'cosine ends at rate/100');
    for (let i = 1; i < cos.length; i++) assert.ok(cos[i]! < cos[i - 1]!, 'cosine decreases');
    close(cos[2]!, lr / 100 + (lr - lr / 100) * 0.5 * (1 + Math.cos(Math.PI * 0.4)), 1e-9, 'cosine at epoch 3');

    // Replay the plateau rule on the recorded val losses.
    const rates = plateau.epochs.map((e) => e.learningRate);
    let best = Infinity;
    let wait = 0;
    let expected = 0.01;
    let halvings = 0;
    plateau.epochs.forEach((e, i) => {
      close(rates[i]!, expected, 1e-12, `plateau rate at epoch ${i + 1}`);
      if (e.valLoss! < best) {
        best = e.valLoss!;
        wait = 0;
      } else if (++wait >= 2) {
        const next = Math.max(expected / 2, 0.01 / 100);
        if (next < expected) halvings++;
        expected = next;
        wait = 0;
      }
    });
    assert.ok(halvings >= 3, `plateau halved the rate ${halvings} times`);
    assert.equal(plateau.epochs.length, 40);
    assert.ok(Math.min(...rates) >= 0.01 / 100 - 1e-15, 'never below rate/100');
  } finally {
    for (const r of [constant, cosine, plateau]) r.head.dispose();
  }
});

test('label smoothing and class weights change the loss as they should', () => {
  const probs = [
    [0.7, 0.2, 0.1],
    [0.1, 0.1, 0.8],
  ];
  const labels = [0, 1];
  const perExample = (smoothing: number): number[] =>
    tf.tidy(() => Array.from(smoothedCrossEntropy(tf.log(tf.tensor2d(probs)), tf.tensor1d(labels, 'int32'), smoothing).dataSync()));
  const plain = perExample(0);
  close(plain[0]!, -Math.log(0.7), 1e-6, 'no smoothing: −log p(true class)');
  close(plain[1]!, -Math.log(0.1), 1e-6, 'no smoothing: −log p(true class)');
  const smoothed = perExample(0.3);
  // target = 0.7·onehot + 0.1 everywhere: 0.8 on the true class, 0.1 on the others.
  close(smoothed[0]!, -(0.8 * Math.log(0.7) + 0.1 * Math.log(0.2) + 0.1 * Math.log(0.1)), 1e-6, 'smoothed loss, example 0');
  close(smoothed[1]!, -(0.1 * Math.log(0.1) + 0.8 * Math.log(0.1) + 0.1 * Math.log(0.8)), 1e-6, 'smoothed loss, example 1');
  assert.ok(smoothed[0]! > plain[0]!, 'smoothing penalises a confident right answer');
  assert.ok(smoothed[1]! < plain[1]!, 'and softens a confident wrong one');

  // 6, 3 and 1 examples: balanced weight = n / (k · count).
  const y = Int32Array.from([0, 0, 0, 0, 0, 0, 1, 1, 1, 2]);
  assert.deepEqual(Array.from(classWeightsFor(y, 3, 'none')), [1, 1, 1]);
  const balanced = classWeightsFor(y, 3, 'balanced');
  [10 / 18, 10 / 9, 10 / 3].forEach((w, c) => close(balanced[c]!, w, 1e-6, `weight of class ${c}`));
  close(Array.from(y, (c) => balanced[c]!).reduce((a, v) => a + v, 0) / y.length, 1, 1e-6, 'weights average 1 per example');
  // The classes present still average 1 per example; one without training examples keeps 1 for the val loss.
  const missing = classWeightsFor(Int32Array.from([0, 0, 1]), 3, 'balanced');
  assert.deepEqual(Array.from(missing, (w) => Number(w.toFixed(6))), [0.75, 1.5, 1]);
});

test('class weights lift a rare class', async () => {
  const share = [8, 8, 8, 1];
  const imbalanced = clusters(300, 4, { classShare: share, separation: 0.8 });
  const balancedVal = clusters(200, 5, { separation: 0.8 });
  const recall = async (classWeights: TrainConfig['classWeights']): Promise<number> => {
    const r = await trainClassifier({ train: imbalanced, val: null, numClasses: 4, config: config({ classWeights, epochs: 15, hiddenUnits: 0 }), phase: 'head' });
    const m = evaluate((await predictProbabilities(r.head, balancedVal)), balancedVal.y, CLASSES);
    r.head.dispose();
    return m.perClass.d!.recall;
  };
  const without = await recall('none');
  const withWeights = await recall('balanced');
  assert.ok(withWeights > without + 0.1, `rare-class recall ${without} → ${withWeights} with balanced weights`);
});

test('early stopping fires on a config built to overfit, and restore-best gives back the best epoch', async () => {
  // Few noisy examples, a huge hidden layer, no dropout or L2, a high learning rate.
  const tiny = clusters(24, 11, { labelNoise: 0.35 });
  const overfit = config({ hiddenUnits: 1024, dropout: 0, l2: 0, learningRate: 0.01, labelSmoothing: 0, epochs: 200, patience: 5, schedule: 'constant' });
  const run = (restoreBest: boolean): Promise<TrainResult> =>
    trainClassifier({ train: tiny, val: VAL, numClasses: 4, config: { ...overfit, restoreBest }, phase: 'head' });
  const restored = await run(true);
  const kept = await run(false);
  try {
    assert.equal(restored.stoppedEarly, true);
    assert.ok(restored.epochs.length < 200, `${restored.epochs.length} epochs`);
    const bestEpoch = restored.bestEpoch!;
    assert.equal(restored.epochs.length, bestEpoch + 5, 'stops 5 (patience) epochs after the best');
    const valLosses = restored.epochs.map((e) => e.valLoss!);
    assert.equal(Math.min(...valLosses), valLosses[bestEpoch - 1], 'the best epoch has the lowest val loss');
    const last = restored.epochs[restored.epochs.length - 1]!;
    assert.ok(last.trainLoss < restored.epochs[bestEpoch - 1]!.trainLoss, 'the train loss kept falling after the best epoch');
    close(reportedLoss((await predictProbabilities(restored.head, VAL)), VAL, tiny, 4, overfit), valLosses[bestEpoch - 1]!, 1e-4, 'restored weights give the best val loss');
    // Same run without restore-best: identical curve, and the weights of the last epoch.
    assert.deepEqual(kept.epochs.map((e) => e.valLoss), valLosses);
    close(reportedLoss((await predictProbabilities(kept.head, VAL)), VAL, tiny, 4, overfit), last.valLoss!, 1e-4, 'without restore-best, the last epoch\'s weights');
  } finally {
    restored.head.dispose();
    kept.head.dispose();
  }

  // Without validation data there is nothing to stop on: all epochs run, and the best is the last.
  const noVal = await trainClassifier({ train: tiny, val: null, numClasses: 4, config: { ...overfit, epochs: 12 }, phase: 'head' });
  assert.equal(noVal.epochs.length, 12);
  assert.equal(noVal.bestEpoch, 12);
  assert.equal(noVal.stoppedEarly, false);
  assert.ok(noVal.epochs.every((e) => e.valLoss === null && e.valAccuracy === null), 'no validation metrics without validation data');
  noVal.head.dispose();
  // An empty validation set counts as none.
  const emptyVal = await trainClassifier({ train: tiny, val: { x: new Float32Array(0), n: 0, shape: [16], y: new Int32Array(0) }, numClasses: 4, config: { ...overfit, epochs: 12 }, phase: 'head' });
  assert.equal(emptyVal.epochs.length, 12);
  assert.ok(emptyVal.epochs.every((e) => e.valLoss === null), 'no validation metrics from an empty validation set');
  emptyVal.head.dispose();
});

test('onEpoch is awaited after each epoch with the best epoch so far', async () => {
  const seen: [EpochMetrics, number | null][] = [];
  let pending = false;
  const r = await train(
    { epochs: 5, patience: 0 },
    {
      onEpoch: async (m, best) => {
        assert.equal(pending, false, 'the next epoch waits for the previous callback');
        pending = true;
        await new Promise((resolve) => setTimeout(resolve, 5));
        seen.push([m, best]);
        pending = false;
      },
    },
  );
  r.head.dispose();
  assert.deepEqual(seen.map(([m]) => m.epoch), [1, 2, 3, 4, 5]);
  assert.deepEqual(seen.map(([m]) => m), r.epochs);
  for (const [m, best] of seen) {
    assert.equal(m.phase, 'head');
    assert.ok(m.seconds > 0 && m.trainLoss > 0 && m.valLoss! > 0 && m.trainAccuracy >= 0 && m.trainAccuracy <= 1, `epoch ${m.epoch} metrics: ${JSON.stringify(m)}`);
    assert.ok(best !== null && best <= m.epoch, `best ${best} at epoch ${m.epoch}`);
  }
});

test('cancelling: shouldStop is checked before every batch, and a cancel from the event loop lands mid-epoch', async () => {
  const batchesPerEpoch = Math.ceil(TRAIN.n / 32);
  let calls = 0;
  const before = tf.memory().numTensors;
  const r = await train({ epochs: 50, patience: 0 }, { shouldStop: () => ++calls > batchesPerEpoch * 2 + 3 });
  assert.equal(r.cancelled, true);
  assert.equal(r.epochs.length, 2, 'two whole epochs, the third abandoned');
  assert.equal(calls, batchesPerEpoch * 2 + 4);
  assert.equal(tf.memory().numTensors, before + r.head.weights.length);
  r.head.dispose();

  // A flag set by a timer (as a worker's cancel message would) is seen within a batch or two.
  const big = clusters(4000, 9);
  let stop = false;
  let stoppedAt = 0;
  setTimeout(() => {
    stop = true;
    stoppedAt = performance.now();
  }, 300);
  const started = performance.now();
  const cancelled = await trainClassifier({ train: big, val: VAL, numClasses: 4, config: config({ epochs: 100, patience: 0 }), phase: 'head', shouldStop: () => stop });
  const returnedAt = performance.now();
  cancelled.head.dispose();
  assert.equal(cancelled.cancelled, true);
  assert.ok(cancelled.epochs.length < 100, `${cancelled.epochs.length} epochs ran`);
  // Without yielding to the event loop the timer could not fire before all 100 epochs were done.
  assert.ok(stoppedAt > started && returnedAt - stoppedAt < 1000, `returned ${Math.round(returnedAt - stoppedAt)} ms after the cancel`);
});

test('a loss that becomes NaN stops training with the last good weights and says why', async () => {
  const before = tf.memory().numTensors;
  const r = await train({ optimizer: 'sgd', learningRate: 10, schedule: 'constant', epochs: 50, patience: 0, restoreBest: false });
  try {
    assert.equal(tf.memory().numTensors, before + r.head.weights.length, 'no tensors left behind');
    assert.ok(r.error, 'an error is reported');
    assert.match(r.error, /not a number|infinite/);
    assert.match(r.error, /learning rate \(10\) is too high/);
    assert.ok(r.epochs.length < 50, `${r.epochs.length} epochs ran`);
    assert.ok(r.epochs.every((e) => Number.isFinite(e.trainLoss) && Number.isFinite(e.valLoss!)), 'only finite epochs are recorded');
    for (const w of r.head.getWeights()) assert.ok(w.dataSync().every(Number.isFinite), 'the kept weights are finite');
    assert.ok((await predictProbabilities(r.head, VAL)).every(Number.isFinite), 'the kept head predicts finite probabilities');
  } finally {
    r.head.dispose();
  }
});

test('phase 2 continues from the phase-1 head and leaves it unchanged', async () => {
  const phase1 = await train({ epochs: 15 });
  const weightsBefore = phase1.head.getWeights().map((w) => Array.from(w.dataSync()));
  try {
    // A negligible learning rate: unfolding and refolding the standardisation must give the same head back.
    const still = await trainClassifier({ train: TRAIN, val: VAL, numClasses: 4, config: config({ fineTuneEpochs: 1, fineTuneLearningRate: 1e-9, dropout: 0 }), phase: 'finetune', initialHead: phase1.head });
    const a = (await predictProbabilities(phase1.head, VAL));
    const b = (await predictProbabilities(still.head, VAL));
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-4, `probability ${i}: ${a[i]} vs ${b[i]}`);
    assert.equal(still.epochs[0]!.phase, 'finetune');
    assert.equal(still.epochs[0]!.learningRate, 1e-9);
    still.head.dispose();

    const phase2 = await trainClassifier({ train: TRAIN, val: VAL, numClasses: 4, config: config({ fineTuneEpochs: 3 }), phase: 'finetune', initialHead: phase1.head });
    const fresh = await trainClassifier({ train: TRAIN, val: VAL, numClasses: 4, config: config({ fineTuneEpochs: 3 }), phase: 'finetune' });
    const phase1Best = phase1.epochs[phase1.bestEpoch! - 1]!.valLoss!;
    assert.ok(
      Math.abs(phase2.epochs[0]!.valLoss! - phase1Best) < Math.abs(fresh.epochs[0]!.valLoss! - phase1Best),
      `phase 2 starts where phase 1 ended (${phase2.epochs[0]!.valLoss} vs ${phase1Best}; a fresh head: ${fresh.epochs[0]!.valLoss})`,
    );
    assert.notEqual(phase2.head, phase1.head);
    phase2.head.dispose();
    fresh.head.dispose();
    assert.deepEqual(phase1.head.getWeights().map((w) => Array.from(w.dataSync())), weightsBefore, 'the phase-1 head is unchanged');
  } finally {
    phase1.head.dispose();
  }
});

test('with a trunk, its trainable weights train too, its frozen ones do not, and the head takes its output', async () => {
  const trunk = tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 12, activation: 'relu', inputShape: [16], kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }), name: 'frozen_block' }),
      tfl.layers.dense({ units: 8, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 4 }), name: 'top_block' }),
    ],
  });
  trunk.layers[0]!.trainable = false;
  // A trunk sees inputs as they come: standardise them here, as a backbone's own scaling would.
  const scaled = (ex: Examples): Examples => {
    const x = Float32Array.from(ex.x);
    for (let j = 0; j < 16; j++) {
      let m = 0;
      let s = 0;
      for (let i = 0; i < TRAIN.n; i++) m += TRAIN.x[i * 16 + j]! / TRAIN.n;
      for (let i = 0; i < TRAIN.n; i++) s += (TRAIN.x[i * 16 + j]! - m) ** 2 / TRAIN.n;
      for (let i = 0; i < ex.n; i++) x[i * 16 + j] = (x[i * 16 + j]! - m) / Math.sqrt(s);
    }
    return { ...ex, x };
  };
  const [trainX, valX] = [scaled(TRAIN), scaled(VAL)];
  const frozenBefore = trunk.layers[0]!.getWeights().map((w) => Array.from(w.dataSync()));
  const topBefore = trunk.layers[1]!.getWeights().map((w) => Array.from(w.dataSync()));
  const before = tf.memory().numTensors;
  const r = await trainClassifier({ train: trainX, val: valX, numClasses: 4, config: config({ fineTuneEpochs: 20, fineTuneLearningRate: 0.01, hiddenUnits: 0, dropout: 0.1 }), phase: 'finetune', trunk });
  try {
    assert.equal(tf.memory().numTensors, before + r.head.weights.length, 'only the head\'s weights are new');
    assert.deepEqual(r.head.inputs[0]!.shape, [null, 8]);
    assert.deepEqual(trunk.layers[0]!.getWeights().map((w) => Array.from(w.dataSync())), frozenBefore, 'the frozen block is unchanged');
    assert.notDeepEqual(trunk.layers[1]!.getWeights().map((w) => Array.from(w.dataSync())), topBefore, 'the trainable block was trained');
    assert.ok(r.epochs.every((e) => e.learningRate <= 0.01), 'the fine-tuning rate is used');
    const features = tf.tidy(() => (trunk.predict(tf.tensor2d(valX.x, [valX.n, 16])) as tf.Tensor).dataSync() as Float32Array);
    const accuracy = await accuracyOf(r.head, { x: features, n: valX.n, shape: [8], y: valX.y });
    assert.ok(accuracy >= 0.9, `val accuracy through the trunk ${accuracy}`);
  } finally {
    r.head.dispose();
    trunk.dispose();
  }
});

test('examples with several dimensions get a Flatten layer; malformed input is refused with a clear message', async () => {
  const flat = clusters(160, 12);
  const shaped: Examples = { ...flat, shape: [2, 2, 4] };
  const r = await trainClassifier({ train: shaped, val: { ...VAL, shape: [2, 2, 4] }, numClasses: 4, config: config({ epochs: 15 }), phase: 'head' });
  assert.equal(r.head.layers[0]!.getClassName(), 'Flatten');
  try {
    const accuracy = await accuracyOf(r.head, { ...VAL, shape: [2, 2, 4] });
    assert.ok(accuracy >= 0.9, `val accuracy ${accuracy}`);
  } finally {
    r.head.dispose();
  }

  const refused = (o: Partial<Parameters<typeof trainClassifier>[0]>, pattern: RegExp) =>
    assert.rejects(trainClassifier({ train: TRAIN, val: VAL, numClasses: 4, config: config({}), phase: 'head', ...o }), (err: unknown) => err instanceof CoreError && pattern.test(err.message));
  await refused({ train: { ...TRAIN, n: 0, x: new Float32Array(0), y: new Int32Array(0) } }, /no training images/);
  await refused({ numClasses: 1 }, /at least 2 classes/);
  await refused({ train: { ...TRAIN, n: TRAIN.n - 1 } }, /do not match/);
  await refused({ val: { ...VAL, y: VAL.y.map((c) => c + 3) } }, /outside the 4 classes/);
  const damaged = Float32Array.from(TRAIN.x);
  damaged[16 * 5 + 2] = Number.NaN;
  await refused({ train: { ...TRAIN, x: damaged } }, /Training example 5 holds a value that is not a finite number/);
});

// ---------- real images ----------

const pool = new EmbedPool({ size: 1 });
after(() => pool.close());

/** The first 10 TrashNet images of each class by sorted file name, embedded once. */
let real: { x: Float32Array; y: Int32Array; dims: number; classes: string[] } | null = null;
async function realFeatures(): Promise<NonNullable<typeof real>> {
  if (real) return real;
  const classes = fs.readdirSync(TRASHNET).filter((d) => fs.statSync(nodePath.join(TRASHNET, d)).isDirectory()).sort();
  const paths: string[] = [];
  const y: number[] = [];
  classes.forEach((cls, c) => {
    const files = fs.readdirSync(nodePath.join(TRASHNET, cls)).filter((f) => f.endsWith('.jpg')).sort().slice(0, 10);
    for (const f of files) {
      paths.push(nodePath.join(TRASHNET, cls, f));
      y.push(c);
    }
  });
  const modelDir = resolveBackboneDir(BACKBONE, { env: { SEEDBED_MODELS_DIR: MODELS } });
  assert.ok(modelDir, `${BACKBONE} is in ${MODELS}`);
  const embedded = await pool.embedAll({ backbone: BACKBONE, modelDir, paths }, { batchSize: 20 });
  assert.ok(embedded.errors.every((e) => e === null), 'every image embeds');
  real = { x: embedded.embeddings, y: Int32Array.from(y), dims: embedded.dims, classes };
  return real;
}

function rowsOf(f: NonNullable<typeof real>, keep: (indexInClass: number) => boolean): Examples {
  const rows: number[] = [];
  for (let i = 0; i < f.y.length; i++) if (keep(i % 10)) rows.push(i);
  const x = new Float32Array(rows.length * f.dims);
  rows.forEach((row, j) => x.set(f.x.subarray(row * f.dims, (row + 1) * f.dims), j * f.dims));
  return { x, n: rows.length, shape: [f.dims], y: Int32Array.from(rows, (row) => f.y[row]!) };
}

test('real TrashNet features: the default config predicts held-out images well above chance (5-fold, 60 images)', { skip }, async (t) => {
  const f = await realFeatures();
  assert.equal(f.classes.length, 6);
  let correct = 0;
  for (let fold = 0; fold < 5; fold++) {
    const heldOut = (i: number): boolean => Math.floor(i / 2) === fold;
    const test = rowsOf(f, heldOut);
    // No validation split: early stopping on the held-out images would peek at them.
    const r = await trainClassifier({ train: rowsOf(f, (i) => !heldOut(i)), val: null, numClasses: 6, config: DEFAULT_TRAIN_CONFIG, phase: 'head' });
    correct += evaluate((await predictProbabilities(r.head, test)), test.y, f.classes).accuracy * test.n;
    r.head.dispose();
  }
  const accuracy = correct / 60;
  t.diagnostic(`${BACKBONE} (${f.dims} dims): held-out accuracy ${accuracy.toFixed(3)}`);
  assert.ok(accuracy > 0.5, `held-out accuracy ${accuracy.toFixed(3)} (chance: 0.167)`);
});

test('real TrashNet features: early stopping fires on a config built to overfit, and the best epoch\'s weights come back', { skip }, async (t) => {
  const f = await realFeatures();
  // 2 images per class, a third of their labels wrong; the other 48 images validate.
  const trainSet = rowsOf(f, (i) => i < 2);
  trainSet.y = trainSet.y.map((c, i) => (i % 3 === 0 ? (c + 1) % 6 : c));
  const val = rowsOf(f, (i) => i >= 2);
  const overfit: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, hiddenUnits: 2048, dropout: 0, l2: 0, learningRate: 0.01, labelSmoothing: 0, classWeights: 'none', schedule: 'constant', epochs: 200, patience: 5 };
  const r = await trainClassifier({ train: trainSet, val, numClasses: 6, config: overfit, phase: 'head' });
  t.diagnostic(`stopped after epoch ${r.epochs.length}, best epoch ${r.bestEpoch}`);
  try {
    assert.equal(r.stoppedEarly, true);
    assert.ok(r.bestEpoch! < r.epochs.length && r.epochs.length < 200, `best ${r.bestEpoch} of ${r.epochs.length}`);
    const last = r.epochs[r.epochs.length - 1]!;
    assert.ok(last.trainAccuracy > last.valAccuracy!, 'it fits its training images better than new ones');
    close(reportedLoss((await predictProbabilities(r.head, val)), val, trainSet, 6, overfit), r.epochs[r.bestEpoch! - 1]!.valLoss!, 1e-4, 'restored val loss');
  } finally {
    r.head.dispose();
  }
});
