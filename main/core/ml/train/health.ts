/**
 * Reads the per-epoch health measurements of a run (EpochMetrics.health) and says what went
 * wrong inside training, in plain words, with a one-click remedy where one exists: vanishing
 * or exploding gradients, dead ReLUs, values that overflowed. The run's one-line diagnosis
 * (diagnosis.ts: overfitting, underfitting, instability) is folded in as findings too, so
 * that a caller shows one list; the diagnosis itself is not recomputed here.
 *
 * Thresholds are relative to the run's own figures (its first epoch, its output layer), so
 * that they hold whatever the data's scale, the number of features or the batch size.
 */
import type { EpochMetrics, HealthFinding, HealthKind, RunDiagnosis, RunPhase, TrainConfig } from '../../../../shared/contract/training.ts';
import { LEARNING_RATE_TOO_LOW } from './diagnosis.ts';

export type { HealthFinding, HealthKind };

/** Vanishing: the first layer's gradient is below this fraction of the output layer's... */
export const VANISHING_LAYER_RATIO = 1e-3;
/** ...or fell below this fraction of its own first-epoch value while the loss had not fallen much. */
export const VANISHING_DECAY = 1e-4;
/** A loss still above this share of its first value has not been learnt: a shrinking gradient there is not convergence. */
const NOT_LEARNT_SHARE = 0.5;
/** Exploding: a layer's gradient norm grows to this multiple of its first-epoch value... */
export const EXPLODING_GROWTH = 1e3;
/** ...or one epoch changes a layer's weights by more than their own size (from the second epoch on; the first starts from a small random init). */
export const EXPLODING_UPDATE_RATIO = 1;
/** Dead ReLU: more than this share of hidden units never fire, up to the last epoch. */
export const DEAD_RELU_SHARE = 0.5;

export interface HealthInput {
  /** The run's epochs, both phases, in order. */
  epochs: EpochMetrics[];
  /** The config the run trained with (remedies are patches of it). */
  config: TrainConfig;
  /** The one-line diagnosis of the run (diagnose()), whose overfitting/underfitting/unstable verdicts become findings. */
  diagnosis?: RunDiagnosis | null;
  /** TrainResult.error / the run's error when training stopped on the non-finite guard. */
  trainingError?: string | null;
  /** TrainResult.nonFinite, when known: which epoch blew up and what. */
  nonFinite?: { epoch: number; what: string } | null;
}

/** Every finding of a run, at most one per kind and phase, in the order they first appeared. */
export function detectHealth(input: HealthInput): HealthFinding[] {
  const { epochs, config } = input;
  const findings: HealthFinding[] = [];
  for (const phase of ['head', 'finetune'] as const) {
    const curve = epochs.filter((e) => e.phase === phase);
    if (curve.length === 0) continue;
    const f = [vanishing(curve, config, phase), exploding(curve, config, phase), deadRelu(curve, config, phase), nonFiniteMeasured(curve, config, phase)];
    for (const x of f) if (x) findings.push(x);
  }
  const lastPhase: RunPhase = epochs[epochs.length - 1]?.phase ?? 'head';
  if (input.trainingError || input.nonFinite) {
    const at = input.nonFinite?.epoch ?? epochs.filter((e) => e.phase === lastPhase).length + 1;
    const what = input.nonFinite?.what ?? 'loss';
    if (!findings.some((x) => x.kind === 'non_finite' && x.phase === lastPhase)) {
      findings.push({
        kind: 'non_finite',
        phase: lastPhase,
        epoch: at,
        message: `In epoch ${at} the ${what === 'weights' ? "model's weights" : what} became infinite or "not a number": the training steps grew so large that the numbers overflowed. Training stopped there and the model kept its last good weights.`,
        remedy: stabilise(config, lastPhase),
      });
    }
  }
  const fromDiagnosis = diagnosisFinding(input.diagnosis ?? null, epochs, config, lastPhase, input.trainingError ?? null);
  if (fromDiagnosis) findings.push(fromDiagnosis);
  return findings;
}

// ---------- detectors over the recorded measurements ----------

function layersOf(curve: EpochMetrics[]): string[] {
  return Object.keys(curve.find((e) => e.health)?.health?.gradNorms ?? {});
}

function vanishing(curve: EpochMetrics[], config: TrainConfig, phase: RunPhase): HealthFinding | null {
  const layers = layersOf(curve);
  if (layers.length < 2) return null;
  const firstLayer = layers[0]!;
  const outputLayer = layers[layers.length - 1]!;
  const start = curve.find((e) => Number.isFinite(e.health?.gradNorms[firstLayer]));
  const startNorm = start?.health?.gradNorms[firstLayer] ?? NaN;
  const firstLoss = curve[0]!.trainLoss;
  for (const e of curve) {
    const g = e.health?.gradNorms;
    if (!g) continue;
    const first = g[firstLayer]!;
    const out = g[outputLayer]!;
    if (!Number.isFinite(first) || !Number.isFinite(out)) continue;
    const belowOutput = out > 0 && first < VANISHING_LAYER_RATIO * out;
    const notLearnt = e.trainLoss > NOT_LEARNT_SHARE * firstLoss;
    const decayed = startNorm > 0 && first < VANISHING_DECAY * startNorm && notLearnt;
    if (!belowOutput && !decayed) continue;
    const how = belowOutput
      ? `the first layer gets a learning signal ${ratio(out / Math.max(first, Number.MIN_VALUE))} weaker than the last one`
      : `the first layer's learning signal fell ${ratio(startNorm / Math.max(first, Number.MIN_VALUE))} since epoch ${start!.epoch} while the loss hardly fell`;
    return {
      kind: 'vanishing_gradients',
      phase,
      epoch: e.epoch,
      message: `Vanishing gradients from epoch ${e.epoch}: ${how}, so the early layers of the classifier barely learn. This comes from weights that start too small or activations that flatten out.`,
      remedy: vanishingRemedy(config),
    };
  }
  return null;
}

function vanishingRemedy(config: TrainConfig): HealthFinding['remedy'] {
  if (config.init === 'glorot') return { label: 'Use He initialisation', patch: { init: 'he' } };
  if ((config.activation ?? 'relu') === 'relu') return { label: 'Use LeakyReLU in the hidden layer', patch: { activation: 'leaky_relu', init: 'he' } };
  if (config.hiddenUnits > 0) return { label: 'Remove the hidden layer', patch: { hiddenUnits: 0 } };
  return undefined;
}

function exploding(curve: EpochMetrics[], config: TrainConfig, phase: RunPhase): HealthFinding | null {
  const layers = layersOf(curve);
  if (layers.length === 0) return null;
  const startNorms = new Map<string, number>();
  for (const layer of layers) {
    const v = curve.find((e) => Number.isFinite(e.health?.gradNorms[layer]))?.health?.gradNorms[layer];
    if (v !== undefined && v > 0) startNorms.set(layer, v);
  }
  for (const [i, e] of curve.entries()) {
    const h = e.health;
    if (!h) continue;
    for (const layer of layers) {
      const g = h.gradNorms[layer]!;
      const start = startNorms.get(layer);
      const grew = start !== undefined && Number.isFinite(g) && g > EXPLODING_GROWTH * start;
      const u = h.updateRatios[layer]!;
      const bigStep = i > 0 && Number.isFinite(u) && u > EXPLODING_UPDATE_RATIO;
      if (!grew && !bigStep) continue;
      const how = grew
        ? `the learning signal of layer ${layer} grew ${ratio(g / start!)} since the first epoch`
        : `one epoch changed the weights of layer ${layer} by ${ratio(u)} their own size`;
      return {
        kind: 'exploding_gradients',
        phase,
        epoch: e.epoch,
        message: `Exploding gradients in epoch ${e.epoch}: ${how}. Steps that large throw away what the model learnt and can end in numbers that overflow.`,
        remedy: stabilise(config, phase),
      };
    }
  }
  return null;
}

function deadRelu(curve: EpochMetrics[], config: TrainConfig, phase: RunPhase): HealthFinding | null {
  const last = curve[curve.length - 1]!;
  const share = last.health?.deadRelu;
  if (share === null || share === undefined || !(share > DEAD_RELU_SHARE)) return null;
  // The first epoch from which the share stayed above the threshold: units that came back were not dead.
  let from = last;
  for (let i = curve.length - 1; i >= 0; i--) {
    const s = curve[i]!.health?.deadRelu;
    if (s === null || s === undefined || !(s > DEAD_RELU_SHARE)) break;
    from = curve[i]!;
  }
  const remedy: HealthFinding['remedy'] =
    (config.activation ?? 'relu') === 'relu'
      ? { label: 'Use LeakyReLU in the hidden layer', patch: { activation: 'leaky_relu' } }
      : { label: 'Lower the learning rate 10×', patch: lowerRate(config, phase) };
  return {
    kind: 'dead_relu',
    phase,
    epoch: from.epoch,
    message: `Dead units: ${Math.round(share * 100)}% of the hidden layer's units never switch on for the validation images, so they output nothing and can no longer learn. A learning rate that is too high or a bad start pushes them there.`,
    remedy,
  };
}

function nonFiniteMeasured(curve: EpochMetrics[], config: TrainConfig, phase: RunPhase): HealthFinding | null {
  const e = curve.find((x) => x.health?.nonFinite);
  if (!e) return null;
  return {
    kind: 'non_finite',
    phase,
    epoch: e.epoch,
    message: `In epoch ${e.epoch} the size of a training step overflowed to infinity or "not a number": the steps are far too large.`,
    remedy: stabilise(config, phase),
  };
}

// ---------- the run's diagnosis as a finding ----------

function diagnosisFinding(d: RunDiagnosis | null, epochs: EpochMetrics[], config: TrainConfig, phase: RunPhase, trainingError: string | null): HealthFinding | null {
  if (!d) return null;
  const curve = epochs.filter((e) => e.phase === phase);
  const lastEpoch = curve[curve.length - 1]?.epoch ?? 1;
  switch (d.kind) {
    case 'overfitting': {
      const remedy: HealthFinding['remedy'] =
        phase === 'finetune'
          ? { label: 'Fewer fine-tuning epochs', patch: { fineTuneEpochs: Math.max(1, Math.ceil(config.fineTuneEpochs / 2)) } }
          : config.dropout < 0.5
            ? { label: 'More dropout', patch: { dropout: Math.min(0.9, round(config.dropout + 0.2)) } }
            : { label: 'Stronger L2 penalty', patch: { l2: Math.min(1, config.l2 > 0 ? config.l2 * 10 : 1e-3) } };
      return { kind: 'overfitting', phase, epoch: lastEpoch, message: d.message, remedy };
    }
    case 'underfitting': {
      if (d.message.includes(LEARNING_RATE_TOO_LOW)) {
        const patch: Partial<TrainConfig> =
          phase === 'finetune' ? { fineTuneLearningRate: Math.min(1, config.fineTuneLearningRate * 3) } : { learningRate: Math.min(10, config.learningRate * 3) };
        return { kind: 'lr_too_low', phase, epoch: lastEpoch, message: d.message, remedy: { label: 'Raise the learning rate 3×', patch } };
      }
      const remedy: HealthFinding['remedy'] =
        config.hiddenUnits === 0
          ? { label: 'Add a hidden layer', patch: { hiddenUnits: 256 } }
          : config.dropout > 0.2 || config.l2 > 1e-4
            ? { label: 'Less dropout and L2', patch: { dropout: Math.max(0, round(config.dropout - 0.2)), l2: config.l2 / 10 } }
            : { label: 'More epochs', patch: { epochs: Math.min(1000, config.epochs * 2) } };
      return { kind: 'underfitting', phase, epoch: lastEpoch, message: d.message, remedy };
    }
    case 'unstable':
      // The non-finite guard already gave its own finding.
      if (trainingError) return null;
      return { kind: 'unstable', phase, epoch: lastEpoch, message: d.message, remedy: stabilise(config, phase) };
    default:
      return null;
  }
}

// ---------- remedies ----------

/** Gradient clipping first (it keeps the learning rate), a 10× lower learning rate when clipping is already on. */
function stabilise(config: TrainConfig, phase: RunPhase): HealthFinding['remedy'] {
  if (!(config.clipNorm && config.clipNorm > 0)) return { label: 'Turn on gradient clipping', patch: { clipNorm: 1 } };
  return { label: 'Lower the learning rate 10×', patch: lowerRate(config, phase) };
}

function lowerRate(config: TrainConfig, phase: RunPhase): Partial<TrainConfig> {
  return phase === 'finetune' ? { fineTuneLearningRate: config.fineTuneLearningRate / 10 } : { learningRate: config.learningRate / 10 };
}

function ratio(x: number): string {
  if (!Number.isFinite(x)) return 'immeasurably';
  if (x >= 100) return `${Number(x.toPrecision(1)).toExponential(0).replace('e+', '×10^')} times`;
  return `${Number(x.toPrecision(2))} times`;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
