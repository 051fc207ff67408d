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
