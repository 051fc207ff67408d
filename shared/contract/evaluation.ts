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
  /**
   * Accuracy against the abstention threshold, on confidences as the run predicts them: after
   * the temperature stored with the run (`coverageTemperature`), so a threshold read off this
   * curve means the same in predict and export.
   */
  coverage: CoveragePoint[];
  coverageTemperature: number;
  slices: SliceMetrics[];
  /** Every evaluated image: its class, the prediction and its confidence (class indices into `classes`). */
  images: EvaluatedImage[];
  /**
   * What to keep in mind when reading the numbers, in words: folder images that are also
   * training images of the project, files that could not be read or were left out.
   */
  warnings: string[];
  /** Class pairs most often confused (either way), most first; pairs never confused are left out. */
  confusedPairs: { a: string; b: string; aAsB: number; bAsA: number }[];
  seconds: number;
}

export interface EvaluatedImage {
  imageId: number | null;
  /** The file (a folder evaluation has no project images). */
  path: string;
  trueIndex: number;
  predictedIndex: number;
  /** Probability of the predicted class. */
  confidence: number;
  /** Probability the model gave the true class. */
  trueProbability: number;
}

// ---------- explanations ----------

export const EXPLAIN_METHODS = ['gradcam', 'occlusion'] as const;
export type ExplainMethod = (typeof EXPLAIN_METHODS)[number];

/** Why the model decided what it did for one image. */
export interface Explanation {
  runId: number;
  imageId: number;
  method: ExplainMethod;
  /** The class explained (default: the predicted one). */
  className: string;
  /** Every class with its probability, most likely first. */
  top: { className: string; probability: number }[];
  /**
   * The heatmap as a grid of `size × size` values in [0, 1] (row-major, over the model's
   * 224 px centre square), and as a ready-to-overlay transparent PNG data URL.
   */
  grid: { size: number; values: number[] };
  overlay: string;
  /** The model's input (the centre square) as a JPEG data URL, for the overlay to sit on. */
  input: string;
  /** Whether it came from the cache. */
  cached: boolean;
  ms: number;
}

/** Training images closest to an image in the backbone's embedding space (cosine similarity). */
export interface NeighbourImage {
  imageId: number;
  path: string;
  className: string | null;
  similarity: number;
}

// ---------- robustness and cross-validation ----------

export const CORRUPTIONS = ['noise', 'blur', 'brightness', 'contrast', 'jpeg'] as const;
export type Corruption = (typeof CORRUPTIONS)[number];

/** Accuracy on the test images under common corruptions at three severities, stored with the run. */
export interface RobustnessReport {
  runId: number;
  count: number;
  cleanAccuracy: number;
  /** Per corruption, accuracy at severity 1, 2, 3 (mild, medium, strong). */
  corruptions: { corruption: Corruption; accuracy: [number, number, number]; strength: [number, number, number] }[];
  /** FGSM (fast gradient sign) accuracy at small ε (in 0–255 pixel units); null where gradients are not available. */
  fgsm: { epsilon: number; accuracy: number }[] | null;
  /** Why FGSM was not run, in words, when it was not. */
  fgsmNote: string | null;
  /** How the corruptions were made and what to read into the numbers, in words. */
  notes?: string[];
  createdAt: number;
  seconds: number;
}

/** k-fold cross-validation on train + val with a run's config, stored with the run. */
export interface CrossValidationReport {
  runId: number;
  folds: number;
  images: number;
  perFold: { accuracy: number; macroF1: number; balancedAccuracy: number; count: number }[];
  mean: { accuracy: number; macroF1: number; balancedAccuracy: number };
  std: { accuracy: number; macroF1: number; balancedAccuracy: number };
  /** What the folds leave out of the run's training (augmented views, resampling, fine-tuning), in words. */
  notes?: string[];
  createdAt: number;
  seconds: number;
}

/** What a run uses when it predicts and exports: temperature and abstention threshold. */
export interface RunCalibration {
  /** Divides the logits before the softmax; 1 = as trained. */
  temperature: number;
  /** Below this top probability the run abstains ("not sure"); 0 = never. */
  threshold: number;
}

export type { ClassMetrics };
