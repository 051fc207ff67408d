/**
 * Evaluation in the contract: how good a run is on a split (or a folder), with error bars,
 * per-class curves, calibration, and per-slice metrics. Computed by main/core/eval/.
 */
import type { ClassMetrics } from './training.ts';

/** A number with its bootstrap 95% interval (percentile method over resampled images). */
export interface MetricInterval {
  value: number;
  low: number;
  high: number;
}

/** One-vs-rest curves of one class: this class as "positive", every other class as "negative". */
export interface ClassCurves {
  /** Images of this class in the evaluated set. */
  positives: number;
  /** Receiver operating characteristic, from (0,0) to (1,1), one point per distinct score. */
  roc: { fpr: number; tpr: number; threshold: number }[];
  /** Area under the ROC curve (trapezoids); null when the class has no images, or only its images are present. */
  auc: number | null;
  /** Precision–recall, recall rising; the first point is (recall 0, precision 1). */
  pr: { recall: number; precision: number; threshold: number }[];
  /** Average precision: Σ (R_n − R_{n−1}) · P_n over the thresholds, as scikit-learn computes it; null without positives. */
  averagePrecision: number | null;
}

/** The headline numbers of a set of predictions. */
export interface HeadlineMetrics {
  accuracy: number;
  /** Mean recall over the classes that have images. */
  balancedAccuracy: number;
  /** Mean F1 over the classes that have images. */
  macroF1: number;
  /** F1 averaged with each class weighted by its number of images. */
  weightedF1: number;
}

/** One bin of a reliability diagram: images whose top probability fell in [lower, upper). */
export interface ReliabilityBin {
  lower: number;
  upper: number;
  count: number;
  /** Mean top probability of the bin's images (0 when empty). */
  confidence: number;
  /** Share of the bin's images predicted right (0 when empty). */
  accuracy: number;
}

export interface CalibrationReport {
  /** Expected calibration error: Σ (count/n) · |accuracy − confidence| over the bins. */
  ece: number;
  bins: ReliabilityBin[];
  /** Mean negative log-likelihood of the true class. */
  nll: number;
}

/** Accuracy when the model abstains below a confidence threshold. */
export interface CoveragePoint {
  threshold: number;
  /** Share of images with top probability ≥ threshold. */
  coverage: number;
  /** Accuracy on those images (1 when none are kept). */
  accuracy: number;
}

/** Metrics of the images with one tag value, against all other evaluated images. */
export interface SliceMetrics {
  key: string;
  value: string;
  count: number;
  accuracy: number;
  /** Accuracy on the evaluated images outside the slice. */
  restAccuracy: number;
  restCount: number;
  /** Two-sided Fisher exact test of "right" vs "wrong" in the slice against the rest. */
  pValue: number;
  /** pValue adjusted for the number of slices tested (Holm). */
  adjustedP: number;
  /** Significantly worse than the rest (adjustedP < 0.05 and lower accuracy). */
  worse: boolean;
}

export interface EvaluationResult {
  runId: number;
  /** Where the images came from. */
  source: 'test' | 'val' | 'folder';
  count: number;
  classes: string[];
  headline: { [K in keyof HeadlineMetrics]: MetricInterval };
  /** Resamples and seed behind the intervals. */
  bootstrap: { samples: number; seed: number };
  perClass: Record<string, ClassMetrics>;
  /** confusion[true][predicted], counts; and each row divided by its total (zeros for empty rows). */
  confusion: number[][];
  confusionNormalised: number[][];
  curves: Record<string, ClassCurves>;
  calibration: CalibrationReport;
  /**
   * Temperature scaling fitted on the run's validation images (Guo et al. 2017): the
   * temperature, and the evaluated set's calibration after dividing the logits by it. Null
   * when the run has no validation images, or when validation itself is evaluated.
   */
  temperature: { value: number; after: CalibrationReport } | null;
  coverage: CoveragePoint[];
  slices: SliceMetrics[];
  seconds: number;
}

export type { ClassMetrics };
