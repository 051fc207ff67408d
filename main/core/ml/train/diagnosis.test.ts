import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { DEFAULT_TRAIN_CONFIG, type EpochMetrics, type RunPhase, type TrainConfig } from '../../../../shared/contract/training.ts';
import { chooseBackend } from '../runtime.ts';
import { diagnose, MIN_VAL_IMAGES } from './diagnosis.ts';
import { gaussianClusters } from './synthetic-data.ts';
import { trainClassifier } from './trainer.ts';

interface Curve {
  trainLoss: number[];
  valLoss?: (number | null)[];
  trainAccuracy: number[] | number;
  valAccuracy?: number[] | number;
}

/** Epoch metrics from plain arrays; a single accuracy number holds for every epoch. */
function epochs({ trainLoss, valLoss, trainAccuracy, valAccuracy }: Curve, phase: RunPhase = 'head'): EpochMetrics[] {
  const at = (v: number[] | number | undefined, i: number): number | null => (v === undefined ? null : typeof v === 'number' ? v : v[i]!);
  return trainLoss.map((loss, i) => ({
    phase,
    epoch: i + 1,
    trainLoss: loss,
    trainAccuracy: at(trainAccuracy, i)!,
    valLoss: valLoss ? (valLoss[i] ?? null) : null,
    valAccuracy: valLoss ? at(valAccuracy, i) : null,
    learningRate: 1e-3,
    seconds: 0.1,
  }));
}

const range = (n: number, f: (e: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i + 1));
const COUNTS = { train: 500, val: 100, classes: 4 };

// Loss curves that fall like a real run's: fast at first, then levelling off.
const settling = (n: number, floor: number, drop: number): number[] => range(n, (e) => floor + drop * Math.exp(-e / 3));

const GOOD: Curve = { trainLoss: settling(20, 0.4, 0.8), valLoss: settling(20, 0.45, 0.65), trainAccuracy: 0.9, valAccuracy: 0.88 };
const OVERFIT: Curve = {
  trainLoss: range(20, (e) => 1.2 * Math.exp(-e / 4)),
  valLoss: range(20, (e) => (e <= 8 ? 0.5 + 0.6 * (8 - e) / 7 : 0.5 + 0.05 * (e - 8))),
  trainAccuracy: range(20, (e) => Math.min(1, 0.6 + 0.04 * e)),
  valAccuracy: range(20, (e) => (e <= 8 ? 0.5 + 0.035 * e : 0.78)),
};
const UNDERFIT_LOW_LR: Curve = { trainLoss: range(20, (e) => 1.386 - 0.001 * e), valLoss: range(20, (e) => 1.39 - 0.001 * e), trainAccuracy: 0.3, valAccuracy: 0.29 };
const UNDERFIT_WEAK: Curve = { trainLoss: settling(30, 1.0, 0.6), valLoss: settling(30, 1.02, 0.55), trainAccuracy: 0.52, valAccuracy: 0.5 };
const TOO_SHORT: Curve = { trainLoss: [1.3, 1.0, 0.85, 0.75, 0.68], valLoss: [1.2, 0.95, 0.8, 0.7, 0.62], trainAccuracy: [0.4, 0.55, 0.65, 0.7, 0.74], valAccuracy: [0.45, 0.6, 0.68, 0.72, 0.76] };
const JUMPY: Curve = {
  trainLoss: [1.2, 0.8, 0.6, 0.55, 1.6, 1.9, 0.9, 0.7, 2.2, 2.4, 0.6, 0.5, 0.45, 0.5, 0.45],
  valLoss: [1.1, 0.8, 0.6, 0.6, 1.5, 1.8, 0.9, 0.7, 2.0, 2.3, 0.7, 0.6, 0.55, 0.6, 0.55],
  trainAccuracy: 0.7,
  valAccuracy: 0.7,
};

test('healthy curves are called good, and the message says what would help next', () => {
  const d = diagnose(epochs(GOOD), 20, COUNTS);
  assert.equal(d.kind, 'good', d.message);
  assert.match(d.message, /88% of the validation images/);
  assert.match(d.message, /label more images/);
});

test('overfitting: the val loss turns up while the train loss keeps falling; the message names the kept epoch and what to try', () => {
  const d = diagnose(epochs(OVERFIT), 8, COUNTS);
  assert.equal(d.kind, 'overfitting', d.message);
  assert.match(d.message, /after epoch 8/);
  assert.match(d.message, /saved model uses epoch 8/);
  assert.match(d.message, /dropout|L2/);
  // Without restore-best the last epoch is kept: no claim about a saved earlier epoch.
  assert.doesNotMatch(diagnose(epochs(OVERFIT), { phase: 'head', epoch: 20 }, COUNTS).message, /saved model uses/);
  // A large accuracy gap alone is overfitting too.
  const gap = diagnose(epochs({ ...GOOD, trainAccuracy: 0.99, valAccuracy: 0.7 }), 20, COUNTS);
  assert.equal(gap.kind, 'overfitting', gap.message);
  assert.match(gap.message, /99% of its training images right but only 70%/);
});

test('underfitting: low accuracy on both sides; a loss that hardly moves points at the learning rate, a plateau at the model', () => {
  const slow = diagnose(epochs(UNDERFIT_LOW_LR), 20, COUNTS);
  assert.equal(slow.kind, 'underfitting', slow.message);
  assert.match(slow.message, /learning rate is probably too low/);
  const weak = diagnose(epochs(UNDERFIT_WEAK), 30, COUNTS);
  assert.equal(weak.kind, 'underfitting', weak.message);
  assert.match(weak.message, /hidden layer/);
  assert.match(weak.message, /52% of the training images and 50% of the validation images/);
  // Heavy regularisation gives a gap with both accuracies low: that is underfitting, not overfitting.
  assert.equal(diagnose(epochs({ ...UNDERFIT_WEAK, trainAccuracy: 0.57, valAccuracy: 0.4 }), 30, COUNTS).kind, 'underfitting');
});

test('too few epochs: still improving at the last epoch', () => {
  const d = diagnose(epochs(TOO_SHORT), 5, COUNTS);
  assert.equal(d.kind, 'too-few-epochs', d.message);
  assert.match(d.message, /more epochs/);
  // Without validation data the train loss is what is judged.
  const noVal = diagnose(epochs({ trainLoss: TOO_SHORT.trainLoss, trainAccuracy: TOO_SHORT.trainAccuracy }), 5, { ...COUNTS, val: 100 });
  assert.equal(noVal.kind, 'too-few-epochs');
  assert.match(noVal.message, /training loss/);
  // A run that ended by itself after improvements dried up is not "too short".
  assert.notEqual(diagnose(epochs(GOOD), 20, COUNTS).kind, 'too-few-epochs');
});

test('unstable: a loss that jumps back up, ends above its start, stays far worse than guessing, or blew up', () => {
  const jumpy = diagnose(epochs(JUMPY), 4, COUNTS);
  assert.equal(jumpy.kind, 'unstable', jumpy.message);
  assert.match(jumpy.message, /jumped back up/);
  assert.match(jumpy.message, /learning rate 3 to 10 times lower/);
  const rising = diagnose(epochs({ trainLoss: [1.0, 1.5, 2.5, 4, 7], valLoss: [1.0, 1.6, 2.6, 4.2, 7.5], trainAccuracy: 0.3, valAccuracy: 0.3 }), 1, COUNTS);
  assert.equal(rising.kind, 'unstable');
  assert.match(rising.message, /ended higher than it started/);
  // ln(4) = 1.39: a best loss of 20 is confidently wrong.
  const wild = diagnose(epochs({ trainLoss: range(10, (e) => 60 - e * 4), valLoss: range(10, (e) => 40 - e), trainAccuracy: 0.6, valAccuracy: 0.6 }), 10, COUNTS);
  assert.equal(wild.kind, 'unstable');
  assert.match(wild.message, /worse than guessing/);
  const nan = diagnose(epochs({ ...GOOD, valLoss: [...GOOD.valLoss!.slice(0, 19), Number.NaN] }), 19, COUNTS);
  assert.equal(nan.kind, 'unstable');
  const blewUp = diagnose(epochs({ trainLoss: [1.3], valLoss: [1.2], trainAccuracy: 0.3, valAccuracy: 0.3 }), 1, COUNTS, 'Training stopped in epoch 2: the loss became infinite or not a number…');
  assert.equal(blewUp.kind, 'unstable');
  assert.match(blewUp.message, /10 times lower/);
});

test('a noisy but healthy small-data curve is not called unstable', () => {
  // A real run: 36 training images, 2 batches per epoch, dropout 0.5 — each epoch's train loss is noisy.
  const trainLoss = [3.704, 2.763, 2.774, 1.835, 1.753, 1.923, 1.438, 1.28, 1.427, 1.016, 1.108, 0.853, 0.889, 1.377, 0.99, 1.032];
  const valLoss = [2.377, 2.031, 1.783, 1.613, 1.479, 1.386, 1.337, 1.329, 1.339, 1.361, 1.391, 1.425, 1.44, 1.451, 1.457, 1.464];
  const trainAccuracy = [0.19, 0.31, 0.28, 0.42, 0.44, 0.53, 0.58, 0.69, 0.58, 0.78, 0.69, 0.86, 0.78, 0.61, 0.78, 0.75];
  const valAccuracy = [0.29, 0.38, 0.42, 0.5, 0.5, 0.54, 0.5, 0.58, 0.54, 0.58, 0.63, 0.58, 0.58, 0.58, 0.58, 0.58];
  const d = diagnose(epochs({ trainLoss, valLoss, trainAccuracy, valAccuracy }), 8, { train: 36, val: 24, classes: 6 });
  assert.equal(d.kind, 'overfitting', d.message);
});

test(`not enough data: fewer than ${MIN_VAL_IMAGES} validation images, none at all, or too few training images`, () => {
  const few = diagnose(epochs(OVERFIT), 8, { train: 500, val: 12 });
  assert.equal(few.kind, 'not-enough-data');
  assert.match(few.message, /Only 12 validation images/);
  assert.match(few.message, /8%/);
  const none = diagnose(epochs({ trainLoss: GOOD.trainLoss, trainAccuracy: 0.9 }), 20, { train: 500, val: 0 });
  assert.equal(none.kind, 'not-enough-data');
  assert.match(none.message, /no validation images/);
  assert.match(diagnose(epochs(GOOD), 20, { train: 10, val: 40 }).message, /Only 10 training images/);
  // A blow-up is still reported as such, whatever the data.
  assert.equal(diagnose(epochs(JUMPY), 4, { train: 10, val: 5 }).kind, 'unstable');
});

test('the thresholds are relative: scaling every loss leaves each verdict unchanged', () => {
  const cases: [Curve, number][] = [
    [GOOD, 20],
    [OVERFIT, 8],
    [UNDERFIT_LOW_LR, 20],
    [UNDERFIT_WEAK, 30],
    [TOO_SHORT, 5],
    [JUMPY, 4],
  ];
  // Without a class count: the chance-level rule, the one absolute yardstick, is off.
  const counts = { train: 500, val: 100 };
  for (const [curve, best] of cases) {
    const kind = diagnose(epochs(curve), best, counts).kind;
    for (const factor of [0.1, 7]) {
      const scaled = { ...curve, trainLoss: curve.trainLoss.map((v) => v * factor), valLoss: curve.valLoss?.map((v) => (v === null ? null : v * factor)) };
      assert.equal(diagnose(epochs(scaled), best, counts).kind, kind, `losses × ${factor}`);
    }
  }
});

test('fine-tuning: a phase that went wrong gets the last word; otherwise the head\'s curve speaks', () => {
  const head = epochs(GOOD);
  const badFineTune = epochs({ trainLoss: [0.5, 1.2, 2.5, 4.0], valLoss: [0.5, 1.3, 2.8, 4.1], trainAccuracy: 0.8, valAccuracy: 0.8 }, 'finetune');
  const d = diagnose([...head, ...badFineTune], { phase: 'head', epoch: 20 }, COUNTS);
  assert.equal(d.kind, 'unstable');
  assert.match(d.message, /during fine-tuning/);
  assert.match(d.message, /fine-tuning learning rate/);
  const calmFineTune = epochs({ trainLoss: [0.4, 0.39, 0.385, 0.383], valLoss: [0.45, 0.44, 0.438, 0.437], trainAccuracy: 0.9, valAccuracy: 0.9 }, 'finetune');
  assert.equal(diagnose([...head, ...calmFineTune], { phase: 'finetune', epoch: 4 }, COUNTS).kind, 'good');
  assert.equal(diagnose([], null, COUNTS).kind, 'too-few-epochs');
});

// ---------- curves from real training runs ----------

const TRAIN = gaussianClusters({ n: 400, classes: 4, dims: 16, seed: 1, separation: 1.5 });
const VAL = gaussianClusters({ n: 200, classes: 4, dims: 16, seed: 2, separation: 1.5 });

async function diagnosisOf(patch: Partial<TrainConfig>): Promise<ReturnType<typeof diagnose>> {
  const r = await trainClassifier({ train: TRAIN, val: VAL, numClasses: 4, config: { ...DEFAULT_TRAIN_CONFIG, ...patch }, phase: 'head' });
  r.head.dispose();
  return diagnose(r.epochs, r.bestEpoch, { train: TRAIN.n, val: VAL.n, classes: 4 }, r.error);
}

before(async () => {
  await chooseBackend();
});

test('real training runs get the verdict their config was built for', async () => {
  assert.equal((await diagnosisOf({})).kind, 'good', 'the default config');
  assert.equal((await diagnosisOf({ hiddenUnits: 1024, dropout: 0, l2: 0, learningRate: 0.01, labelSmoothing: 0, schedule: 'constant' })).kind, 'overfitting', 'a config built to overfit');
  assert.equal((await diagnosisOf({ learningRate: 1e-6, epochs: 20 })).kind, 'underfitting', 'a learning rate far too low');
  assert.equal((await diagnosisOf({ epochs: 4 })).kind, 'too-few-epochs', 'four epochs');
  assert.equal((await diagnosisOf({ optimizer: 'sgd', learningRate: 10 })).kind, 'unstable', 'a learning rate far too high');
});
