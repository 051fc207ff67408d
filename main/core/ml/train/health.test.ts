import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DEFAULT_TRAIN_CONFIG, trainConfigSchema, type EpochMetrics, type TrainConfig } from '../../../../shared/contract/training.ts';
import { chooseBackend } from '../runtime.ts';
import { diagnose } from './diagnosis.ts';
import { detectHealth, type HealthFinding } from './health.ts';
import { gaussianClusters } from './synthetic-data.ts';
import { predictProbabilities, trainClassifier, type Examples, type TrainResult } from './trainer.ts';

const clusters = (n: number, seed: number): Examples => gaussianClusters({ n, classes: 4, dims: 16, seed, separation: 2 });
const TRAIN = clusters(240, 1);
const VAL = clusters(120, 2);

const config = (patch: Partial<TrainConfig>): TrainConfig => ({ ...DEFAULT_TRAIN_CONFIG, epochs: 12, ...patch });

async function train(patch: Partial<TrainConfig>, more: Partial<Parameters<typeof trainClassifier>[0]> = {}): Promise<TrainResult> {
  return trainClassifier({ train: TRAIN, val: VAL, numClasses: 4, config: config(patch), phase: 'head', ...more });
}

function findingsOf(r: TrainResult, c: TrainConfig): HealthFinding[] {
  const diagnosis = diagnose(r.epochs, r.bestEpoch, { train: TRAIN.n, val: VAL.n, classes: 4 }, r.error ?? null);
  return detectHealth({ epochs: r.epochs, config: c, diagnosis, trainingError: r.error ?? null, nonFinite: r.nonFinite ?? null });
}

const kinds = (f: HealthFinding[]): string => f.map((x) => x.kind).join(', ') || 'none';

/** A head on 16 features: hidden Dense layers as given, then a softmax over 4 classes. */
function customHead(hidden: { units: number; activation: 'relu' | 'sigmoid'; kernelStd: number; bias: number }[]): tfl.Sequential {
  const layers: tfl.layers.Layer[] = [];
  hidden.forEach((h, i) =>
    layers.push(
      tfl.layers.dense({
        units: h.units,
        activation: h.activation,
        kernelInitializer: tfl.initializers.randomNormal({ mean: 0, stddev: h.kernelStd, seed: 10 + i }),
        biasInitializer: tfl.initializers.constant({ value: h.bias }),
        ...(i === 0 ? { inputShape: [16] } : {}),
      }),
    ),
  );
  layers.push(tfl.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 99 }) }));
  return tfl.sequential({ layers });
}

before(async () => {
  const choice = await chooseBackend();
  assert.equal(choice.backend, 'wasm', `tests run on the wasm runtime (${choice.detail})`);
});

test('a healthy run records health every epoch and raises no gradient, dead-unit or overflow finding; no tensors leak', async () => {
  const c = config({});
  const before = tf.memory().numTensors;
  const r = await train({});
  try {
    assert.equal(tf.memory().numTensors, before + r.head.weights.length, 'only the head\'s weights remain');
    assert.equal(r.error, undefined, `no error: ${r.error}`);
    for (const e of r.epochs) {
      const h = e.health;
      assert.ok(h, `epoch ${e.epoch} has health`);
      assert.deepEqual(Object.keys(h.gradNorms), ['hidden1', 'output'], 'layers named first to last');
      assert.ok(Object.values(h.gradNorms).every((g) => Number.isFinite(g) && g > 0), `epoch ${e.epoch} gradient norms ${JSON.stringify(h.gradNorms)}`);
      assert.ok(Object.values(h.updateRatios).every((u) => Number.isFinite(u) && u > 0 && u < 1), `epoch ${e.epoch} update ratios ${JSON.stringify(h.updateRatios)}`);
      assert.ok(h.deadRelu !== null && h.deadRelu >= 0 && h.deadRelu < 0.5, `epoch ${e.epoch} dead ReLU share ${h.deadRelu}`);
      assert.equal(h.nonFinite, false, `epoch ${e.epoch} all finite`);
    }
    const bad = findingsOf(r, c).filter((f) => ['vanishing_gradients', 'exploding_gradients', 'dead_relu', 'non_finite'].includes(f.kind));
    assert.equal(bad.length, 0, `findings on a healthy run: ${kinds(bad)}`);
    const off = await train({}, { health: false });
    try {
      assert.ok(off.epochs.every((e) => e.health === undefined), 'health: false measures nothing');
      off.epochs.forEach((e, i) => assert.equal(e.trainLoss, r.epochs[i]!.trainLoss, `measuring does not change training (epoch ${i + 1})`));
    } finally {
      off.head.dispose();
    }
  } finally {
    r.head.dispose();
  }
});

test('a deep sigmoid head with tiny initial weights trips the vanishing-gradient flag', async () => {
  const c = config({ dropout: 0, epochs: 6 });
  const deep = customHead(Array.from({ length: 4 }, () => ({ units: 32, activation: 'sigmoid' as const, kernelStd: 1e-4, bias: 0 })));
  const r = await train(c, { initialHead: deep });
  try {
    const norms = r.epochs[0]!.health!.gradNorms;
    assert.deepEqual(Object.keys(norms), ['hidden1', 'hidden2', 'hidden3', 'hidden4', 'output'], 'five Dense layers');
    assert.ok(norms.hidden1! < 1e-3 * norms.output!, `first layer ${norms.hidden1} vs output ${norms.output}`);
    assert.equal(r.epochs[0]!.health!.deadRelu, null, 'no ReLU layer, no dead-ReLU share');
    const f = findingsOf(r, c).find((x) => x.kind === 'vanishing_gradients');
    assert.ok(f, `vanishing gradients found (got ${kinds(findingsOf(r, c))})`);
    assert.equal(f.epoch, 1, 'from the first epoch');
    assert.match(f.message, /Vanishing gradients/);
    assert.deepEqual(f.remedy?.patch, { activation: 'leaky_relu', init: 'he' }, 'the remedy for the default activation');
  } finally {
    r.head.dispose();
    deep.dispose();
  }
});

test('a ReLU head pushed below zero by large negative biases trips the dead-ReLU flag; LeakyReLU cannot die', async () => {
  const c = config({ dropout: 0, epochs: 5 });
  const dead = customHead([{ units: 64, activation: 'relu', kernelStd: 0.01, bias: -1000 }]);
  const r = await train(c, { initialHead: dead });
  try {
    assert.ok(r.epochs.every((e) => e.health!.deadRelu! > 0.99), `dead shares ${r.epochs.map((e) => e.health!.deadRelu)}`);
    const f = findingsOf(r, c).find((x) => x.kind === 'dead_relu');
    assert.ok(f, `dead ReLUs found (got ${kinds(findingsOf(r, c))})`);
    assert.equal(f.epoch, 1, 'dead from the first epoch on');
    assert.deepEqual(f.remedy?.patch, { activation: 'leaky_relu' });
    assert.ok(trainConfigSchema.safeParse({ ...c, ...f.remedy!.patch }).success, 'the remedy is a valid config');
  } finally {
    r.head.dispose();
    dead.dispose();
  }
  const leaky = await train({ activation: 'leaky_relu', epochs: 8 });
  try {
    assert.deepEqual(leaky.head.layers.map((l) => l.getClassName()), ['Dropout', 'Dense', 'LeakyReLU', 'Dropout', 'Dense'], 'a LeakyReLU layer follows the hidden Dense');
    assert.ok(leaky.epochs.every((e) => e.health!.deadRelu === null), 'no dead-ReLU share for LeakyReLU');
    const probs = (await predictProbabilities(leaky.head, VAL));
    let hits = 0;
    for (let i = 0; i < VAL.n; i++) {
      const row = Array.from(probs.subarray(i * 4, i * 4 + 4));
      if (row.indexOf(Math.max(...row)) === VAL.y[i]) hits++;
    }
    assert.ok(hits / VAL.n > 0.9, `LeakyReLU head learns: val accuracy ${hits / VAL.n}`);
  } finally {
    leaky.head.dispose();
  }
});

test('a huge learning rate trips the NaN guard: last good weights kept, finite predictions, a non-finite finding offering clipping', async () => {
  const c = config({ optimizer: 'sgd', learningRate: 1e3, schedule: 'constant', epochs: 20, patience: 0, restoreBest: false });
  const before = tf.memory().numTensors;
  const r = await train(c);
  try {
    assert.equal(tf.memory().numTensors, before + r.head.weights.length, 'no tensors left behind');
    assert.ok(r.error, 'an error is reported');
    assert.ok(r.nonFinite, 'the non-finite event is reported');
    assert.ok(r.epochs.length < 20, `${r.epochs.length} epochs ran`);
    assert.equal(r.nonFinite.epoch, r.epochs.length + 1, 'the epoch that blew up is the one after the last recorded');
    for (const w of r.head.getWeights()) assert.ok(w.dataSync().every(Number.isFinite), 'the kept weights are finite');
    assert.ok((await predictProbabilities(r.head, VAL)).every(Number.isFinite), 'the kept head predicts finite probabilities');
    const f = findingsOf(r, c).find((x) => x.kind === 'non_finite');
    assert.ok(f, `non-finite finding (got ${kinds(findingsOf(r, c))})`);
    assert.deepEqual(f.remedy?.patch, { clipNorm: 1 }, 'clipping offered first');
    assert.ok(!findingsOf(r, c).some((x) => x.kind === 'unstable'), 'the diagnosis does not repeat the guard');
  } finally {
    r.head.dispose();
  }
});

test('gradient clipping by norm keeps the same huge-learning-rate run finite', async () => {
  const c = config({ optimizer: 'sgd', learningRate: 1e3, schedule: 'constant', epochs: 10, patience: 0, restoreBest: false, clipNorm: 1 });
  const r = await train(c);
  try {
    assert.equal(r.error, undefined, `no error: ${r.error}`);
    assert.equal(r.epochs.length, 10, 'every epoch ran');
    assert.ok(r.epochs.every((e) => Number.isFinite(e.trainLoss) && Number.isFinite(e.valLoss!) && e.health!.nonFinite === false), 'every epoch finite');
    assert.ok((await predictProbabilities(r.head, VAL)).every(Number.isFinite), 'finite predictions');
    // The steps are bounded but still far too large for these weights: the flag says so.
    const f = findingsOf(r, c);
    assert.ok(f.some((x) => x.kind === 'exploding_gradients'), `exploding flagged despite clipping (got ${kinds(f)})`);
    assert.ok(f.filter((x) => x.kind === 'exploding_gradients').every((x) => 'learningRate' in (x.remedy?.patch ?? {})), 'with clipping on, the remedy lowers the learning rate');
  } finally {
    r.head.dispose();
  }
});

test('the new config fields default to the old behaviour: absent = relu, He init, no clipping', async () => {
  const plain = await train({ epochs: 5 });
  const explicit = await train({ epochs: 5, activation: 'relu', init: 'he', clipNorm: 0 });
  const glorot = await train({ epochs: 5, init: 'glorot' });
  try {
    plain.epochs.forEach((e, i) => {
      assert.equal(explicit.epochs[i]!.trainLoss, e.trainLoss, `epoch ${i + 1} train loss identical`);
      assert.equal(explicit.epochs[i]!.valLoss, e.valLoss, `epoch ${i + 1} val loss identical`);
    });
    assert.notEqual(glorot.epochs[0]!.trainLoss, plain.epochs[0]!.trainLoss, 'glorot initialises differently');
    assert.ok(trainConfigSchema.safeParse(DEFAULT_TRAIN_CONFIG).success, 'the default config still parses');
    assert.equal(trainConfigSchema.safeParse({ ...DEFAULT_TRAIN_CONFIG, activation: 'swish' }).success, false, 'an unknown activation is refused');
  } finally {
    for (const r of [plain, explicit, glorot]) r.head.dispose();
  }
});

test('detectors on recorded epochs: growth of a gradient norm is exploding, an overfitting diagnosis becomes a finding with a remedy', () => {
  const epoch = (n: number, g: number, trainLoss: number, valLoss: number): EpochMetrics => ({
    phase: 'head',
    epoch: n,
    trainLoss,
    trainAccuracy: 0.5,
    valLoss,
    valAccuracy: 0.5,
    learningRate: 0.01,
    seconds: 1,
    health: { gradNorms: { hidden1: g, output: g }, updateRatios: { hidden1: 0.01, output: 0.01 }, deadRelu: 0.1, nonFinite: false },
  });
  const c = config({ dropout: 0.2 });
  const growing = [epoch(1, 1, 1, 1), epoch(2, 10, 0.9, 0.9), epoch(3, 5000, 0.8, 0.8)];
  const f = detectHealth({ epochs: growing, config: c });
  assert.deepEqual(f.map((x) => [x.kind, x.epoch]), [['exploding_gradients', 3]], `findings: ${kinds(f)}`);
  assert.deepEqual(f[0]!.remedy?.patch, { clipNorm: 1 });
  const steady = detectHealth({ epochs: [epoch(1, 1, 1, 1), epoch(2, 2, 0.9, 0.9), epoch(3, 0.5, 0.8, 0.8)], config: c });
  assert.equal(steady.length, 0, `nothing on steady norms: ${kinds(steady)}`);
  const over = detectHealth({ epochs: growing.slice(0, 2), config: c, diagnosis: { kind: 'overfitting', message: 'Overfitting: …' } });
  assert.deepEqual(over.map((x) => x.kind), ['overfitting']);
  assert.deepEqual(over[0]!.remedy?.patch, { dropout: 0.4 }, 'more dropout');
});
