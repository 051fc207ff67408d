/** What the training worker (train.worker.ts) is asked and what it reports back. */
import type { EpochMetrics, SplitMetrics, TrainConfig } from '../../../shared/contract/index.ts';
import type { AnalyseOutcome, AnalyseRequest } from '../clean/analyse.ts';

export type { AnalyseOutcome, AnalyseRequest };

/** Grad-CAM or occlusion for one image: see eval/explain-compute.ts. */
import type { ExplainOutcome, ExplainRequest } from '../eval/explain-compute.ts';
export type { ExplainOutcome, ExplainRequest };
import type { CrossValidationOutcome, CrossValidationRequest, FgsmOutcome, FgsmRequest } from '../eval/eval-worker.ts';
export type { CrossValidationOutcome, CrossValidationRequest, FgsmOutcome, FgsmRequest };
import type { TrialOutcome, TrialRequest } from '../tune/run-search.ts';
export type { TrialOutcome, TrialRequest };

/** Row-major examples: n rows of `dims` floats, with their class index. */
export interface ExampleSet {
  x: Float32Array<ArrayBuffer>;
  n: number;
  dims: number;
  y: Int32Array<ArrayBuffer>;
}

export interface TrainRequest {
  type: 'train';
  config: TrainConfig;
  classes: string[];
  /** Embeddings of the train / val / test images (val or test may have n = 0). */
  train: ExampleSet;
  /**
   * The first `originals` train rows are the training images, in files.train order; rows after
   * them are augmented views (head training only: fine-tuning decodes the files themselves).
   */
  originals?: number;
  val: ExampleSet;
  test: ExampleSet;
  backbone: { id: string; modelDir: string };
  /** Image files in the same order as the example sets, for fine-tuning (decoded again to train the top blocks). */
  files?: { train: string[]; val: string[]; test: string[] };
  /** Where the run's model files go (created by the worker). */
  outDir: string;
}

export interface PredictRequest {
  type: 'predict';
  /** The run's folder (its head/ and model/ sub-folders). */
  runDir: string;
  /** Embeddings to classify with the head (runs that were not fine-tuned)… */
  embeddings?: { x: Float32Array<ArrayBuffer>; n: number; dims: number };
  /** …or image files to classify with the whole model (fine-tuned runs, folders outside the project). */
  files?: string[];
  backbone?: { id: string; modelDir: string };
}

/** Cleaning analysis (near-duplicates, outliers, label issues): see clean/analyse.ts. */
export type WorkerRequest = TrainRequest | PredictRequest | AnalyseRequest | FgsmRequest | CrossValidationRequest | ExplainRequest | TrialRequest;

export interface TrainOutcome {
  epochs: EpochMetrics[];
  bestEpoch: { phase: 'head' | 'finetune'; epoch: number } | null;
  stoppedEarly: boolean;
  metrics: { val: SplitMetrics | null; test: SplitMetrics | null };
  fineTuned: boolean;
  backend: string;
  backendDetail: string;
  seconds: { train: number };
  /** Set when training ended on a numerical problem (NaN loss) and kept the last good weights. */
  warning: string | null;
}

export interface PredictOutcome {
  /** [n × classes] probabilities. */
  probabilities: Float32Array<ArrayBuffer>;
  numClasses: number;
  /** Per file (files mode): null or why it could not be read. */
  errors: (string | null)[];
  backend: string;
}

export type WorkerMessage =
  | { type: 'epoch'; epoch: EpochMetrics; plannedEpochs: number; bestEpoch: { phase: 'head' | 'finetune'; epoch: number } | null }
  | { type: 'progress'; stage: string; done: number; total: number }
  | { type: 'done'; outcome: TrainOutcome | PredictOutcome | (AnalyseOutcome & { backend: string }) | FgsmOutcome | CrossValidationOutcome | ExplainOutcome | TrialOutcome }
  | { type: 'error'; message: string };
