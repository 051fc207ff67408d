/**
 * Rebalancing in the contract: how a training run evens out its classes, and the plan that
 * says, per class, what that will do before anything trains. Only the training split is ever
 * resampled; validation and test keep their real distribution.
 */
import { z } from 'zod';

/**
 * - none: train on the classes as they are.
 * - oversample: add augmented views of the images of classes below the target.
 * - undersample: leave out (seeded, reversibly) images of classes above the target.
 * - weights: weigh each class's loss by n_total / (k × n_class) (scikit-learn's 'balanced').
 * - oversample+weights: oversample, then weigh the classes as they stand after it.
 */
export const BALANCE_STRATEGIES = ['none', 'oversample', 'undersample', 'weights', 'oversample+weights'] as const;
export type BalanceStrategy = (typeof BALANCE_STRATEGIES)[number];

export const BALANCE_TARGETS = ['max', 'median', 'mean'] as const;
export type BalanceTargetRule = (typeof BALANCE_TARGETS)[number];

export const balanceConfigSchema = z
  .object({
    strategy: z.enum(BALANCE_STRATEGIES),
    /**
     * Per-class training count to reach: the largest, median or mean class (classes with no
     * training images left out), or a number. Default 'max' when oversampling, 'median' when
     * undersampling.
     */
    target: z.enum(BALANCE_TARGETS).or(z.number().int().min(1).max(100_000)).optional(),
    /** Oversampling never makes more than this many augmented views of one image. Default 8. */
    maxViewsPerImage: z.number().int().min(1).max(32).optional(),
  })
  .strict();
export type BalanceConfig = z.infer<typeof balanceConfigSchema>;

export const DEFAULT_MAX_VIEWS_PER_IMAGE = 8;

/** One class in a plan: what it has in training, and what rebalancing makes of it. */
export interface BalanceClassPlan {
  name: string;
  /** Training images the class has now. */
  have: number;
  /** Training examples after rebalancing: have + augmentedViews − dropped. */
  planned: number;
  /** Extra views (augmented copies) to add. */
  augmentedViews: number;
  /** Images undersampled away. */
  dropped: number;
  /** Loss weight; 1 when not weighting. */
  weight: number;
}

/** What a balance config does to one project's training split; stored in the run config. */
export interface BalancePlan {
  strategy: BalanceStrategy;
  /** The per-class count the plan aims at, resolved from the config's target. */
  target: number;
  /** Decides which images are dropped and which get views; part of the plan so it can be replayed. */
  seed: number;
  classes: BalanceClassPlan[];
  /** What the user should know about the plan, in words. */
  notes: string[];
}

/** Per class: labelled active images in each split now; derived (materialised) images are counted apart. */
export interface ClassSplitCounts {
  name: string;
  colour: string;
  train: number;
  val: number;
  test: number;
  /** Labelled images without a split yet (a run assigns them first). */
  none: number;
  /** Derived images (augmented copies) in training; never in val or test. */
  derived: number;
}

/** What a run with these settings would train on, before anything trains. */
export interface BalancePreview {
  /** The rebalancing plan over training images (derived images included). */
  plan: BalancePlan;
  classes: ClassSplitCounts[];
  /** Augmented views each training image trains as, beyond itself (0 = none). */
  viewsPerImage: number;
  /** Training examples per class: planned images × (1 + views per image). */
  examples: Record<string, number>;
  /** The policy used for views, or null. */
  policyName: string | null;
  notes: string[];
}

/** What a run actually trained on, stored with the run and shown in its summary. */
export interface RunPlan {
  balance: BalancePlan;
  policyName: string | null;
  viewsPerImage: number;
  /** Training examples: original (and derived) images plus augmented views, after rebalancing. */
  examples: { total: number; images: number; views: number; dropped: number; derived: number };
  /** Images undersampling left out of this run (ids): the dataset keeps them. */
  droppedImageIds: number[];
  /** Training examples per class, in the run's class order. */
  perClass: Record<string, number>;
}
