import {
  AUGMENT_PRESET_NAMES,
  OPTIMIZERS,
  SCHEDULES,
  type AugmentSettings,
  type BalanceConfig,
  type BalanceStrategy,
  type TrainConfig,
} from '../../../shared/contract/index.ts';

type NumberKey = {
  [K in keyof TrainConfig]-?: NonNullable<TrainConfig[K]> extends number ? K : never;
}[keyof TrainConfig];

export interface NumberField {
  kind: 'number';
  key: NumberKey;
  label: string;
  /** One line for someone who has never trained a model. */
  help: string;
  min: number;
  max: number;
  integer: boolean;
  step: number | 'any';
  /** Shown after the field, e.g. "epochs". */
  unit?: string;
}

export interface ChoiceField {
  kind: 'choice';
  key: 'optimizer' | 'schedule';
  label: string;
  help: string;
  options: { value: string; label: string }[];
}

export interface SwitchField {
  kind: 'switch';
  key: 'restoreBest';
  label: string;
  help: string;
}

export type TrainField = NumberField | ChoiceField | SwitchField;

const OPTIMIZER_NAMES: Record<(typeof OPTIMIZERS)[number], string> = { adam: 'Adam', sgd: 'SGD with momentum', rmsprop: 'RMSprop' };
const SCHEDULE_NAMES: Record<(typeof SCHEDULES)[number], string> = {
  constant: 'Constant',
  plateau: 'Lower when stuck (plateau)',
  cosine: 'Smooth decrease (cosine)',
};

/** The settings every user sees, besides the backbone. */
export const BASIC_FIELDS: TrainField[] = [
  {
    kind: 'number',
    key: 'epochs',
    label: 'Epochs',
    help: 'How many times training goes over all training images; early stopping may end it sooner.',
    min: 1,
    max: 1000,
    integer: true,
    step: 1,
  },
  {
    kind: 'number',
    key: 'fineTuneBlocks',
    label: 'Fine-tune top blocks',
    help: '0 = off. Also adapts the last blocks of the backbone to your images: slower, often more accurate.',
    min: 0,
    max: 17,
    integer: true,
    step: 1,
  },
  {
    kind: 'number',
    key: 'seed',
    label: 'Seed',
    help: 'Any whole number. The same seed, images and settings give the same split and the same model.',
    min: 0,
    max: 2 ** 31 - 1,
    integer: true,
    step: 1,
  },
];

/** The settings behind the "Advanced" disclosure. */
export const ADVANCED_FIELDS: TrainField[] = [
  {
    kind: 'number',
    key: 'hiddenUnits',
    label: 'Hidden units',
    help: 'Size of an extra layer between the image features and the classes; 0 = no extra layer (simplest).',
    min: 0,
    max: 4096,
    integer: true,
    step: 1,
  },
  {
    kind: 'number',
    key: 'dropout',
    label: 'Dropout',
    help: 'Share of that layer switched off at random while training, so the model cannot just memorise.',
    min: 0,
    max: 0.9,
    integer: false,
    step: 0.05,
  },
  {
    kind: 'number',
    key: 'l2',
    label: 'L2 penalty',
    help: 'Discourages large weights; raise it if the model learns the training images but not new ones.',
    min: 0,
    max: 1,
    integer: false,
    step: 'any',
  },
  {
    kind: 'choice',
    key: 'optimizer',
    label: 'Optimizer',
    help: 'How each learning step changes the weights; Adam works well almost always.',
    options: OPTIMIZERS.map((o) => ({ value: o, label: OPTIMIZER_NAMES[o] })),
  },
  {
    kind: 'number',
    key: 'learningRate',
    label: 'Learning rate',
    help: 'Size of each learning step: too high and the curves jump about, too low and learning crawls.',
    min: 1e-7,
    max: 10,
    integer: false,
    step: 'any',
  },
  {
    kind: 'choice',
    key: 'schedule',
    label: 'Learning-rate schedule',
    help: 'Whether the step size stays put, drops when progress stalls, or shrinks smoothly to the end.',
    options: SCHEDULES.map((s) => ({ value: s, label: SCHEDULE_NAMES[s] })),
  },
  {
    kind: 'number',
    key: 'batchSize',
    label: 'Batch size',
    help: 'Images per learning step; smaller batches learn noisier but sometimes better.',
    min: 1,
    max: 1024,
    integer: true,
    step: 1,
  },
  {
    kind: 'number',
    key: 'labelSmoothing',
    label: 'Label smoothing',
    help: 'Keeps the model from being over-sure of its answers; 0.1 is a good default, 0 turns it off.',
    min: 0,
    max: 0.5,
    integer: false,
    step: 0.05,
  },
  {
    kind: 'number',
    key: 'patience',
    label: 'Early-stopping patience',
    help: 'Stop after this many epochs without a better validation loss; 0 = never stop early.',
    min: 0,
    max: 1000,
    integer: true,
    step: 1,
  },
  {
    kind: 'switch',
    key: 'restoreBest',
    label: 'Keep the best epoch',
    help: 'Keep the weights of the epoch that did best on validation images, not those of the last epoch.',
  },
  {
    kind: 'number',
    key: 'fineTuneEpochs',
    label: 'Fine-tuning epochs',
    help: 'Epochs of the fine-tuning phase (only when fine-tuning is on).',
    min: 1,
    max: 200,
    integer: true,
    step: 1,
  },
  {
    kind: 'number',
    key: 'fineTuneLearningRate',
    label: 'Fine-tuning learning rate',
    help: 'Step size while fine-tuning; keep it about ten times lower than the learning rate above.',
    min: 1e-9,
    max: 1,
    integer: false,
    step: 'any',
  },
];

export const ALL_FIELDS: TrainField[] = [...BASIC_FIELDS, ...ADVANCED_FIELDS];

/** Words for a number field's value that does not fit, or null when it fits. */
export function numberProblem(field: NumberField, value: unknown): string | null {
  if (typeof value !== 'number' || !Number.isFinite(value)) return 'Enter a number.';
  if (field.integer && !Number.isInteger(value)) return 'Enter a whole number.';
  const low = field.key === 'learningRate' || field.key === 'fineTuneLearningRate' ? 'above 0' : `at least ${field.min}`;
  if (value < field.min) return `Must be ${low}.`;
  if (value > field.max) return `Must be at most ${field.max.toLocaleString('en')}.`;
  return null;
}

/** Problems of a whole form, by setting name. */
export function configProblems(config: Partial<Record<keyof TrainConfig, unknown>>): Partial<Record<keyof TrainConfig, string>> {
  const out: Partial<Record<keyof TrainConfig, string>> = {};
  for (const field of ALL_FIELDS) {
    if (field.kind !== 'number') continue;
    const problem = numberProblem(field, config[field.key]);
    if (problem) out[field.key] = problem;
  }
  return out;
}

/** Labels of every setting, for the comparison table. */
export const SETTING_LABELS: Record<keyof TrainConfig, string> = {
  backbone: 'Backbone',
  balance: 'Rebalancing',
  augment: 'Augmentation',
  classWeights: 'Class weights',
  ...(Object.fromEntries(ALL_FIELDS.map((f) => [f.key, f.label])) as Record<Exclude<keyof TrainConfig, 'backbone' | 'balance' | 'augment' | 'classWeights'>, string>),
};

/** Short names of the rebalancing strategies, as the Balance view and run summaries say them. */
export const STRATEGY_NAMES: Record<BalanceStrategy, string> = {
  none: 'none',
  weights: 'class weights',
  oversample: 'oversample with augmentation',
  undersample: 'undersample',
  'oversample+weights': 'oversample + weights',
};

const TARGET_NAMES = { max: 'the largest class', median: 'the median class', mean: 'the mean class size' } as const;

/** "oversample + weights to the largest class" for a balance config. */
export function balanceText(balance: BalanceConfig): string {
  const name = STRATEGY_NAMES[balance.strategy];
  if (balance.strategy === 'none' || balance.strategy === 'weights') return name;
  const target = balance.target ?? (balance.strategy === 'undersample' ? 'median' : 'max');
  return `${name} to ${typeof target === 'number' ? `${target} per class` : TARGET_NAMES[target]}`;
}

/** "natural, 4 views" / "custom, 2 views" / "none" for augmentation settings. */
export function augmentText(augment: AugmentSettings): string {
  if (!augment.policy) return 'none';
  const name = (AUGMENT_PRESET_NAMES as readonly string[]).includes(augment.policy.name) ? augment.policy.name : 'custom';
  return `${name}, ${augment.views === 1 ? '1 view' : `${augment.views} views`}`;
}

/** "MobileNet v1 α0.25" for "mobilenet_v1_0.25_224"; other ids as they are. */
export function backboneName(id: string): string {
  const match = /^mobilenet_v(\d)_([\d.]+)_(\d+)$/.exec(id);
  return match ? `MobileNet v${match[1]} α${match[2]}` : id;
}

/** A setting's value in words, for the comparison and the run's summary. */
export function settingText(key: keyof TrainConfig, value: unknown): string {
  if (key === 'backbone') return typeof value === 'string' ? backboneName(value) : 'default';
  if (key === 'optimizer') return OPTIMIZER_NAMES[value as (typeof OPTIMIZERS)[number]] ?? String(value);
  if (key === 'schedule') return SCHEDULE_NAMES[value as (typeof SCHEDULES)[number]] ?? String(value);
  if (key === 'restoreBest') return value ? 'yes' : 'no';
  if (key === 'balance') return value && typeof value === 'object' ? balanceText(value as BalanceConfig) : 'class weights (older run)';
  if (key === 'augment') return value && typeof value === 'object' ? augmentText(value as AugmentSettings) : 'none';
  if (key === 'fineTuneBlocks' && value === 0) return 'off';
  if (typeof value === 'number') return value !== 0 && Math.abs(value) < 0.001 ? value.toExponential(0) : String(value);
  return String(value);
}
