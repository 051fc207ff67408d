/**
 * Evaluation metrics of a classifier's predicted probabilities: headline numbers, per-class
 * metrics and confusion, one-vs-rest ROC and precision–recall curves, and bootstrap intervals.
 * Pure arithmetic on arrays: no tensors, no I/O.
 *
 * Inputs everywhere: `probs` row-major [n × k], `y` the true class indices (0..k-1).
 * Conventions shared with main/core/ml/train/metrics.ts (training's final metrics), so that a run's
 * numbers agree between its training summary and its evaluation:
 * - the predicted class is the most probable one, the lower index on a tie;
 * - a class never predicted has precision 0; a class without images has recall 0;
 * - balanced accuracy and macro-F1 average over the classes WITH IMAGES (support > 0).
 *   scikit-learn's f1_score(average='macro') instead averages over the labels present in y_true
 *   or y_pred, so a class with no images that the model predicts anyway adds an F1 of 0 there.
 *   We leave it out: the question a user asks is "how well are the classes in this set
 *   recognised", and a class absent from the set should not move that number; its wrong
 *   predictions already lower the precision (and so the F1) of the classes they were taken from.
 *   balanced_accuracy_score in scikit-learn averages recall over y_true's classes: the same as ours.
 * - an empty set gives zeros (and no curves).
 */
import type { ClassCurves, ClassMetrics, HeadlineMetrics, MetricInterval } from '../../../shared/contract/evaluation.ts';
import { CoreError } from '../errors.ts';
import { SeededRandom } from '../ml/train/prng.ts';

export type HeadlineReport = HeadlineMetrics & {
  /** In class-index order. */
  perClass: ClassMetrics[];
  /** confusion[true][predicted], counts. */
  confusion: number[][];
  /** Each confusion row divided by its total; an empty row stays zeros. */
  confusionNormalised: number[][];
};

export type HeadlineIntervals = { [K in keyof HeadlineMetrics]: MetricInterval };

export interface BootstrapOptions {
  /** Resampled sets; 1000 unless given. */
  samples?: number;
  /** Seed of the resampling; 1 unless given. */
  seed?: number;
}

/** Accuracy, balanced accuracy, macro/weighted F1, per-class metrics and the confusion matrix. */
export function headlineMetrics(probs: Float32Array, y: Int32Array, k: number): HeadlineReport {
  checkInput(probs, y, k);
  const predicted = predictedClasses(probs, y.length, k);
  const counts = confusionCounts(y, predicted, k);
  const headline = headlineFromConfusion(counts, k, y.length);

  const confusion: number[][] = [];
  const confusionNormalised: number[][] = [];
  const perClass: ClassMetrics[] = [];
  for (let t = 0; t < k; t++) {
    const row = Array.from(counts.subarray(t * k, (t + 1) * k));
    const total = row.reduce((a, b) => a + b, 0);
    confusion.push(row);
    confusionNormalised.push(row.map((count) => (total > 0 ? count / total : 0)));
  }
  for (let c = 0; c < k; c++) {
    const { precision, recall, f1, support } = classMetrics(counts, k, c);
    perClass.push({ precision, recall, f1, support });
  }
  return { ...headline, perClass, confusion, confusionNormalised };
}

/**
 * One-vs-rest ROC and precision–recall curves per class, as scikit-learn's roc_curve
 * (drop_intermediate=False) and precision_recall_curve compute them, with one point per distinct
 * score (tied scores make one step, never a staircase that depends on image order).
 *
 * scikit-learn puts the first ROC point (0,0) at threshold +Infinity; JSON cannot carry Infinity,
 * so that point (and the PR curve's first point, recall 0 / precision 1, which scikit-learn gives no
 * threshold) gets 1 + the highest score: above every score, as scikit-learn did before 1.3.
 *
 * A curve that is undefined is empty: the ROC curve needs both positives and negatives (its rates
 * divide by each count; scikit-learn returns NaN there), the PR curve needs positives. AUC and
 * average precision are then null. The PR curve keeps every threshold down to the lowest score
 * (recall stays 1 after all positives are found), as scikit-learn ≥ 1.1 does.
 */
export function oneVsRest(probs: Float32Array, y: Int32Array, k: number): ClassCurves[] {
  checkInput(probs, y, k);
  const n = y.length;
  const order = new Int32Array(n);
  const curves: ClassCurves[] = [];
  for (let c = 0; c < k; c++) {
    let positives = 0;
    for (let i = 0; i < n; i++) if (y[i] === c) positives++;
    const negatives = n - positives;
    const score = (i: number): number => probs[i * k + c]!;

    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => score(b) - score(a));

    const roc: ClassCurves['roc'] = [];
    const pr: ClassCurves['pr'] = [];
    // AUC and AP from integer counts, so tied and hand-checked cases come out exact.
    let aucTwice = 0; // Σ Δfp · (tp + tp_prev): 2·P·N·AUC.
    let apSum = 0; // Σ Δtp · precision: P·AP.
    const above = n > 0 ? score(order[0]!) + 1 : 1;
    if (positives > 0 && negatives > 0) roc.push({ fpr: 0, tpr: 0, threshold: above });
    if (positives > 0) pr.push({ recall: 0, precision: 1, threshold: above });

    let tp = 0;
    let fp = 0;
    for (let start = 0; start < n; ) {
      const threshold = score(order[start]!);
      const tpBefore = tp;
      const fpBefore = fp;
      let end = start;
      for (; end < n && score(order[end]!) === threshold; end++) {
        if (y[order[end]!] === c) tp++;
        else fp++;
      }
      start = end;
      if (positives > 0 && negatives > 0) {
        roc.push({ fpr: fp / negatives, tpr: tp / positives, threshold });
        aucTwice += (fp - fpBefore) * (tp + tpBefore);
      }
      if (positives > 0) {
        const precision = tp / (tp + fp);
        pr.push({ recall: tp / positives, precision, threshold });
        apSum += (tp - tpBefore) * precision;
      }
    }
    curves.push({
      positives,
      roc,
      auc: positives > 0 && negatives > 0 ? aucTwice / (2 * positives * negatives) : null,
      pr,
      averagePrecision: positives > 0 ? apSum / positives : null,
    });
  }
  return curves;
}

/**
 * Bootstrap 95% intervals of the four headline numbers: `samples` resamples of the images with
 * replacement (seeded, so an evaluation is reproducible), each metric recomputed on each
 * resample; low and high are its 2.5th and 97.5th percentiles by linear interpolation between
 * order statistics (numpy's default, "type 7"); value is the metric on the full set. A resample
 * missing a class averages balanced accuracy and macro-F1 over the classes it has, like any set.
 */
export function bootstrapIntervals(probs: Float32Array, y: Int32Array, k: number, options: BootstrapOptions = {}): HeadlineIntervals {
  const samples = options.samples ?? 1000;
  const seed = options.seed ?? 1;
  checkInput(probs, y, k);
  if (!Number.isInteger(samples) || samples < 1) {
    throw new CoreError('invalid_input', `The number of bootstrap resamples must be a whole number of at least 1; got ${samples}.`);
  }
  const n = y.length;
  const predicted = predictedClasses(probs, n, k);
  const full = headlineFromConfusion(confusionCounts(y, predicted, k), k, n);
  if (n === 0) {
    const zero = { value: 0, low: 0, high: 0 };
    return { accuracy: zero, balancedAccuracy: { ...zero }, macroF1: { ...zero }, weightedF1: { ...zero } };
  }

  // Each resample only needs its confusion matrix: one flat cell index per image, counted.
  const cellOf = new Int32Array(n);
  for (let i = 0; i < n; i++) cellOf[i] = y[i]! * k + predicted[i]!;
  const counts = new Int32Array(k * k);
  const accuracy = new Float64Array(samples);
  const balancedAccuracy = new Float64Array(samples);
  const macroF1 = new Float64Array(samples);
  const weightedF1 = new Float64Array(samples);
  const random = new SeededRandom(seed);
  for (let s = 0; s < samples; s++) {
    counts.fill(0);
    for (let j = 0; j < n; j++) counts[cellOf[random.nextInt(n)]!]!++;
    const m = headlineFromConfusion(counts, k, n);
    accuracy[s] = m.accuracy;
    balancedAccuracy[s] = m.balancedAccuracy;
    macroF1[s] = m.macroF1;
    weightedF1[s] = m.weightedF1;
  }
  const interval = (value: number, resampled: Float64Array): MetricInterval => {
    resampled.sort();
    return { value, low: percentile(resampled, 0.025), high: percentile(resampled, 0.975) };
  };
  return {
    accuracy: interval(full.accuracy, accuracy),
    balancedAccuracy: interval(full.balancedAccuracy, balancedAccuracy),
    macroF1: interval(full.macroF1, macroF1),
    weightedF1: interval(full.weightedF1, weightedF1),
  };
}

/**
 * The q-quantile (0 ≤ q ≤ 1) of values sorted ascending, interpolating linearly between the order
 * statistics at (m − 1)·q (numpy.percentile's default). NaN for no values.
 */
export function percentile(sortedValues: ArrayLike<number>, q: number): number {
  const m = sortedValues.length;
  if (m === 0) return NaN;
  const position = (m - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(below + 1, m - 1);
  const fraction = position - below;
  const low = sortedValues[below]!;
  return fraction === 0 ? low : low + (sortedValues[above]! - low) * fraction;
}

function checkInput(probs: Float32Array, y: Int32Array, k: number): void {
  const n = y.length;
  if (!Number.isInteger(k) || k < 1) throw new CoreError('invalid_input', 'Cannot evaluate a classifier without classes.');
  if (probs.length !== n * k) {
    throw new CoreError('internal', `Evaluation got ${probs.length} probabilities for ${n} images and ${k} classes; expected ${n * k}.`);
  }
  for (let i = 0; i < n; i++) {
    const truth = y[i]!;
    if (truth < 0 || truth >= k) throw new CoreError('internal', `Image ${i} has class index ${truth}, outside the ${k} classes.`);
  }
  for (let j = 0; j < probs.length; j++) {
    // A NaN would silently lose every comparison: wrong argmax, unsorted curves.
    if (Number.isNaN(probs[j]!)) {
      throw new CoreError('internal', `Image ${Math.floor(j / k)} has no valid probability for class ${j % k} (NaN); the model's output is broken.`);
    }
  }
}

function predictedClasses(probs: Float32Array, n: number, k: number): Int32Array {
  const predicted = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = -Infinity;
    let bestClass = 0;
    for (let c = 0; c < k; c++) {
      const p = probs[i * k + c]!;
      if (p > best) {
        best = p;
        bestClass = c;
      }
    }
    predicted[i] = bestClass;
  }
  return predicted;
}

/** Flat [k × k] counts, confusion[true * k + predicted]. */
function confusionCounts(y: Int32Array, predicted: Int32Array, k: number): Int32Array {
  const counts = new Int32Array(k * k);
  for (let i = 0; i < y.length; i++) counts[y[i]! * k + predicted[i]!]!++;
  return counts;
}

function classMetrics(counts: Int32Array, k: number, c: number): ClassMetrics {
  const truePositives = counts[c * k + c]!;
  let support = 0;
  let predictedCount = 0;
  for (let j = 0; j < k; j++) {
    support += counts[c * k + j]!;
    predictedCount += counts[j * k + c]!;
  }
  const precision = predictedCount > 0 ? truePositives / predictedCount : 0;
  const recall = support > 0 ? truePositives / support : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1, support };
}

function headlineFromConfusion(counts: Int32Array, k: number, n: number): HeadlineMetrics {
  let correct = 0;
  let recallSum = 0;
  let f1Sum = 0;
  let weightedF1Sum = 0;
  let supported = 0;
  for (let c = 0; c < k; c++) {
    const { recall, f1, support } = classMetrics(counts, k, c);
    correct += counts[c * k + c]!;
    if (support > 0) {
      supported++;
      recallSum += recall;
      f1Sum += f1;
      weightedF1Sum += support * f1;
    }
  }
  return {
    accuracy: n > 0 ? correct / n : 0,
    balancedAccuracy: supported > 0 ? recallSum / supported : 0,
    macroF1: supported > 0 ? f1Sum / supported : 0,
    weightedF1: n > 0 ? weightedF1Sum / n : 0,
  };
}
