/**
 * The search space of auto-tune: which TrainConfig fields a search varies and over what range,
 * and the mapping between a config patch and a point in the unit hypercube [0,1)^d, where the
 * samplers work. Samplers never see learning rates or layer widths, only coordinates; this file
 * is the one place that knows what a coordinate means.
 */
import type { TrainConfig, TrainConfigPatch } from '../../../shared/contract/training.ts';
import type { AugmentSettings } from '../../../shared/contract/augment.ts';
import type { BalanceConfig } from '../../../shared/contract/balance.ts';
import { CoreError } from '../errors.ts';

type NumericKey = { [K in keyof TrainConfig]-?: TrainConfig[K] extends number ? K : never }[keyof TrainConfig];

/** Uniform on a log scale between low and high (both > 0): learning rate, L2. */
export interface LogParam {
  kind: 'log';
  key: NumericKey;
  low: number;
  high: number;
}

/** Uniform between low and high: dropout, label smoothing. */
export interface FloatParam {
  kind: 'float';
  key: NumericKey;
  low: number;
  high: number;
}

/** A whole number between low and high inclusive, each equally likely. */
export interface IntParam {
  kind: 'int';
  key: NumericKey;
  low: number;
  high: number;
}

/**
 * One of a list of whole values. `ordered` says the list is a scale (hidden units, batch size),
 * so a model-based sampler may treat neighbours as similar; unordered lists (backbone, class
 * weighting) are plain categories.
 */
export type ChoiceParam = {
  [K in keyof TrainConfig]-?: {
    kind: 'choice';
    key: K;
    values: readonly NonNullable<TrainConfig[K]>[];
    ordered: boolean;
    /** Short names for tables and plots, one per value; default the value itself. */
    labels?: readonly string[];
  };
}[keyof TrainConfig];

export type SearchParam = LogParam | FloatParam | IntParam | ChoiceParam;

/** The parameters a search varies, one per TrainConfig field; the order fixes the point's coordinates. */
export type SearchSpace = readonly SearchParam[];

/**
 * How a sampler should treat one coordinate: numeric (distances mean something; log, float,
 * int and ordered choices) or categorical with `size` categories.
 */
export type Dimension = { kind: 'numeric' } | { kind: 'categorical'; size: number };

const LAST_BELOW_ONE = 1 - 2 ** -53;

/** Balance configs a search tries: the "class weighting", as whole values of TrainConfig.balance. */
export const CLASS_WEIGHTING_CHOICES: readonly BalanceConfig[] = [{ strategy: 'none' }, { strategy: 'weights' }];

/**
 * The head hyperparameters the issue names, over ranges that suit a small head on cached
 * embeddings. Backbone and augmentation depend on the machine and the data: add them with
 * `withRunChoices`.
 */
export const DEFAULT_HEAD_SPACE: SearchSpace = [
  { kind: 'log', key: 'learningRate', low: 1e-4, high: 1e-1 },
  { kind: 'float', key: 'dropout', low: 0, high: 0.7 },
  { kind: 'log', key: 'l2', low: 1e-6, high: 1e-2 },
  { kind: 'choice', key: 'hiddenUnits', values: [0, 64, 128, 256, 512], ordered: true },
  // Not 16: it doubles a trial's steps (and time) and did no better on cached embeddings.
  { kind: 'choice', key: 'batchSize', values: [32, 64, 128, 256], ordered: true },
  { kind: 'float', key: 'labelSmoothing', low: 0, high: 0.2 },
  { kind: 'choice', key: 'balance', values: CLASS_WEIGHTING_CHOICES, ordered: false, labels: ['none', 'balanced'] },
];

/**
 * A space with the run-time choices added: backbones available on this machine, and
 * augmentation settings (preset and views) whose embeddings the search can afford. A list of
 * one adds nothing, since there is nothing to choose.
 */
export function withRunChoices(
  space: SearchSpace,
  choices: { backbones?: readonly string[]; augment?: readonly AugmentSettings[] },
): SearchSpace {
  const added: SearchParam[] = [];
  if (choices.backbones && choices.backbones.length > 1) {
    added.push({ kind: 'choice', key: 'backbone', values: [...choices.backbones], ordered: false });
  }
  if (choices.augment && choices.augment.length > 1) {
    added.push({
      kind: 'choice',
      key: 'augment',
      values: [...choices.augment],
      ordered: false,
      labels: choices.augment.map(describeAugment),
    });
  }
  const space2 = [...space.filter((p) => !added.some((a) => a.key === p.key)), ...added];
  validateSpace(space2);
  return space2;
}

function describeAugment(a: AugmentSettings): string {
  return a.policy && a.views > 0 ? `${a.policy.name ?? 'custom'} ×${a.views}` : 'none';
}

/** Throws a CoreError naming the parameter when a space cannot be searched. */
export function validateSpace(space: SearchSpace): void {
  const seen = new Set<string>();
  for (const p of space) {
    if (seen.has(p.key)) throw new CoreError('invalid_input', `The search varies "${p.key}" twice; give each setting one range.`);
    seen.add(p.key);
    if (p.kind === 'choice') {
      if (p.values.length === 0) throw new CoreError('invalid_input', `The search has no values to try for "${p.key}".`);
      if (p.labels && p.labels.length !== p.values.length) {
        throw new CoreError('invalid_input', `The search has ${p.labels.length} names for ${p.values.length} values of "${p.key}".`);
      }
      continue;
    }
    if (!Number.isFinite(p.low) || !Number.isFinite(p.high) || !(p.low < p.high)) {
      throw new CoreError('invalid_input', `The search range for "${p.key}" must go from a smaller to a larger number (got ${p.low} to ${p.high}).`);
    }
    if (p.kind === 'log' && p.low <= 0) {
      throw new CoreError('invalid_input', `The search range for "${p.key}" is on a log scale, so it must start above 0 (got ${p.low}).`);
    }
    if (p.kind === 'int' && (!Number.isInteger(p.low) || !Number.isInteger(p.high))) {
      throw new CoreError('invalid_input', `The search range for "${p.key}" must go between whole numbers (got ${p.low} to ${p.high}).`);
    }
  }
}

/** The sampler's view of each coordinate, in the space's order. */
export function dimensionsOf(space: SearchSpace): Dimension[] {
  return space.map((p) => (p.kind === 'choice' && !p.ordered ? { kind: 'categorical', size: p.values.length } : { kind: 'numeric' }));
}

function bin(u: number, n: number): number {
  return Math.min(n - 1, Math.max(0, Math.floor(u * n)));
}

function clampUnit(u: number): number {
  return Math.min(LAST_BELOW_ONE, Math.max(0, u));
}

/** The config patch at a point of [0,1)^d; coordinates outside are clamped into it. */
export function pointToPatch(space: SearchSpace, point: readonly number[]): TrainConfigPatch {
  if (point.length !== space.length) {
    throw new CoreError('internal', `A search point has ${point.length} coordinates for ${space.length} settings.`);
  }
  const patch: Record<string, unknown> = {};
  space.forEach((p, i) => {
    const u = clampUnit(point[i]!);
    switch (p.kind) {
      case 'log':
        patch[p.key] = Math.exp(Math.log(p.low) + u * (Math.log(p.high) - Math.log(p.low)));
        break;
      case 'float':
        patch[p.key] = p.low + u * (p.high - p.low);
        break;
      case 'int':
        patch[p.key] = p.low + bin(u, p.high - p.low + 1);
        break;
      case 'choice':
        // A copy, so a caller that edits the patch cannot change the space's values.
        patch[p.key] = structuredClone(p.values[bin(u, p.values.length)]);
        break;
    }
  });
  return patch as TrainConfigPatch;
}

/**
 * The point of a config (back): for seeding a model-based sampler with runs made by hand. A
 * field the patch lacks, or a value not in a choice's list, gives null at that coordinate.
 */
export function patchToPoint(space: SearchSpace, patch: TrainConfigPatch): (number | null)[] {
  const given = patch as Record<string, unknown>;
  return space.map((p) => {
    const v = given[p.key];
    if (v === undefined || v === null) return null;
    if (p.kind === 'choice') {
      const key = canonicalJson(v);
      const i = p.values.findIndex((c) => canonicalJson(c) === key);
      return i < 0 ? null : (i + 0.5) / p.values.length;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) return null;
    if (p.kind === 'log') {
      if (v <= 0) return null;
      return clampUnit((Math.log(v) - Math.log(p.low)) / (Math.log(p.high) - Math.log(p.low)));
    }
    if (p.kind === 'float') return clampUnit((v - p.low) / (p.high - p.low));
    return clampUnit((Math.round(v) - p.low + 0.5) / (p.high - p.low + 1));
  });
}

/** The label of a point's value for one parameter, for tables and plots. */
export function valueLabel(param: SearchParam, value: unknown): string {
  if (param.kind === 'choice') {
    const key = canonicalJson(value);
    const i = param.values.findIndex((c) => canonicalJson(c) === key);
    if (i >= 0 && param.labels) return param.labels[i]!;
    return typeof value === 'object' && value !== null ? canonicalJson(value) : String(value);
  }
  if (typeof value !== 'number') return String(value);
  if (param.kind === 'int') return String(value);
  // Two significant figures, small numbers as 7.2e-4: the way the studio's table and plot show them.
  if (value !== 0 && Math.abs(value) < 1e-3) return value.toExponential(1);
  return Number(value.toPrecision(2)).toString();
}

/** JSON with object keys sorted, so equal values compare equal whatever their key order. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
