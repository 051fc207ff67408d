/**
 * Auto-tune in the contract: a hyperparameter search over the head's settings (and, when
 * asked, augmentation and backbones), run on cached embeddings and scored on the
 * validation images only. A search is stored with the project, trial by trial, so it can be
 * watched live, resumed after a restart, and its best trial promoted to an ordinary run.
 */
import { z } from 'zod';
import { augmentSettingsSchema, type AugmentSettings } from './augment.ts';
import { trainConfigPatchSchema, type TrainConfig, type TrainConfigPatch } from './training.ts';

/** What a search may spend: a number of new configurations, or minutes of wall time. */
export const tuneBudgetSchema = z.union([
  z.object({ trials: z.number().int().min(1).max(1000) }).strict(),
  z.object({ minutes: z.number().min(0.1).max(24 * 60) }).strict(),
]);
export type TuneBudget = z.infer<typeof tuneBudgetSchema>;

export const tuneStartSchema = z
  .object({
    /** Default: 50 trials. */
    budget: tuneBudgetSchema.optional(),
    /** Seeds the sampler and every trial; the same seed and data give the same search. Default 1. */
    seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
    /** Settings the search starts from and keeps where it does not vary them (default: the defaults). */
    base: trainConfigPatchSchema.optional(),
    /** Augmentation settings to try besides none; their views are embedded first (this can take minutes). */
    augment: z.array(augmentSettingsSchema).max(4).optional(),
    /** Backbones to try besides the base's; images not embedded with one yet are embedded first. */
    backbones: z.array(z.string().min(1).max(100)).max(6).optional(),
    /** A short name for the search (default "Search N"). */
    name: z.string().trim().min(1).max(100).optional(),
  })
  .strict();
export type TuneStartParams = z.input<typeof tuneStartSchema>;

export type SearchStatus = 'running' | 'paused' | 'done' | 'failed';

/** One hyperparameter the search varies, as tables and plots show it. */
export interface TuneParamInfo {
  key: keyof TrainConfig;
  /** In words: "Learning rate". */
  label: string;
  kind: 'log' | 'float' | 'int' | 'choice';
  /** Numeric parameters: the range searched. */
  low?: number;
  high?: number;
  /** Choices: each value's short name, in order (an ordered scale or plain categories). */
  choices?: string[];
  ordered?: boolean;
}

/** One rung a trial ran: epochs asked, epochs it trained before early stopping, what it scored on validation. */
export interface TrialRung {
  epochs: number;
  epochsUsed: number;
  /** Macro-F1 on the validation images (0..1), null when training diverged. */
  score: number | null;
  valAccuracy: number | null;
  valLoss: number | null;
  seconds: number;
}

export type TrialState =
  /** Its last rung is the search's top rung, or it is the best so far of a search that ended early. */
  | 'finished'
  /** Successive halving stopped it after a short rung: others did better. */
  | 'stopped'
  /** Waiting for the rest of its rung, or for a promotion decision. */
  | 'pending'
  /** Its loss became NaN or infinite. */
  | 'diverged';

export interface TuneTrial {
  /** 0-based; trial 0 is the settings the search started from. */
  trial: number;
  /** The settings this trial changed, over the search's base. */
  config: TrainConfigPatch;
  /** Each varied setting's value in words, by key, for tables and plots. */
  values: Record<string, string>;
  /** Each varied setting's value as a number for plotting: numeric value, or a choice's index. */
  numbers: Record<string, number>;
  rungs: TrialRung[];
  /** The last rung's score. */
  score: number | null;
  /** Epochs of the last rung asked. */
  epochs: number;
  seconds: number;
  state: TrialState;
  /** Why it diverged, in words, when it did. */
  error: string | null;
}

export interface TuneSummary {
  id: number;
  name: string;
  status: SearchStatus;
  budget: TuneBudget;
  seed: number;
  /** Configurations tried so far. */
  trialCount: number;
  /** The best trial: highest rung reached, then best validation macro-F1 there. */
  best: { trial: number; score: number | null; epochs: number } | null;
  /** Trial 0 (the starting settings) at the top rung, when it got there, for comparison. */
  baseline: number | null;
  seconds: number;
  createdAt: number;
  finishedAt: number | null;
  jobId: string | null;
  /** The run made from the best trial, once promoted. */
  runId: number | null;
  error: string | null;
}

export interface TuneDetail extends TuneSummary {
  params: TuneParamInfo[];
  /** Epochs of each rung, fewest first; the last is what a finished trial trained. */
  rungEpochs: number[];
  base: TrainConfig;
  trials: TuneTrial[];
  /** The best trial's whole config (base with its changes), ready for `seedbed train --config`. */
  bestConfig: TrainConfig | null;
  /** Training and validation images the trials used, and notes in words (held-out validation, images left out). */
  data: { train: number; val: number; notes: string[] };
  /** True when the project's splits changed since the search began: its scores may no longer compare. */
  stale: boolean;
}

export type { AugmentSettings };
