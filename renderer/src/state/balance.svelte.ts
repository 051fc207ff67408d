import {
  AUGMENT_PRESET_NAMES,
  DEFAULT_MAX_VIEWS_PER_IMAGE,
  type AugmentOp,
  type AugmentOpName,
  type AugmentPolicy,
  type AugmentPresetName,
  type AugmentPreview,
  type BalanceConfig,
  type BalancePreview,
  type BalanceStrategy,
  type BalanceTargetRule,
  type ClassInfo,
  type JobInfo,
  type ProjectInfo,
} from '../../../shared/contract/index.ts';
import { AUGMENT_PRESETS } from '../../../shared/domain/augment-presets.ts';
import { api, errorMessage } from '../api/index.ts';
import { plural } from '../lib/format.ts';
import { jobs } from './jobs.svelte.ts';
import { attempt, toasts } from './toasts.svelte.ts';
import type { TrainState } from './train.svelte.ts';

/** Settings change by the keystroke and the slider step: previews wait this long for the user to pause. */
const PREVIEW_DEBOUNCE_MS = 250;
export const PREVIEW_TILES = 14;

export type PresetChoice = 'none' | AugmentPresetName | 'custom';

/** Which entry of the preset picker a policy is: a preset only while its steps are the preset's. */
export function presetOf(policy: AugmentPolicy | null): PresetChoice {
  if (!policy) return 'none';
  const preset = (AUGMENT_PRESET_NAMES as readonly string[]).includes(policy.name) ? AUGMENT_PRESETS[policy.name as AugmentPresetName] : null;
  if (!preset || preset.ops.length !== policy.ops.length) return 'custom';
  const same = preset.ops.every((step, i) => {
    const other = policy.ops[i]!;
    return other.op === step.op && other.p === step.p && other.strength === step.strength;
  });
  return same ? (policy.name as AugmentPresetName) : 'custom';
}

const clonePolicy = (policy: AugmentPolicy): AugmentPolicy => ({ name: policy.name, ops: policy.ops.map((s) => ({ ...s })) });

/** Images that preview can show: a class's training images first, then its other labelled ones. */
interface PreviewCandidate {
  classId: number;
  ids: number[];
}

/**
 * The Balance view of one project: the class distribution and the rebalancing plan a run would
 * follow, the augmentation policy with its live preview, and materialised copies. The settings
 * themselves live in the Train form (config.balance, config.augment), so training uses them.
 */
export class BalanceState {
  /** The per-class plan for the current settings; null until the first answer. */
  preview = $state.raw<BalancePreview | null>(null);
  previewError = $state<string | null>(null);
  previewLoading = $state(false);

  /** The image the augmentation preview shows. */
  imageId = $state<number | null>(null);
  /** The class the preview image is drawn from (null: any labelled image). */
  imageClassId = $state<number | null>(null);
  tiles = $state.raw<AugmentPreview | null>(null);
  tilesError = $state<string | null>(null);
  tilesLoading = $state(false);
  /** The preview's seed; the training seed until the user reshuffles. */
  previewSeed = $state(1);
  /** No image can be previewed (no labelled image in the chosen class or anywhere). */
  noImage = $state(false);

  /** The materialise job this window started, while it runs. */
  materialiseJobId = $state<string | null>(null);
  materialiseJob = $derived(this.materialiseJobId ? (jobs.get(this.materialiseJobId) ?? null) : null);

  /** Steps switched off in the editor, remembered so switching one back on restores its sliders. */
  #parked = new Map<AugmentOpName, AugmentOp>();
  #previewSeq = 0;
  #tilesSeq = 0;
  #previewTimer: ReturnType<typeof setTimeout> | undefined;
  #tilesTimer: ReturnType<typeof setTimeout> | undefined;
  #candidates = new Map<number | null, number[]>();
  #disposed = false;
  #picking = false;
  #stopEffects: () => void = () => {};

  constructor(
    readonly project: ProjectInfo,
    readonly train: TrainState,
  ) {
    this.previewSeed = train.form.seed;
  }

  get balance(): BalanceConfig {
    return this.train.form.balance;
  }

  get policy(): AugmentPolicy | null {
    return this.train.form.augment.policy;
  }

  get views(): number {
    return this.train.form.augment.views;
  }

  /** The policy the preview shows: the chosen one, or the one oversampling falls back on. */
  get previewPolicy(): AugmentPolicy | null {
    if (this.policy) return this.policy;
    return this.balance.strategy === 'oversample' || this.balance.strategy === 'oversample+weights' ? AUGMENT_PRESETS.natural : null;
  }

  /** Starts following the settings: each change refreshes the plan and the preview, debounced. */
  start(): void {
    this.#stopEffects();
    this.#stopEffects = $effect.root(() => {
      $effect(() => {
        // Read what the plan depends on so the effect reruns when it changes.
        JSON.stringify([this.train.form.balance, this.train.form.augment, this.train.form.seed]);
        this.schedulePreview();
      });
      $effect(() => {
        JSON.stringify([this.previewPolicy, this.previewSeed, this.imageId]);
        this.#scheduleTiles();
      });
    });
  }

  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#previewTimer);
    clearTimeout(this.#tilesTimer);
    this.#stopEffects();
  }

  // ---------- settings ----------

  setStrategy(strategy: BalanceStrategy): void {
    const next: BalanceConfig = { ...this.balance, strategy };
    this.train.form.balance = next;
    // The core derives class weights from the strategy; the form keeps the two in agreement for older readers.
    this.train.form.classWeights = strategy === 'weights' || strategy === 'oversample+weights' ? 'balanced' : 'none';
  }

  setTarget(target: BalanceTargetRule | number | undefined): void {
    this.train.form.balance = { ...this.balance, target };
  }

  setMaxViews(maxViewsPerImage: number): void {
    const value = Math.min(32, Math.max(1, Math.round(maxViewsPerImage)));
    this.train.form.balance = { ...this.balance, maxViewsPerImage: value === DEFAULT_MAX_VIEWS_PER_IMAGE ? undefined : value };
  }

  setViews(views: number): void {
    const value = Math.min(16, Math.max(0, Math.round(views)));
    this.train.form.augment = { ...this.train.form.augment, views: value };
  }

  choosePreset(choice: PresetChoice): void {
    // Turning augmentation on from none starts at 4 views: a policy with 0 views only serves oversampling.
    const augment = this.train.form.augment.policy === null && choice !== 'none' && this.train.form.augment.views === 0 ? { ...this.train.form.augment, views: 4 } : this.train.form.augment;
    if (choice === 'none') this.train.form.augment = { ...augment, policy: null };
    else if (choice === 'custom') this.train.form.augment = { ...augment, policy: { name: 'custom', ops: clonePolicy(this.policy ?? AUGMENT_PRESETS.natural).ops } };
    else this.train.form.augment = { ...augment, policy: clonePolicy(AUGMENT_PRESETS[choice]) };
    this.#parked.clear();
  }

  /** Replaces the policy wholesale (an imported JSON file). */
  setPolicy(policy: AugmentPolicy): void {
    this.train.form.augment = { ...this.train.form.augment, policy: clonePolicy(policy) };
    this.#parked.clear();
  }

  /** Any edit of a step turns the policy into "custom"; steps keep their order, new ones go last. */
  editStep(op: AugmentOpName, change: { enabled?: boolean; p?: number; strength?: number }): void {
    const base = this.policy ?? AUGMENT_PRESETS.natural;
    const ops = base.ops.map((s) => ({ ...s }));
    const at = ops.findIndex((s) => s.op === op);
    if (change.enabled === false) {
      if (at >= 0) this.#parked.set(op, ops.splice(at, 1)[0]!);
    } else if (at < 0) {
      if (change.enabled !== true && change.p === undefined && change.strength === undefined) return;
      const parked = this.#parked.get(op) ?? { op, p: 0.5, strength: 0.5 };
      ops.push({ ...parked, ...(change.p !== undefined ? { p: change.p } : {}), ...(change.strength !== undefined ? { strength: change.strength } : {}) });
      this.#parked.delete(op);
    } else {
      const step = ops[at]!;
      if (change.p !== undefined) step.p = change.p;
      if (change.strength !== undefined) step.strength = change.strength;
    }
    this.train.form.augment = { ...this.train.form.augment, policy: { name: 'custom', ops } };
  }

  // ---------- the plan ----------

  /** The plan is asked for again shortly: settings move in small steps, events come in bursts. */
  schedulePreview(): void {
    clearTimeout(this.#previewTimer);
    this.#previewTimer = setTimeout(() => void this.refreshPreview(), PREVIEW_DEBOUNCE_MS);
  }

  async refreshPreview(): Promise<void> {
    if (this.#disposed) return;
    const seq = ++this.#previewSeq;
    this.previewLoading = true;
    const form = $state.snapshot(this.train.form);
    try {
      const preview = await api.call('balance.preview', { balance: form.balance, augment: form.augment, seed: form.seed });
      if (seq !== this.#previewSeq || this.#disposed) return;
      this.preview = preview;
      this.previewError = null;
      // The default preview image comes from the smallest class, which the first plan tells.
      if (this.imageId === null && !this.#picking) void this.pickImage(this.imageClassId, 0);
    } catch (err) {
      if (seq !== this.#previewSeq || this.#disposed) return;
      this.previewError = errorMessage(err);
    } finally {
      if (seq === this.#previewSeq) this.previewLoading = false;
    }
  }

  /** Labels, splits or images changed: the counts and the preview image may be out of date. */
  onDatasetChanged(): void {
    if (this.#disposed) return;
    this.#candidates.clear();
    this.schedulePreview();
  }

  /** Gives labelled images without a split one, as a run would, so the chart and the plan are complete. */
  async assignSplits(): Promise<void> {
    const result = await attempt(() => api.call('splits.assign', { seed: this.train.form.seed }));
    if (!result) return;
    toasts.success(`Gave ${plural(result.assigned, 'image')} a split (70% training, 15% validation, 15% test per class).`);
    this.#candidates.clear();
    await this.refreshPreview();
  }

  // ---------- the augmentation preview ----------

  #scheduleTiles(): void {
    clearTimeout(this.#tilesTimer);
    this.#tilesTimer = setTimeout(() => void this.refreshTiles(), PREVIEW_DEBOUNCE_MS);
  }

  async refreshTiles(): Promise<void> {
    if (this.#disposed) return;
    const imageId = this.imageId;
    const policy = this.previewPolicy;
    const seq = ++this.#tilesSeq;
    if (imageId === null) {
      this.tiles = null;
      this.tilesLoading = false;
      return;
    }
    this.tilesLoading = true;
    try {
      // With no policy the original alone shows: a policy with no steps gives it back untouched.
      const answer = await api.call('augment.preview', {
        imageId,
        policy: policy ? $state.snapshot(policy) : { name: 'none', ops: [] },
        seed: this.previewSeed,
        count: policy ? PREVIEW_TILES : 1,
      });
      if (seq !== this.#tilesSeq || this.#disposed) return;
      this.tiles = answer;
      this.tilesError = null;
    } catch (err) {
      if (seq !== this.#tilesSeq || this.#disposed) return;
      this.tilesError = errorMessage(err);
    } finally {
      if (seq === this.#tilesSeq) this.tilesLoading = false;
    }
  }

  /** A new seed for the preview only; training keeps its own until the user takes this one. */
  reshuffle(): void {
    this.previewSeed = Math.floor(Math.random() * 1_000_000);
  }

  useSeedForTraining(): void {
    this.train.form.seed = this.previewSeed;
  }

  /**
   * Shows the next image of a class (null: the smallest class with training images); `step` 0
   * takes the first. Training images come first, the class's other labelled images after them.
   */
  async pickImage(classId: number | null, step = 1): Promise<void> {
    const chosen = classId ?? this.#smallestClass();
    this.imageClassId = classId;
    this.#picking = true;
    const ids = await this.#candidatesOf(chosen).finally(() => (this.#picking = false));
    if (this.#disposed) return;
    if (!ids.length) {
      this.noImage = true;
      this.imageId = null;
      this.tiles = null;
      return;
    }
    this.noImage = false;
    const at = this.imageId === null || step === 0 ? 0 : (Math.max(0, ids.indexOf(this.imageId)) + step + ids.length) % ids.length;
    this.imageId = ids[at]!;
  }

  /** The class with the fewest training images (any with some), or null when none has any. */
  #smallestClass(): number | null {
    const counts = this.preview?.classes;
    if (!counts || !this.#classList.length) return null;
    let best: { id: number; n: number } | null = null;
    for (const c of this.#classList) {
      const n = counts.find((k) => k.name === c.name)?.train ?? 0;
      if (n > 0 && (!best || n < best.n)) best = { id: c.id, n };
    }
    return best?.id ?? null;
  }

  /** The project's classes, set by the view from the dataset state. */
  #classList: ClassInfo[] = [];
  setClasses(classes: ClassInfo[]): void {
    this.#classList = classes;
  }

  async #candidatesOf(classId: number | null): Promise<number[]> {
    const known = this.#candidates.get(classId);
    if (known) return known;
    const classIds = classId === null ? undefined : [classId];
    try {
      const [train, rest] = await Promise.all([
        api.call('images.query', { filter: { classIds, splits: ['train'] }, offset: 0, limit: 400 }),
        api.call('images.query', { filter: { classIds, unlabeled: false, splits: ['val', 'test', 'none'] }, offset: 0, limit: 400 }),
      ]);
      // Originals first: a derived copy is already augmented.
      const rows = [...train.rows, ...rest.rows].filter((r) => r.classId !== null);
      const ids = [...rows.filter((r) => r.derivedFrom === null), ...rows.filter((r) => r.derivedFrom !== null)].map((r) => r.id);
      this.#candidates.set(classId, ids);
      return ids;
    } catch (err) {
      this.tilesError = errorMessage(err);
      return [];
    }
  }

  // ---------- materialised copies ----------

  async materialise(copies: number, classIds: number[] | undefined): Promise<boolean> {
    const policy = $state.snapshot(this.previewPolicy ?? AUGMENT_PRESETS.natural);
    const started = await attempt(() => api.call('augment.materialise', { policy, copies, seed: this.train.form.seed, classIds }));
    if (!started) return false;
    this.materialiseJobId = started.jobId;
    const known = jobs.get(started.jobId);
    if (known && known.status !== 'running') this.onJobDone(known);
    return true;
  }

  onJobDone(job: JobInfo): void {
    if (job.kind !== 'augment' || job.id !== this.materialiseJobId) return;
    this.materialiseJobId = null;
    if (job.status === 'done') toasts.success('Made the augmented copies: they train with their sources and show as derived in the gallery.');
    else if (job.status === 'failed') toasts.error(job.error ?? 'Making augmented copies failed.');
    else toasts.info('Stopped making augmented copies; the ones made so far are kept.');
    this.#candidates.clear();
    this.schedulePreview();
  }

  async removeDerived(): Promise<void> {
    const result = await attempt(() => api.call('augment.removeDerived'));
    if (!result) return;
    toasts.success(result.removed ? `Removed ${plural(result.removed, 'augmented copy', 'augmented copies')} and their files.` : 'There were no augmented copies to remove.');
    this.#candidates.clear();
    await this.refreshPreview();
  }
}
