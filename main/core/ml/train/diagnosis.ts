/**
 * Reads a run's training curves and says in plain words what they show: overfitting,
 * underfitting, instability, too few epochs, too little data, or nothing wrong. Each
 * verdict says what it means and what to try.
 *
 * Thresholds are fractions of the curves themselves (the loss's own starting level, its
 * minimum, how far it fell), so that they hold whatever the number of classes, the label
 * smoothing or the loss's scale.
 */
import type { EpochMetrics, RunDiagnosis, RunPhase } from '../../../../shared/contract/training.ts';

/**
 * How the trainer's non-finite guard opens its message. A run keeps that message as its
 * error, with other warnings (files left out, validation held out) after it; only this
 * opening says training blew up, so the trainer writes it and isNonFiniteStop() reads it here.
 */
const STOPPED = 'Training stopped in epoch';
export const stoppedIn = (epoch: number): string => `${STOPPED} ${epoch}: `;
const STOPPED_PATTERN = new RegExp(`^${STOPPED} \\d+: `);

/** Whether a run's error is the non-finite guard's (not a warning such as files left out). */
export function isNonFiniteStop(error: string | null | undefined): boolean {
  return !!error && STOPPED_PATTERN.test(error);
}

export interface DiagnosisCounts {
  /** Training images. */
  train: number;
  /** Validation images; the curves of fewer than MIN_VAL_IMAGES are too noisy to judge. */
  val: number;
  /** Classes, for the chance level of accuracy; without it accuracy is judged against 0. */
  classes?: number;
  /** The optimizer the run used: Adam is only suggested to a run that did not use it. */
  optimizer?: string;
}

/** The advice of an underfitting verdict whose loss hardly moved; health.ts reads it as "learning rate too low". */
export const LEARNING_RATE_TOO_LOW = 'The loss hardly moved, so the learning rate is probably too low: try it 3 to 10 times higher.';

/** Below this many validation images one image moves accuracy by over 5 points: too noisy to judge. */
export const MIN_VAL_IMAGES = 20;

/** A validation loss this far above its minimum (as a fraction of it) has clearly turned upwards. */
const VAL_RISE = 0.1;
/** Train accuracy this far above validation accuracy: the model knows its training images much better than new ones. */
const ACCURACY_GAP = 0.15;
/** Accuracy counts as low below this share of the way from chance to perfect. */
const LOW_ACCURACY_SHARE = 0.6;
/** A loss that fell by less than this share of its first value "barely moved". */
const BARELY_FELL = 0.1;
/** Still improving: the last quarter of the epochs brought at least this share of the total improvement. */
const LATE_IMPROVEMENT_SHARE = 0.05;
/** A jump: the train loss climbs to this multiple of its best so far... */
const JUMP_RATIO = 1.5;
/** ...by at least this share of its first value (ignores wiggles of a loss already near zero). */
const JUMP_SHARE = 0.1;

/**
 * Diagnoses a run from its epochs (both phases, in order), the epoch whose weights it kept
 * (a number refers to the last epoch's phase), its image counts and, when training stopped
 * on a loss that was not a number, that error (TrainResult.error): the epoch that blew up
 * is not among the recorded ones, so the curves alone cannot show it.
 */
export function diagnose(
  epochs: EpochMetrics[],
  bestEpoch: number | { phase: RunPhase; epoch: number } | null,
  counts: DiagnosisCounts,
  trainingError?: string | null,
): RunDiagnosis {
  if (trainingError) {
    const ft = epochs[epochs.length - 1]?.phase === 'finetune';
    return {
      kind: 'unstable',
      message: `Unstable training: ${ft ? 'during fine-tuning, ' : ''}the loss blew up to infinity or "not a number", because each step changed the model far too much. Try a ${ft ? 'fine-tuning learning rate' : 'learning rate'} 10 times lower${ft || counts.optimizer === 'adam' ? '' : ', or the Adam optimizer'}.`,
    };
  }
  const head = epochs.filter((e) => e.phase === 'head');
  const fineTune = epochs.filter((e) => e.phase === 'finetune');
  const lastPhase = epochs[epochs.length - 1]?.phase ?? 'head';
  const best = typeof bestEpoch === 'number' ? { phase: lastPhase, epoch: bestEpoch } : bestEpoch;
  const keptIn = (phase: RunPhase): number | null => (best && best.phase === phase ? best.epoch : null);

  if (epochs.length === 0) {
    if (counts.train < MIN_VAL_IMAGES || counts.val < MIN_VAL_IMAGES) return notEnoughData(counts);
    return {
      kind: 'too-few-epochs',
      message: 'Training stopped before it finished a single epoch, so there is nothing to judge yet. Train again and let it run.',
    };
  }

  const headVerdict = head.length > 0 ? diagnoseCurve(head, keptIn('head'), counts, 'head') : null;
  if (fineTune.length > 0) {
    const fineTuneVerdict = diagnoseCurve(fineTune, keptIn('finetune'), counts, 'finetune');
    // Fine-tuning gets the last word only when it went wrong; otherwise the head's curve tells more.
    if (!headVerdict || fineTuneVerdict.kind === 'unstable' || fineTuneVerdict.kind === 'overfitting') return fineTuneVerdict;
  }
  return headVerdict!;
}

function diagnoseCurve(curve: EpochMetrics[], kept: number | null, counts: DiagnosisCounts, phase: RunPhase): RunDiagnosis {
  const first = curve[0]!;
  const last = curve[curve.length - 1]!;
  const trainLoss = curve.map((e) => e.trainLoss);
  const valLoss = curve.map((e) => e.valLoss);
  const ft = phase === 'finetune';
  const during = ft ? 'During fine-tuning, ' : '';

  // ---- unstable: the loss is not a number, jumps back up instead of settling, or stays far worse than guessing.
  const nonFinite = curve.some((e) => !Number.isFinite(e.trainLoss) || (e.valLoss !== null && !Number.isFinite(e.valLoss)));
  // Averaged over 3 epochs: a small training set gives a noisy loss per epoch without anything being wrong.
  const smoothed = trainLoss.map((_, i) => mean(trainLoss.slice(Math.max(0, i - 2), i + 1)));
  let jumps = 0;
  let lowest = smoothed[0]!;
  for (const loss of smoothed.slice(1)) {
    if (loss > lowest * JUMP_RATIO && loss - lowest > JUMP_SHARE * trainLoss[0]!) jumps++;
    lowest = Math.min(lowest, loss);
  }
  const third = Math.max(1, Math.floor(curve.length / 3));
  const endsAboveStart = curve.length >= 3 && mean(trainLoss.slice(-third)) > mean(trainLoss.slice(0, third));
  // Guessing every class equally likely costs ln(classes), whatever the label smoothing; a model
  // whose best loss is twice that is confidently wrong, which comes from steps far too large.
  const judged = valLoss.every((v) => v !== null) ? (valLoss as number[]) : trainLoss;
  const worseThanGuessing = counts.classes !== undefined && counts.classes > 1 && curve.length >= 3 && Math.min(...judged) > 2 * Math.log(counts.classes);
  if (nonFinite || jumps > 0 || endsAboveStart || worseThanGuessing) {
    const what = nonFinite
      ? 'the loss became infinite or not a number'
      : endsAboveStart
        ? 'the training loss ended higher than it started'
        : jumps > 0
          ? 'the training loss jumped back up instead of settling'
          : 'the loss stayed far worse than guessing at random (the model is confidently wrong)';
    const rate = ft ? 'fine-tuning learning rate' : 'learning rate';
    return {
      kind: 'unstable',
      message: `Unstable training: ${during.toLowerCase()}${what}, because each step changed the model too much. Try a ${rate} 3 to 10 times lower${ft ? ', or fewer unfrozen blocks' : `${counts.optimizer === 'adam' ? '' : ', or the Adam optimizer'}, or a larger batch size`}.`,
    };
  }

  if (counts.val < MIN_VAL_IMAGES || counts.train < MIN_VAL_IMAGES) return notEnoughData(counts);

  // ---- overfitting: better and better on training images, worse on new ones.
  const hasVal = valLoss.every((v) => v !== null && Number.isFinite(v));
  const chance = counts.classes && counts.classes > 0 ? 1 / counts.classes : 0;
  const finalVal = last.valAccuracy ?? last.trainAccuracy;
  const low = chance + LOW_ACCURACY_SHARE * (1 - chance);
  if (hasVal) {
    const v = valLoss as number[];
    const bestIdx = v.indexOf(Math.min(...v));
    const bestVal = v[bestIdx]!;
    const valRose = last.valLoss! > bestVal * (1 + VAL_RISE) && curve.length - 1 - bestIdx >= 2;
    const trainKeptFalling = last.trainLoss < curve[bestIdx]!.trainLoss;
    const gap = last.trainAccuracy - last.valAccuracy!;
    if ((valRose && trainKeptFalling && gap > 0) || (gap > ACCURACY_GAP && last.trainAccuracy >= low)) {
      const turn = valRose ? `after epoch ${bestIdx + 1} the model kept getting better on its training images but worse on the validation images` : `the model gets ${pct(last.trainAccuracy)} of its training images right but only ${pct(last.valAccuracy!)} of the validation images`;
      const keptNote = kept !== null && kept < last.epoch ? ` The saved model uses epoch ${kept}, before it got worse.` : '';
      const fix = ft
        ? 'Try fewer fine-tuning epochs, fewer unfrozen blocks or a lower fine-tuning learning rate; more labelled images help most.'
        : 'Try more dropout or L2, a smaller hidden layer (or none), or more labelled images.';
      return {
        kind: 'overfitting',
        message: `Overfitting: ${during.toLowerCase()}${turn}; it is memorising them instead of learning what tells the classes apart.${keptNote} ${fix}`,
      };
    }
  }

  // ---- underfitting and too few epochs: not even the training images are learnt well, or not yet.
  const accuracyLow = last.trainAccuracy < low && finalVal < low;
  const barelyFell = first.trainLoss - Math.min(...trainLoss) < BARELY_FELL * first.trainLoss;
  const underfitting = (fix: string): RunDiagnosis => ({
    kind: 'underfitting',
    message: `Underfitting: ${during.toLowerCase()}the model gets only ${pct(last.trainAccuracy)} of the training images and ${pct(finalVal)} of the validation images right; it has not learnt what tells the classes apart. ${fix}`,
  });
  if (accuracyLow && barelyFell && curve.length >= 3) {
    return underfitting(LEARNING_RATE_TOO_LOW);
  }

  const monitored = hasVal ? (valLoss as number[]) : trainLoss;
  const bestIdx = monitored.indexOf(Math.min(...monitored));
  const quarter = Math.max(1, Math.ceil(curve.length / 4));
  const totalGain = monitored[0]! - monitored[monitored.length - 1]!;
  const lateGain = monitored[Math.max(0, monitored.length - 1 - quarter)]! - monitored[monitored.length - 1]!;
  const stillImproving = curve.length < 3 || (bestIdx >= curve.length - 2 && totalGain > 0 && lateGain > LATE_IMPROVEMENT_SHARE * totalGain);
  if (stillImproving) {
    return {
      kind: 'too-few-epochs',
      message: `${ft ? 'During fine-tuning, the' : 'The'} ${hasVal ? 'validation' : 'training'} loss was still going down at the last epoch, so the model had not finished learning. Try more ${ft ? 'fine-tuning ' : ''}epochs; early stopping ends training once it stops improving.`,
    };
  }
  if (accuracyLow) {
    return underfitting(`Try a higher learning rate, more epochs, ${ft ? 'more unfrozen blocks' : 'a hidden layer (or a wider one)'}, or less dropout and L2.`);
  }

  return {
    kind: 'good',
    message: `The curves look healthy: the model learnt steadily and ${hasVal ? `gets ${pct(finalVal)} of the validation images right without memorising the training images` : 'settled'}. To do better, label more images${ft ? '' : ', or try fine-tuning or a larger backbone'}.`,
  };
}

function notEnoughData(counts: DiagnosisCounts): RunDiagnosis {
  if (counts.val === 0) {
    return {
      kind: 'not-enough-data',
      message: 'There are no validation images, so Seedbed cannot check how the model does on images it has not seen, and early stopping is off. Label more images so that some go to the validation split.',
    };
  }
  if (counts.val < MIN_VAL_IMAGES) {
    return {
      kind: 'not-enough-data',
      message: `Only ${counts.val} validation image${counts.val === 1 ? '' : 's'}: each one moves the accuracy by ${pct(1 / counts.val)}, so these curves and scores are mostly chance. Label more images, aiming for at least ${MIN_VAL_IMAGES} in validation.`,
    };
  }
  return {
    kind: 'not-enough-data',
    message: `Only ${counts.train} training image${counts.train === 1 ? '' : 's'}: too few for the model to learn what tells the classes apart. Label more images, ideally dozens per class.`,
  };
}

function mean(values: number[]): number {
  return values.reduce((a, v) => a + v, 0) / values.length;
}

function pct(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}
