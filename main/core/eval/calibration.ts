/**
 * Calibration of a classifier's probabilities: does "90% sure" mean right 9 times in 10?
 * Reliability diagram and expected calibration error, temperature scaling (Guo et al. 2017,
 * "On Calibration of Modern Neural Networks"), and the coverage-vs-accuracy curve behind an
 * "abstain below X" threshold. Pure functions over softmax outputs; nothing here touches
 * TF.js or the database.
 *
 * Inputs everywhere: `probs` row-major [n × k] softmax outputs, `y` the true class index of
 * each row. The predicted class is the argmax, the lower index on ties (as tf.argMax does).
 * Sums run in float64 even though the probabilities arrive as float32.
 */
import type { CalibrationReport, CoveragePoint, ReliabilityBin } from '../../../shared/contract/evaluation.ts';
import { CoreError } from '../errors.ts';

/** Floor on a probability before its log, so one confident mistake costs log(1e7) ≈ 16, not infinity. */
export const PROBABILITY_FLOOR = 1e-7;

/** Where the temperature search looks; symmetric in log T, so T = 1 sits in the middle of the grid. */
const TEMPERATURE_MIN = 0.05;
const TEMPERATURE_MAX = 20;
const COARSE_GRID_POINTS = 41;
const GOLDEN_SECTION_TOLERANCE = 1e-7;
/** Relative NLL gain below which T stays 1: float64 rounding of the sums, not evidence. */
const NLL_IMPROVEMENT_EPSILON = 1e-12;

/** Checks the shapes agree; a mismatch is a bug in the caller, but say which numbers disagree. */
function imageCount(probs: Float32Array, y: Int32Array, k: number): number {
  if (!Number.isInteger(k) || k < 1) {
    throw new CoreError('invalid_input', `Cannot evaluate predictions over ${k} classes: there must be at least one class.`);
  }
  const n = y.length;
  if (probs.length !== n * k) {
    throw new CoreError(
      'invalid_input',
      `The predictions do not match the labels: ${probs.length} probabilities for ${n} images of ${k} classes (expected ${n * k}).`,
    );
  }
  for (let i = 0; i < n; i++) {
    const label = y[i]!;
    if (label < 0 || label >= k) {
      throw new CoreError('invalid_input', `Image ${i} has class index ${label}, outside the ${k} classes of the model.`);
    }
  }
  return n;
}

/** The predicted class of row i (lower index on ties) and its probability. */
function topOf(probs: Float32Array, i: number, k: number): { predicted: number; confidence: number } {
  const base = i * k;
  let predicted = 0;
  let confidence = probs[base]!;
  for (let c = 1; c < k; c++) {
    const p = probs[base + c]!;
    if (p > confidence) {
      confidence = p;
      predicted = c;
    }
  }
  return { predicted, confidence };
}

/** Bin of a confidence among `bins` equal-width bins of [0, 1]: [b/bins, (b+1)/bins), the last one closed at 1. */
function binOf(confidence: number, bins: number): number {
  const clamped = Math.min(1, Math.max(0, confidence));
  let b = Math.floor(clamped * bins);
  // clamped * bins can round across a boundary; settle it against the bin edges themselves.
  if (b > 0 && clamped < b / bins) b--;
  else if (b < bins && clamped >= (b + 1) / bins) b++;
  return Math.min(b, bins - 1);
}

/**
 * Reliability diagram, expected calibration error and mean negative log-likelihood.
 * Equal-width bins over the top probability; the last bin includes 1.0. With no images, ECE and
 * NLL are 0 and every bin is empty.
 */
export function reliability(probs: Float32Array, y: Int32Array, k: number, bins = 15): CalibrationReport {
  const n = imageCount(probs, y, k);
  if (!Number.isInteger(bins) || bins < 1) {
    throw new CoreError('invalid_input', `A reliability diagram needs at least one bin; ${bins} were asked for.`);
  }
  const counts = new Float64Array(bins);
  const confidenceSums = new Float64Array(bins);
  const rightCounts = new Float64Array(bins);
  let nllSum = 0;
  for (let i = 0; i < n; i++) {
    const label = y[i]!;
    const { predicted, confidence } = topOf(probs, i, k);
    const b = binOf(confidence, bins);
    counts[b]! += 1;
    confidenceSums[b]! += confidence;
    if (predicted === label) rightCounts[b]! += 1;
    nllSum -= Math.log(Math.max(probs[i * k + label]!, PROBABILITY_FLOOR));
  }
  const reliabilityBins: ReliabilityBin[] = [];
  let ece = 0;
  for (let b = 0; b < bins; b++) {
    const count = counts[b]!;
    const confidence = count > 0 ? confidenceSums[b]! / count : 0;
    const accuracy = count > 0 ? rightCounts[b]! / count : 0;
    if (count > 0) ece += (count / n) * Math.abs(accuracy - confidence);
    reliabilityBins.push({ lower: b / bins, upper: (b + 1) / bins, count, confidence, accuracy });
  }
  return { ece, bins: reliabilityBins, nll: n > 0 ? nllSum / n : 0 };
}

/**
 * log(max(p, floor)) of every probability, in float64: the "logits" temperature scaling divides.
 * Each row is shifted so its largest logit is 0; softmax ignores the shift, and equal logits then
 * stay exactly equal at every T, so a flat objective looks flat.
 */
function logitsOf(probs: Float32Array, k: number): Float64Array {
  const logits = new Float64Array(probs.length);
  for (let base = 0; base < probs.length; base += k) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) {
      logits[base + c] = Math.log(Math.max(probs[base + c]!, PROBABILITY_FLOOR));
      max = Math.max(max, logits[base + c]!);
    }
    for (let c = 0; c < k; c++) logits[base + c]! -= max;
  }
  return logits;
}

/** Mean negative log-likelihood of the true classes under softmax(logits / T). */
function temperatureNll(logits: Float64Array, y: Int32Array, k: number, temperature: number): number {
  const n = y.length;
  if (n === 0) return 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const base = i * k;
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, logits[base + c]! / temperature);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(logits[base + c]! / temperature - max);
    total += max + Math.log(sum) - logits[base + y[i]!]! / temperature;
  }
  return total / n;
}

/**
 * Temperature scaling fitted on a (validation) set: the T > 0 that minimises the mean NLL of
 * softmax(log p / T). T > 1 softens an over-confident model, T < 1 sharpens an under-confident one;
 * the predicted class never changes. The search is a coarse grid over log T in [0.05, 20], then a
 * golden-section search around the best grid point, so it is deterministic and cannot be trapped
 * by a bad starting point. T = 1 when there are no images or when no T does better than 1.
 * nllBefore is the objective at T = 1 (equal to reliability().nll unless a probability was below 1e-7).
 */
export function fitTemperature(probs: Float32Array, y: Int32Array, k: number): { temperature: number; nllBefore: number; nllAfter: number } {
  const n = imageCount(probs, y, k);
  if (n === 0) return { temperature: 1, nllBefore: 0, nllAfter: 0 };
  const logits = logitsOf(probs, k);
  const nllAtLog = (logT: number) => temperatureNll(logits, y, k, Math.exp(logT));

  const lowLog = Math.log(TEMPERATURE_MIN);
  const highLog = Math.log(TEMPERATURE_MAX);
  const step = (highLog - lowLog) / (COARSE_GRID_POINTS - 1);
  let bestIndex = 0;
  let bestNll = Infinity;
  for (let g = 0; g < COARSE_GRID_POINTS; g++) {
    const value = nllAtLog(lowLog + g * step);
    if (value < bestNll) {
      bestNll = value;
      bestIndex = g;
    }
  }
  // NLL in log T is unimodal in practice; the bracket around the best grid point holds its minimum.
  let a = lowLog + Math.max(0, bestIndex - 1) * step;
  let b = lowLog + Math.min(COARSE_GRID_POINTS - 1, bestIndex + 1) * step;
  const inverseGolden = (Math.sqrt(5) - 1) / 2;
  let c = b - inverseGolden * (b - a);
  let d = a + inverseGolden * (b - a);
  let fc = nllAtLog(c);
  let fd = nllAtLog(d);
  while (b - a > GOLDEN_SECTION_TOLERANCE) {
    if (fc <= fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - inverseGolden * (b - a);
      fc = nllAtLog(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + inverseGolden * (b - a);
      fd = nllAtLog(d);
    }
  }
  let bestLog = (a + b) / 2;
  let nllAfter = nllAtLog(bestLog);
  const gridLog = lowLog + bestIndex * step;
  if (bestNll < nllAfter) {
    bestLog = gridLog;
    nllAfter = bestNll;
  }
  const nllBefore = temperatureNll(logits, y, k, 1);
  // A flat objective (or an improvement lost in rounding) is no reason to change the model's probabilities.
  if (!(nllAfter < nllBefore - NLL_IMPROVEMENT_EPSILON * Math.max(1, nllBefore))) return { temperature: 1, nllBefore, nllAfter: nllBefore };
  return { temperature: Math.exp(bestLog), nllBefore, nllAfter };
}

/**
 * softmax(log(max(p, 1e-7)) / T) of every row, as a new array whose rows sum to 1.
 * The order of the classes within a row is kept, so the predicted class does not change
 * (barring two scores that float32 cannot tell apart).
 */
export function applyTemperature(probs: Float32Array, k: number, temperature: number): Float32Array {
  if (!Number.isInteger(k) || k < 1 || probs.length % k !== 0) {
    throw new CoreError('invalid_input', `Cannot rescale ${probs.length} probabilities as rows of ${k} classes.`);
  }
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new CoreError('invalid_input', `The calibration temperature must be a positive number; got ${temperature}.`);
  }
  const n = probs.length / k;
  const scaled = new Float32Array(probs.length);
  const row = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const base = i * k;
    let max = -Infinity;
    for (let c = 0; c < k; c++) {
      row[c] = Math.log(Math.max(probs[base + c]!, PROBABILITY_FLOOR)) / temperature;
      max = Math.max(max, row[c]!);
    }
    let sum = 0;
    for (let c = 0; c < k; c++) {
      row[c] = Math.exp(row[c]! - max);
      sum += row[c]!;
    }
    for (let c = 0; c < k; c++) scaled[base + c] = row[c]! / sum;
  }
  return scaled;
}

/**
 * Coverage and accuracy when the model abstains below each threshold: one point at 0 and one at
 * every distinct top probability, thresholds ascending. An image is kept when its top probability
 * (as stored, float32) is ≥ the threshold. No images, no points.
 */
export function coverageCurve(probs: Float32Array, y: Int32Array, k: number): CoveragePoint[] {
  const n = imageCount(probs, y, k);
  if (n === 0) return [];
  const confidences = new Float64Array(n);
  const right = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const { predicted, confidence } = topOf(probs, i, k);
    confidences[i] = confidence;
    right[i] = predicted === y[i]! ? 1 : 0;
  }
  const mostConfidentFirst = Array.from({ length: n }, (_, i) => i).sort((p, q) => confidences[q]! - confidences[p]!);

  // Walking from the most confident image down, each distinct confidence closes one point.
  const descending: CoveragePoint[] = [];
  let kept = 0;
  let keptRight = 0;
  for (let r = 0; r < n; r++) {
    const i = mostConfidentFirst[r]!;
    kept++;
    keptRight += right[i]!;
    const next = mostConfidentFirst[r + 1];
    if (next === undefined || confidences[next]! !== confidences[i]!) {
      descending.push({ threshold: confidences[i]!, coverage: kept / n, accuracy: keptRight / kept });
    }
  }
  const lowest = descending[descending.length - 1]!;
  if (lowest.threshold > 0) descending.push({ threshold: 0, coverage: 1, accuracy: keptRight / n });
  return descending.reverse();
}

/**
 * The lowest threshold whose kept images reach the target accuracy: the most coverage the target
 * allows. Null when no threshold reaches it.
 */
export function thresholdFor(points: readonly CoveragePoint[], targetAccuracy: number): number | null {
  let lowest: number | null = null;
  for (const point of points) {
    if (point.accuracy >= targetAccuracy && (lowest === null || point.threshold < lowest)) lowest = point.threshold;
  }
  return lowest;
}
