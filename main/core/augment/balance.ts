/**
 * Rebalancing planner: pure functions from per-class training counts to a BalancePlan, and
 * from a plan to which images are left out (undersampling) or get extra views (oversampling).
 * Nothing here touches the database or pixels; the caller stores the plan and the drop list.
 *
 * Choices that depend on images depend only on the seed and the images' content hashes, the
 * way splits.ts places images: each image's key is sha256(seed + ":" + its sha256), so the
 * result never depends on ids or the order the images are given in.
 * Undersampling is reversible because it only ever leaves images out of one run's training
 * set: the drop list is all that is needed to put them back.
 */
import { createHash } from 'node:crypto';
import {
  balanceConfigSchema,
  DEFAULT_MAX_VIEWS_PER_IMAGE,
  type BalanceClassPlan,
  type BalanceConfig,
  type BalancePlan,
  type BalanceTargetRule,
} from '../../../shared/contract/balance.ts';
import { CoreError } from '../errors.ts';

/** One training image, as the resampling choices need it. */
export interface BalanceItem {
  imageId: number;
  sha256: string;
  className: string;
}

export interface UndersampleChoice {
  /** Image ids that stay in training, ascending. */
  keep: number[];
  /** Image ids left out of training, ascending; store these to undo the undersampling. */
  drop: number[];
}

export interface ViewAssignment {
  imageId: number;
  className: string;
  /** Extra augmented views of this image; at least 1 (images without views are not listed). */
  views: number;
}

function seededKey(seed: number, sha256: string): string {
  return createHash('sha256').update(`${seed}:${sha256}`).digest('hex');
}

/** The images in seeded order; ids break ties between identical files so the order is total. */
function seededOrder<T extends { imageId: number; sha256: string }>(items: readonly T[], seed: number): T[] {
  return items
    .map((item) => ({ item, key: seededKey(seed, item.sha256) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.item.imageId - b.item.imageId))
    .map((x) => x.item);
}

function checkedSeed(seed: number): number {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new CoreError('invalid_input', `The seed ${seed} does not work: it must be a whole number, 0 or more.`);
  }
  return seed;
}

function checkedConfig(config: BalanceConfig): BalanceConfig {
  const parsed = balanceConfigSchema.safeParse(config);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'settings'}: ${i.message}`).join('; ');
    throw new CoreError(
      'invalid_input',
      `The rebalancing settings do not work (${problems}). The strategy is one of none, oversample, ` +
        'undersample, weights, oversample+weights; the target is max, median, mean or a whole number from 1 to 100000; ' +
        'views per image are 1 to 32.',
    );
  }
  return parsed.data;
}

function checkedCounts(counts: readonly { name: string; train: number }[]): void {
  const seen = new Set<string>();
  for (const c of counts) {
    if (!Number.isSafeInteger(c.train) || c.train < 0) {
      throw new CoreError('invalid_input', `Class "${c.name}" has ${c.train} training images, which is not a count.`);
    }
    if (seen.has(c.name)) {
      throw new CoreError('invalid_input', `Class "${c.name}" appears twice in the class counts; each class must appear once.`);
    }
    seen.add(c.name);
  }
}

function resolveTarget(rule: BalanceTargetRule | number, present: readonly number[]): number {
  if (typeof rule === 'number') return rule;
  if (present.length === 0) return 0;
  const sorted = [...present].sort((a, b) => a - b);
  switch (rule) {
    case 'max':
      return sorted[sorted.length - 1]!;
    case 'median': {
      const mid = sorted.length >> 1;
      return sorted.length % 2 === 1 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
    }
    case 'mean':
      return Math.round(sorted.reduce((a, b) => a + b, 0) / sorted.length);
  }
}

function targetWords(rule: BalanceTargetRule | number, target: number): string {
  return typeof rule === 'number' ? `${target} per class` : `${target} per class (the ${rule === 'max' ? 'largest' : rule} class)`;
}

function listWords(parts: readonly string[]): string {
  if (parts.length <= 1) return parts.join('');
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

/**
 * Plans rebalancing of the training split from per-class training counts: per class, the
 * augmented views to add, the images to leave out and the loss weight, with notes in words.
 */
export function planBalance(
  counts: readonly { name: string; train: number }[],
  config: BalanceConfig,
  seed: number,
): BalancePlan {
  const { strategy, target: targetRule, maxViewsPerImage = DEFAULT_MAX_VIEWS_PER_IMAGE } = checkedConfig(config);
  checkedSeed(seed);
  checkedCounts(counts);

  const oversampling = strategy === 'oversample' || strategy === 'oversample+weights';
  const undersampling = strategy === 'undersample';
  const weighting = strategy === 'weights' || strategy === 'oversample+weights';
  const rule = targetRule ?? (undersampling ? 'median' : 'max');
  const target = resolveTarget(
    rule,
    counts.filter((c) => c.train > 0).map((c) => c.train),
  );
  const notes: string[] = [];

  const classes: BalanceClassPlan[] = counts.map(({ name, train: have }) => {
    let augmentedViews = 0;
    let dropped = 0;
    if (oversampling && have > 0 && have < target) {
      const cap = have * maxViewsPerImage;
      augmentedViews = Math.min(target - have, cap);
      if (target - have > cap) {
        notes.push(
          `${name} has ${have} image${have === 1 ? '' : 's'}; ${maxViewsPerImage} view${maxViewsPerImage === 1 ? '' : 's'} ` +
            `each give at most ${have + cap}, short of ${target}.`,
        );
      }
    }
    if (undersampling && have > target) dropped = have - target;
    return { name, have, planned: have + augmentedViews - dropped, augmentedViews, dropped, weight: 1 };
  });

  const empty = classes.filter((c) => c.have === 0).map((c) => c.name);
  if (empty.length > 0) {
    notes.push(
      `${listWords(empty)} ${empty.length === 1 ? 'has' : 'have'} no training images, so rebalancing cannot give ` +
        `${empty.length === 1 ? 'it' : 'them'} any; label some images of ${empty.length === 1 ? 'it' : 'each'} first.`,
    );
  }

  if (weighting) {
    // scikit-learn's 'balanced': n_samples / (n_classes × count), over the classes that have
    // examples (an empty class contributes no loss, so its weight changes nothing).
    const present = classes.filter((c) => c.planned > 0);
    const total = present.reduce((a, c) => a + c.planned, 0);
    for (const c of present) c.weight = total / (present.length * c.planned);
  }

  switch (strategy) {
    case 'none':
      notes.push('No rebalancing: every class trains on the images it has.');
      break;
    case 'oversample':
    case 'oversample+weights': {
      const views = classes.reduce((a, c) => a + c.augmentedViews, 0);
      notes.push(
        views > 0
          ? `Oversampling to ${targetWords(rule, target)} adds ${views} augmented view${views === 1 ? '' : 's'}, ` +
              'used for training only.'
          : `Oversampling to ${targetWords(rule, target)} adds nothing: no class with images is below it.`,
      );
      if (strategy === 'oversample+weights') notes.push('Class weights are computed on the counts after oversampling.');
      break;
    }
    case 'undersample': {
      const cut = classes.filter((c) => c.dropped > 0).map((c) => `${c.dropped} ${c.name}`);
      notes.push(
        cut.length > 0
          ? `Undersampling to ${targetWords(rule, target)} leaves ${listWords(cut)} images out of training ` +
              '(chosen by the seed; they are only left out of this run and can be put back).'
          : `Undersampling to ${targetWords(rule, target)} leaves nothing out: no class is above it.`,
      );
      const below = classes.filter((c) => c.have > 0 && c.have < target).map((c) => `${c.name} (${c.have})`);
      if (below.length > 0) {
        notes.push(`${listWords(below)} stay${below.length === 1 ? 's' : ''} below ${target}: undersampling never adds images.`);
      }
      break;
    }
    case 'weights':
      notes.push('Class weights: each class counts in the loss as much as the others together, n_total / (k × n_class).');
      break;
  }

  return { strategy, target, seed, classes, notes };
}

/** Groups items by class and checks they are the images the plan was made for. */
function itemsByPlannedClass<T extends BalanceItem>(items: readonly T[], plan: BalancePlan): Map<string, T[]> {
  const byClass = new Map<string, T[]>(plan.classes.map((c) => [c.name, []]));
  const ids = new Set<number>();
  for (const item of items) {
    if (ids.has(item.imageId)) {
      throw new CoreError('invalid_input', `Image ${item.imageId} is given twice; each training image must appear once.`);
    }
    ids.add(item.imageId);
    const list = byClass.get(item.className);
    if (!list) {
      throw new CoreError(
        'invalid_input',
        `Image ${item.imageId} is in class "${item.className}", which the rebalancing plan does not know; plan again.`,
      );
    }
    list.push(item);
  }
  for (const c of plan.classes) {
    const n = byClass.get(c.name)!.length;
    if (n !== c.have) {
      throw new CoreError(
        'invalid_input',
        `The rebalancing plan was made for ${c.have} training images of "${c.name}", but ${n} are given; ` +
          'the training set changed since, so plan again.',
      );
    }
  }
  return byClass;
}

/**
 * Which training images undersampling leaves out: exactly plan.dropped per class, chosen by
 * the seed and the images' contents only. Keep the drop list to undo it (restoreUndersample).
 */
export function chooseUndersample(items: readonly BalanceItem[], plan: BalancePlan, seed: number): UndersampleChoice {
  checkedSeed(seed);
  const byClass = itemsByPlannedClass(items, plan);
  const keep: number[] = [];
  const drop: number[] = [];
  for (const c of plan.classes) {
    const ordered = seededOrder(byClass.get(c.name)!, seed);
    ordered.forEach((item, i) => (i < c.dropped ? drop : keep).push(item.imageId));
  }
  const ascending = (a: number, b: number) => a - b;
  return { keep: keep.sort(ascending), drop: drop.sort(ascending) };
}

/** Undoes an undersampling: the kept images and the stored drop list together, ascending. */
export function restoreUndersample(keep: readonly number[], drop: readonly number[]): number[] {
  return [...new Set([...keep, ...drop])].sort((a, b) => a - b);
}

/**
 * Which training images get how many augmented views, for the classes the plan oversamples:
 * round-robin over the seeded order, so within a class counts differ by at most one and add
 * up to the class's augmentedViews. Listed by class in plan order, then by image id.
 */
export function assignViews(items: readonly BalanceItem[], plan: BalancePlan, seed: number): ViewAssignment[] {
  checkedSeed(seed);
  const byClass = itemsByPlannedClass(items, plan);
  const out: ViewAssignment[] = [];
  for (const c of plan.classes) {
    if (c.augmentedViews === 0) continue;
    const ordered = seededOrder(byClass.get(c.name)!, seed);
    const each = Math.floor(c.augmentedViews / ordered.length);
    const extra = c.augmentedViews % ordered.length;
    const assigned: ViewAssignment[] = [];
    ordered.forEach((item, i) => {
      const views = each + (i < extra ? 1 : 0);
      if (views > 0) assigned.push({ imageId: item.imageId, className: c.name, views });
    });
    out.push(...assigned.sort((a, b) => a.imageId - b.imageId));
  }
  return out;
}
