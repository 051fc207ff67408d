/**
 * Slices and bias: accuracy per tag value (site=A, scanner=B) against every other evaluated
 * image, with a two-sided Fisher exact test and a Holm adjustment across all slices, so a slice
 * is flagged "worse" only when chance across many slices is an unlikely explanation.
 * Pure functions; the caller supplies which images were predicted right and each image's tags.
 */
import type { SliceMetrics } from '../../../shared/contract/evaluation.ts';
import { CoreError } from '../errors.ts';

/** A slice needs this many images before its accuracy is worth reporting. */
export const DEFAULT_SLICE_MIN_COUNT = 5;
/** Family-wise error rate behind "worse". */
export const SLICE_SIGNIFICANCE = 0.05;
/**
 * Tables as probable as the observed one count towards the p-value up to this relative error,
 * as R's fisher.test does, so rounding does not drop the mirror-image table of a symmetric case.
 */
const FISHER_RELATIVE_TOLERANCE = 1e-7;

export interface SliceOptions {
  /** Slices with fewer images are left out (and not counted in the Holm adjustment). Default 5. */
  minCount?: number;
}

export interface ImageTag {
  key: string;
  value: string;
}

/** log(i!) for i = 0..n, by cumulative sums: exact enough, and cheap for n in the thousands. */
function logFactorials(n: number): Float64Array {
  const table = new Float64Array(n + 1);
  for (let i = 2; i <= n; i++) table[i] = table[i - 1]! + Math.log(i);
  return table;
}

function logChoose(logFact: Float64Array, n: number, r: number): number {
  return logFact[n]! - logFact[r]! - logFact[n - r]!;
}

/**
 * Two-sided Fisher exact test of the 2×2 table [[a, b], [c, d]]: the sum of the hypergeometric
 * probabilities (margins fixed) of every table no more probable than the observed one.
 * `logFact` may be passed in to share one table across many tests; it must reach a+b+c+d.
 */
export function fisherExact(a: number, b: number, c: number, d: number, logFact?: Float64Array): number {
  for (const cell of [a, b, c, d]) {
    if (!Number.isInteger(cell) || cell < 0) {
      throw new CoreError('invalid_input', `A contingency table needs whole, non-negative counts; got [[${a}, ${b}], [${c}, ${d}]].`);
    }
  }
  const total = a + b + c + d;
  const table = logFact && logFact.length > total ? logFact : logFactorials(total);
  const firstRow = a + b;
  const firstColumn = a + c;
  const lowest = Math.max(0, firstRow + firstColumn - total);
  const highest = Math.min(firstRow, firstColumn);
  // Normalised by their own sum, as R does, rather than by C(total, firstRow): when every table
  // counts, the p-value is then exactly 1 instead of 1 minus rounding.
  const weights = new Float64Array(highest - lowest + 1);
  let largest = -Infinity;
  for (let x = lowest; x <= highest; x++) {
    const logWeight = logChoose(table, firstColumn, x) + logChoose(table, total - firstColumn, firstRow - x);
    weights[x - lowest] = logWeight;
    largest = Math.max(largest, logWeight);
  }
  for (let j = 0; j < weights.length; j++) weights[j] = Math.exp(weights[j]! - largest);
  const observedLimit = weights[a - lowest]! * (1 + FISHER_RELATIVE_TOLERANCE);
  let all = 0;
  let asExtreme = 0;
  for (const weight of weights) {
    all += weight;
    if (weight <= observedLimit) asExtreme += weight;
  }
  return Math.min(1, asExtreme / all);
}

/**
 * Holm's step-down adjustment of p-values for testing them together (as R's p.adjust(p, "holm")):
 * the i-th smallest is multiplied by (m − i + 1), kept at most 1 and never below the one before.
 * Returned in the order given.
 */
export function holmAdjust(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const ascending = pValues.map((p, index) => ({ p, index })).sort((x, y) => x.p - y.p || x.index - y.index);
  const adjusted = new Array<number>(m).fill(1);
  let runningMax = 0;
  ascending.forEach(({ p, index }, rank) => {
    runningMax = Math.max(runningMax, Math.min(1, (m - rank) * p));
    adjusted[index] = runningMax;
  });
  return adjusted;
}

/**
 * Accuracy of every tag value carried by at least `minCount` images, against the evaluated images
 * without that value of that key (images lacking the key count in the rest). An image carrying
 * the same tag twice counts once. A value that every evaluated image carries has no rest to compare
 * with: it is listed (restCount 0, restAccuracy 0, p-values 1) but not tested, so it does not
 * weaken the Holm adjustment of the others.
 * Sorted worst first: slices flagged worse, then by adjusted p-value, then accuracy, then key and value.
 */
export function sliceMetrics(
  correct: readonly boolean[] | Uint8Array,
  tags: readonly (readonly ImageTag[])[],
  options: SliceOptions = {},
): SliceMetrics[] {
  const n = correct.length;
  if (tags.length !== n) {
    throw new CoreError('invalid_input', `Cannot compute slices: ${n} predictions but tags for ${tags.length} images.`);
  }
  const minCount = Math.max(1, options.minCount ?? DEFAULT_SLICE_MIN_COUNT);
  let totalRight = 0;
  // key → value → [images, right]; nested maps so no separator can make two tags collide.
  const byKey = new Map<string, Map<string, { count: number; right: number }>>();
  for (let i = 0; i < n; i++) {
    const right = correct[i] ? 1 : 0;
    totalRight += right;
    const seen = new Map<string, Set<string>>();
    for (const { key, value } of tags[i]!) {
      let values = seen.get(key);
      if (!values) seen.set(key, (values = new Set()));
      if (values.has(value)) continue;
      values.add(value);
      let slices = byKey.get(key);
      if (!slices) byKey.set(key, (slices = new Map()));
      const slice = slices.get(value) ?? { count: 0, right: 0 };
      slice.count++;
      slice.right += right;
      slices.set(value, slice);
    }
  }

  const logFact = logFactorials(n);
  const results: SliceMetrics[] = [];
  const tested: number[] = [];
  for (const [key, slices] of byKey) {
    for (const [value, { count, right }] of slices) {
      if (count < minCount) continue;
      const restCount = n - count;
      const restRight = totalRight - right;
      const metrics: SliceMetrics = {
        key,
        value,
        count,
        accuracy: right / count,
        restAccuracy: restCount > 0 ? restRight / restCount : 0,
        restCount,
        pValue: 1,
        adjustedP: 1,
        worse: false,
      };
      if (restCount > 0) {
        metrics.pValue = fisherExact(right, count - right, restRight, restCount - restRight, logFact);
        tested.push(results.length);
      }
      results.push(metrics);
    }
  }
  const adjusted = holmAdjust(tested.map((r) => results[r]!.pValue));
  tested.forEach((r, t) => {
    const metrics = results[r]!;
    metrics.adjustedP = adjusted[t]!;
    metrics.worse = metrics.adjustedP < SLICE_SIGNIFICANCE && metrics.accuracy < metrics.restAccuracy;
  });
  return results.sort(
    (x, y) =>
      Number(y.worse) - Number(x.worse) ||
      x.adjustedP - y.adjustedP ||
      x.accuracy - y.accuracy ||
      (x.key < y.key ? -1 : x.key > y.key ? 1 : 0) ||
      (x.value < y.value ? -1 : x.value > y.value ? 1 : 0),
  );
}
