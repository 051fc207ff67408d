/**
 * Final metrics of a trained classifier on one split, from its predicted probabilities.
 * Pure arithmetic on arrays: no tensors.
 */
import type { ClassMetrics, SplitMetrics } from '../../../../shared/contract/training.ts';
import { CoreError } from '../../errors.ts';

/**
 * Probabilities below this count as this in the loss, so that one confidently wrong image
 * gives a large but finite loss (Keras clips the same way).
 */
export const PROBABILITY_FLOOR = 1e-7;

/**
 * Accuracy, macro-F1, mean cross-entropy, per-class precision/recall/F1/support and the
 * confusion matrix (confusion[true][predicted]) of `probs` ([n × classes.length], row-major)
 * against the true class indices `y`.
 *
 * Conventions: the predicted class is the most probable one (the lower index on a tie). A
 * class never predicted has precision 0; a class without images has recall 0 and is left
 * out of macro-F1, which averages F1 over the classes with support > 0. An empty split
 * gives zeros everywhere.
 */
export function evaluate(probs: Float32Array, y: Int32Array, classes: string[]): SplitMetrics {
  const k = classes.length;
  const n = y.length;
  if (k === 0) throw new CoreError('invalid_input', 'Cannot evaluate a classifier without classes.');
  if (probs.length !== n * k) {
    throw new CoreError(
      'internal',
      `Evaluation got ${probs.length} probabilities for ${n} images and ${k} classes; expected ${n * k}.`,
    );
  }
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  let lossSum = 0;
  for (let i = 0; i < n; i++) {
    const truth = y[i]!;
    if (!Number.isInteger(truth) || truth < 0 || truth >= k) {
      throw new CoreError('internal', `Image ${i} has class index ${truth}, outside the ${k} classes (${classes.join(', ')}).`);
    }
    let predicted = 0;
    let best = -Infinity;
    for (let c = 0; c < k; c++) {
      const p = probs[i * k + c]!;
      if (p > best) {
        best = p;
        predicted = c;
      }
    }
    confusion[truth]![predicted]!++;
    if (predicted === truth) correct++;
    lossSum -= Math.log(Math.max(probs[i * k + truth]!, PROBABILITY_FLOOR));
  }

  const perClass: Record<string, ClassMetrics> = {};
  let f1Sum = 0;
  let supported = 0;
  for (let c = 0; c < k; c++) {
    const truePositives = confusion[c]![c]!;
    let support = 0;
    let predictedCount = 0;
    for (let j = 0; j < k; j++) {
      support += confusion[c]![j]!;
      predictedCount += confusion[j]![c]!;
    }
    const precision = predictedCount > 0 ? truePositives / predictedCount : 0;
    const recall = support > 0 ? truePositives / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perClass[classes[c]!] = { precision, recall, f1, support };
    if (support > 0) {
      f1Sum += f1;
      supported++;
    }
  }

  return {
    count: n,
    accuracy: n > 0 ? correct / n : 0,
    macroF1: supported > 0 ? f1Sum / supported : 0,
    loss: n > 0 ? lossSum / n : 0,
    perClass,
    confusion,
  };
}
