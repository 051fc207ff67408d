/**
 * Transfer learning in the contract: backbones, runtime, splits, training runs, predictions
 * and export. Imported by index.ts, which declares the methods.
 */
import { z } from 'zod';
import { augmentSettingsSchema, NO_AUGMENT } from './augment.ts';
import { balanceConfigSchema, type RunPlan } from './balance.ts';
import type { RunCalibration } from './evaluation.ts';

// ---------- backbones and runtime ----------

export interface BackboneInfo {
  /** As @tensorflow-models/mobilenet names the model, e.g. mobilenet_v1_0.75_224. */
  id: string;
  version: 1 | 2;
  alpha: number;
  /** Width of the image summary (embedding) this backbone gives. */
  dims: number;
  /** Where its weights were found, or null when they are not on this machine. */
  source: 'folder' | 'cache' | 'env' | null;
  dir: string | null;
  /** The one training uses when none is chosen: the best available. */
  isDefault: boolean;
  /** Roughly how good and how fast, in words, for the picker. */
  note: string;
  /** Whether Seedbed can download it from Google's official address (on request). */
  downloadable: boolean;
}

export interface RuntimeInfo {
  /** The TensorFlow.js backend that ran the last ML work, e.g. "wasm (SIMD)"; null before any. */
  backend: string | null;
  /** Worker threads used for embeddings and training. */
  workers: number;
  /** Why this backend, including the ones skipped. */
  detail: string | null;
}

// ---------- training configuration ----------

export const OPTIMIZERS = ['adam', 'sgd', 'rmsprop'] as const;
export const SCHEDULES = ['constant', 'plateau', 'cosine'] as const;

export const trainConfigSchema = z
  .object({
    /** Backbone id; default the best available. */
    backbone: z.string().min(1).max(100).optional(),
    /** Hidden layer width of the head; 0 = a plain softmax layer. */
    hiddenUnits: z.number().int().min(0).max(4096),
    dropout: z.number().min(0).max(0.9),
    /** L2 weight penalty on the head's weights. */
    l2: z.number().min(0).max(1),
    optimizer: z.enum(OPTIMIZERS),
    learningRate: z.number().positive().max(10),
    schedule: z.enum(SCHEDULES),
    batchSize: z.number().int().min(1).max(1024),
    epochs: z.number().int().min(1).max(1000),
    labelSmoothing: z.number().min(0).max(0.5),
    /** Set from `balance` (weights when it weighs); kept for older clients that send it alone. */
    classWeights: z.enum(['none', 'balanced']),
    /** Rebalancing of the training split (oversample, undersample, class weights). */
    balance: balanceConfigSchema,
    /** Augmented views of every training image; also the policy oversampling uses. */
    augment: augmentSettingsSchema,
    /** Early stopping: epochs without a better validation loss before stopping; 0 = never stop early. */
    patience: z.number().int().min(0).max(1000),
    /** Keep the weights of the best validation epoch, not the last. */
    restoreBest: z.boolean(),
    /** Fine-tuning: unfreeze this many top backbone blocks in a second phase; 0 = no fine-tuning. */
    fineTuneBlocks: z.number().int().min(0).max(17),
    fineTuneEpochs: z.number().int().min(1).max(200),
    fineTuneLearningRate: z.number().positive().max(1),
    /** Seeds the split, weight initialisation, shuffling and dropout. */
    seed: z.number().int().min(0).max(2 ** 31 - 1),
    /** Gradient clipping: scale each step's gradients down so that their global L2 norm is at most this; 0 or absent = off. */
    clipNorm: z.number().min(0).max(1e6).optional(),
    /** Activation of the head's hidden layer; absent = relu. leaky_relu (slope 0.1 below zero) and elu cannot "die". */
    activation: z.enum(['relu', 'leaky_relu', 'elu']).optional(),
    /** Initialisation of the head's hidden layer: he (He normal) or glorot (Glorot uniform); absent = he. The output layer is always Glorot. */
    init: z.enum(['glorot', 'he']).optional(),
  })
  .strict();
export type TrainConfig = z.infer<typeof trainConfigSchema>;

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  hiddenUnits: 256,
  dropout: 0.5,
  l2: 1e-4,
  optimizer: 'adam',
  learningRate: 1e-3,
  schedule: 'plateau',
  batchSize: 32,
  epochs: 60,
  labelSmoothing: 0.1,
  classWeights: 'balanced',
  balance: { strategy: 'weights' },
  augment: NO_AUGMENT,
  patience: 8,
  restoreBest: true,
  fineTuneBlocks: 0,
  fineTuneEpochs: 8,
  fineTuneLearningRate: 1e-4,
  seed: 1,
};

/** What a user may send: any subset of the config; the rest takes DEFAULT_TRAIN_CONFIG. */
export const trainConfigPatchSchema = trainConfigSchema.partial().strict();
export type TrainConfigPatch = z.infer<typeof trainConfigPatchSchema>;

// ---------- runs ----------

export type RunStatus = 'running' | 'done' | 'failed' | 'cancelled';
export type RunPhase = 'head' | 'finetune';

export interface EpochMetrics {
  phase: RunPhase;
  /** 1-based within its phase. */
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss: number | null;
  valAccuracy: number | null;
  learningRate: number;
  seconds: number;
  /** Training-health measurements of this epoch; absent for runs from before they existed. */
  health?: EpochHealth;
}

/**
 * Cheap per-epoch measurements of the head's training health. Layers are named hidden1,
 * hidden2, … and output, first to last (keys in that order).
 */
export interface EpochHealth {
  /** L2 norm of each Dense layer's kernel gradient on one full training batch (the epoch's last full one), before any clipping. */
  gradNorms: Record<string, number>;
  /** ‖kernel at the end of the epoch − kernel at its start‖ / ‖kernel at its start‖, per Dense layer. */
  updateRatios: Record<string, number>;
  /** Share of the hidden ReLU units that never activate on a fixed validation batch; null without a ReLU hidden layer. */
  deadRelu: number | null;
  /** True when a gradient norm, an update ratio or a weight of the head measured this epoch was infinite or not a number. */
  nonFinite: boolean;
}

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface SplitMetrics {
  /** Images evaluated. */
  count: number;
  accuracy: number;
  macroF1: number;
  loss: number;
  perClass: Record<string, ClassMetrics>;
  /** confusion[true][predicted], in the run's class order. */
  confusion: number[][];
}

export interface RunDiagnosis {
  kind: 'good' | 'overfitting' | 'underfitting' | 'unstable' | 'too-few-epochs' | 'not-enough-data';
  /** One or two sentences for someone who has never trained a model. */
  message: string;
}

export interface RunSummary {
  id: number;
  name: string;
  status: RunStatus;
  jobId: string | null;
  backbone: string;
  backend: string | null;
  workers: number | null;
  config: TrainConfig;
  /** Class names in the model's output order. */
  classes: string[];
  /** Labelled images per class and split when the run started. */
  splitCounts: Record<string, { train: number; val: number; test: number }>;
  /** Rebalancing and augmentation as the run applied them; null for runs from before they existed. */
  plan: RunPlan | null;
  /** Temperature and abstention threshold used by predict and export (1 and 0 until set). */
  calibration: RunCalibration;
  /** True when the dataset (labels, splits, images) changed since this run. */
  stale: boolean;
  bestEpoch: { phase: RunPhase; epoch: number } | null;
  fineTuned: boolean;
  metrics: { val: SplitMetrics | null; test: SplitMetrics | null } | null;
  seconds: { embed: number; train: number; total: number } | null;
  /** Images predicted with this run. */
  predictions: number;
  error: string | null;
  createdAt: number;
  finishedAt: number | null;
}

export type HealthKind =
  | 'vanishing_gradients'
  | 'exploding_gradients'
  | 'dead_relu'
  | 'non_finite'
  | 'unstable'
  | 'overfitting'
  | 'underfitting'
  | 'lr_too_low';

/** Something that went wrong inside training, in plain words, with a fix to try. */
export interface HealthFinding {
  kind: HealthKind;
  phase: RunPhase;
  /** The first epoch (1-based, in `phase`) that shows it. */
  epoch: number;
  /** One or two sentences for someone who has never trained a model. */
  message: string;
  /** A change of the training settings that addresses it; applying it means training again with the patch. */
  remedy?: { label: string; patch: Partial<TrainConfig> };
}

export interface RunDetail extends RunSummary {
  epochs: EpochMetrics[];
  diagnosis: RunDiagnosis | null;
  /** What the per-epoch health measurements and the curves show went wrong (empty when nothing did). */
  health: HealthFinding[];
}

export interface RunEpochEvent {
  runId: number;
  epoch: EpochMetrics;
  /** Epochs planned in this phase (early stopping may end it sooner). */
  plannedEpochs: number;
  bestEpoch: { phase: RunPhase; epoch: number } | null;
}

// ---------- predictions ----------

export interface Prediction {
  runId: number;
  classId: number | null;
  className: string;
  confidence: number;
}

export interface ImagePrediction extends Prediction {
  /** Every class with its probability, most likely first. */
  top: { className: string; probability: number }[];
}

export interface PredictFolderResult {
  runId: number;
  classes: string[];
  /** The TensorFlow.js backend that ran, and on how many worker threads. */
  backend: string | null;
  workers: number;
  /** className is null when the file could not be read (error) or the run abstained (confidence below its threshold). */
  rows: { path: string; className: string | null; confidence: number | null; error: string | null; abstained: boolean }[];
}

export interface SplitAssignmentResult {
  assigned: number;
  kept: number;
  warnings: string[];
}

export interface ExportResult {
  dir: string;
  files: string[];
}
