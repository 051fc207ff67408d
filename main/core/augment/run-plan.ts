/**
 * What a training run trains on after rebalancing and augmentation: from the training images
 * of a run (already split, val and test never included) to the images kept, the augmented
 * views per image, and the RunPlan stored with the run. Pure: no database, no pixels.
 *
 * Views: with a policy and K views, every training image trains as itself plus K augmented
 * views. Oversampling adds whole "copies" of minority images (assignViews), and each copy
 * is itself trained as 1 + K examples, so an image given a extra copies has
 * (1 + a)(1 + K) − 1 views. Undersampling leaves images out of this run only.
 */
import type { AugmentPolicy, AugmentSettings } from '../../../shared/contract/augment.ts';
import type { BalanceConfig, BalancePlan, RunPlan } from '../../../shared/contract/balance.ts';
import { AUGMENT_PRESETS } from '../../../shared/domain/augment-presets.ts';
import { assignViews, chooseUndersample, planBalance, type BalanceItem } from './balance.ts';

export interface PlanImage extends BalanceItem {
  /** A materialised augmented copy (images.derived_from is set). */
  derived: boolean;
}

export interface RunAugmentation {
  policy: AugmentPolicy | null;
  /** K: augmented views of every training image. */
  views: number;
  notes: string[];
}

/** The policy and views a run uses: oversampling needs a policy, and takes the natural-photos preset when none is chosen. */
export function runAugmentation(augment: AugmentSettings, balance: BalanceConfig): RunAugmentation {
  const oversampling = balance.strategy === 'oversample' || balance.strategy === 'oversample+weights';
  const notes: string[] = [];
  let policy = augment.policy;
  const views = policy ? augment.views : 0;
  if (policy && augment.views === 0 && !oversampling) {
    notes.push(`The ${policy.name} augmentation is chosen with 0 views per image, so no image is augmented.`);
  }
  if (!policy && oversampling) {
    policy = AUGMENT_PRESETS.natural;
    notes.push('Oversampling makes its extra views with the natural-photos augmentation, since none is chosen.');
  }
  return { policy: views > 0 || oversampling ? policy : null, views, notes };
}

export interface PlannedRun<T extends PlanImage> {
  plan: BalancePlan;
  augmentation: RunAugmentation;
  /** Training images that stay, in the order given. */
  kept: T[];
  /** Augmented views per kept image id (images without views are absent). */
  viewsOf: Map<number, number>;
  /** Ids undersampling left out of this run, ascending. */
  dropped: number[];
  /** Examples per class name: kept images plus their views. */
  perClass: Record<string, number>;
  totalViews: number;
}

/** Plans rebalancing and augmentation over a run's training images, for classes in run order. */
export function planRun<T extends PlanImage>(
  images: readonly T[],
  classNames: readonly string[],
  config: { balance: BalanceConfig; augment: AugmentSettings; seed: number },
): PlannedRun<T> {
  const counts = classNames.map((name) => ({ name, train: images.filter((i) => i.className === name).length }));
  const plan = planBalance(counts, config.balance, config.seed);
  const augmentation = runAugmentation(config.augment, config.balance);
  plan.notes.unshift(...augmentation.notes);

  const { drop } = plan.strategy === 'undersample' ? chooseUndersample(images, plan, config.seed) : { drop: [] as number[] };
  const dropped = new Set(drop);
  const kept = images.filter((i) => !dropped.has(i.imageId));
  const extra = new Map(assignViews(images, plan, config.seed).map((a) => [a.imageId, a.views]));
  const k = augmentation.views;
  const viewsOf = new Map<number, number>();
  for (const image of kept) {
    const copies = extra.get(image.imageId) ?? 0;
    const views = (1 + copies) * (1 + k) - 1;
    if (views > 0) viewsOf.set(image.imageId, views);
  }
  const perClass: Record<string, number> = Object.fromEntries(classNames.map((n) => [n, 0]));
  for (const image of kept) perClass[image.className] = (perClass[image.className] ?? 0) + 1 + (viewsOf.get(image.imageId) ?? 0);
  const totalViews = [...viewsOf.values()].reduce((a, v) => a + v, 0);
  if (k > 0) plan.notes.push(`Every training image also trains as ${k} augmented view${k === 1 ? '' : 's'} (${augmentation.policy!.name}); validation and test images never do.`);
  return { plan, augmentation, kept, viewsOf, dropped: drop, perClass, totalViews };
}

/** The RunPlan stored with a run. */
export function runPlanOf(planned: PlannedRun<PlanImage>): RunPlan {
  return {
    balance: planned.plan,
    policyName: planned.augmentation.policy?.name ?? null,
    viewsPerImage: planned.augmentation.views,
    examples: {
      total: planned.kept.length + planned.totalViews,
      images: planned.kept.length,
      views: planned.totalViews,
      dropped: planned.dropped.length,
      derived: planned.kept.filter((i) => i.derived).length,
    },
    droppedImageIds: planned.dropped,
    perClass: planned.perClass,
  };
}
