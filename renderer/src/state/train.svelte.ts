import {
  DEFAULT_TRAIN_CONFIG,
  trainConfigPatchSchema,
  type BackboneInfo,
  type EpochMetrics,
  type JobInfo,
  type ProjectInfo,
  type RunDetail,
  type RunEpochEvent,
  type RunPhase,
  type RunSummary,
  type TrainConfig,
} from '../../../shared/contract/index.ts';
import { api, errorMessage } from '../api/index.ts';
import { plural } from '../lib/format.ts';
import { configProblems } from '../lib/train-fields.ts';
import { chooser } from './chooser.svelte.ts';
import { jobs } from './jobs.svelte.ts';
import { attempt, toasts } from './toasts.svelte.ts';

/** Dataset changes arrive in bursts (an import); the runs' "stale" flags are refetched at most this often. */
const STALE_REFRESH_MS = 800;

/** Where the Train view sends the user after a prediction or a finished run. */
export interface TrainNavigation {
  showGallery(): void;
  showTrain(): void;
  trainShown(): boolean;
}

function sameEpoch(a: EpochMetrics, b: EpochMetrics): boolean {
  return a.phase === b.phase && a.epoch === b.epoch;
}

/** Head epochs first, then fine-tuning epochs, each by number. */
function sortEpochs(epochs: EpochMetrics[]): EpochMetrics[] {
  return [...epochs].sort((a, b) => (a.phase === b.phase ? a.epoch - b.epoch : a.phase === 'head' ? -1 : 1));
}

function mergeEpochs(known: EpochMetrics[], more: EpochMetrics[]): EpochMetrics[] {
  const out = [...known];
  for (const e of more) {
    const at = out.findIndex((k) => sameEpoch(k, e));
    if (at >= 0) out[at] = e;
    else out.push(e);
  }
  return sortEpochs(out);
}

/**
 * The Train view of one project: the settings form, the runs, the run shown (with its curves
 * filling live as epochs end), the runs being compared, and what the user does with a run.
 */
export class TrainState {
  backbones = $state.raw<BackboneInfo[]>([]);
  /** Backbones being downloaded now. */
  downloading = $state.raw<string[]>([]);
  runs = $state.raw<RunSummary[]>([]);
  /** True once the runs and backbones have arrived. */
  loaded = $state(false);
  /** The settings form; numbers may be null while a field is empty. */
  form = $state<TrainConfig>({ ...DEFAULT_TRAIN_CONFIG });
  advancedOpen = $state(false);

  selectedId = $state<number | null>(null);
  /** The shown run with its epochs (runs.get), kept up to date by `run.epoch` events. */
  detail = $state.raw<RunDetail | null>(null);
  /** Epochs planned per phase of the shown run, from its latest epoch event (the x axis while it fills). */
  planned = $state.raw<Partial<Record<RunPhase, number>>>({});
  /** Two runs ticked for comparison, oldest tick first. */
  compareIds = $state.raw<number[]>([]);
  compared = $state.raw<RunDetail[]>([]);
  /** The comparison shows while two runs are ticked, until the user picks one run to look at. */
  compareOpen = $state(true);

  starting = $state(false);
  /** Why the last Train press did not start a run, in the core's words. */
  startError = $state<string | null>(null);

  problems = $derived(configProblems(this.form));
  hasProblems = $derived(Object.keys(this.problems).length > 0);
  training = $derived(this.runs.find((r) => r.status === 'running') ?? null);
  selected = $derived(this.runs.find((r) => r.id === this.selectedId) ?? null);
  comparing = $derived(this.compareOpen && this.compareIds.length === 2 && this.compared.length === 2);
  hasPredictions = $derived(this.runs.some((r) => r.predictions > 0));

  /** Until the user picks a run, the view follows the newest one. */
  #followLatest = true;
  /** Epochs that arrived for a run while its detail was being fetched. */
  #liveEpochs = new Map<number, EpochMetrics[]>();
  #detailSeq = 0;
  #compareSeq = 0;
  /** Prediction jobs this window started: job id → what to say when it ends. */
  #predictJobs = new Map<string, { runName: string }>();
  #downloadJobs = new Map<string, string>();
  #staleTimer: ReturnType<typeof setTimeout> | undefined;
  #disposed = false;
  readonly #formKey: string;
  readonly #stopEffects: () => void;

  constructor(
    readonly project: ProjectInfo,
    private readonly nav: TrainNavigation,
  ) {
    this.#formKey = `seedbed.trainForm.${project.path}`;
    this.form = this.#storedForm();
    // The form is remembered per project, so the next session starts from the last settings.
    this.#stopEffects = $effect.root(() => {
      $effect(() => {
        localStorage.setItem(this.#formKey, JSON.stringify(this.form));
      });
    });
  }

  #storedForm(): TrainConfig {
    try {
      const raw: unknown = JSON.parse(localStorage.getItem(this.#formKey) ?? 'null');
      const parsed = trainConfigPatchSchema.safeParse(raw);
      if (parsed.success) return { ...DEFAULT_TRAIN_CONFIG, ...parsed.data };
    } catch {
      // A damaged entry is forgotten; the defaults serve.
    }
    return { ...DEFAULT_TRAIN_CONFIG };
  }

  async load(): Promise<void> {
    await Promise.all([this.refreshRuns(), this.#loadBackbones()]);
    this.loaded = true;
  }

  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#staleTimer);
    this.#stopEffects();
  }

  async #loadBackbones(): Promise<void> {
    const list = await attempt(() => api.call('ml.backbones'));
    if (list) this.#setBackbones(list);
  }

  #setBackbones(list: BackboneInfo[]): void {
    this.backbones = list;
    const chosen = list.find((b) => b.id === this.form.backbone);
    if (!chosen || chosen.source === null) {
      const fallback = list.find((b) => b.isDefault && b.source !== null) ?? list.find((b) => b.source !== null);
      this.form.backbone = fallback?.id;
    }
  }

  resetForm(): void {
    const backbone = this.backbones.find((b) => b.isDefault && b.source !== null)?.id;
    this.form = { ...DEFAULT_TRAIN_CONFIG, backbone };
    this.startError = null;
  }

  // ---------- runs ----------

  async refreshRuns(): Promise<void> {
    const runs = await attempt(() => api.call('runs.list'));
    if (!runs || this.#disposed) return;
    this.runs = runs;
    if (this.selectedId !== null && !runs.some((r) => r.id === this.selectedId)) {
      this.selectedId = null;
      this.detail = null;
      this.#followLatest = true;
    }
    if (this.#followLatest && runs.length && runs[0]!.id !== this.selectedId) await this.#show(runs[0]!.id);
    const kept = this.compareIds.filter((id) => runs.some((r) => r.id === id));
    if (kept.length !== this.compareIds.length) this.compareIds = kept;
  }

  /** The user picked a run to look at. */
  async select(runId: number): Promise<void> {
    this.#followLatest = false;
    this.compareOpen = false;
    await this.#show(runId);
  }

  async #show(runId: number): Promise<void> {
    this.selectedId = runId;
    if (this.detail?.id !== runId) {
      this.detail = null;
      this.planned = {};
    }
    await this.#loadDetail(runId);
  }

  async #loadDetail(runId: number): Promise<void> {
    const seq = ++this.#detailSeq;
    try {
      const detail = await api.call('runs.get', { runId });
      if (seq !== this.#detailSeq || this.selectedId !== runId || this.#disposed) return;
      const live = this.#liveEpochs.get(runId) ?? [];
      // Keep epochs this window already drew that the answer may predate.
      const known = this.detail?.id === runId ? this.detail.epochs : [];
      this.detail = { ...detail, epochs: mergeEpochs(mergeEpochs(known, detail.epochs), live) };
      if (detail.status !== 'running') this.#liveEpochs.delete(runId);
    } catch (err) {
      if (seq === this.#detailSeq) toasts.error(err);
    }
  }

  /** A run finished an epoch: its curves grow by one point without a round trip. */
  onEpoch(event: RunEpochEvent): void {
    const live = this.#liveEpochs.get(event.runId) ?? [];
    this.#liveEpochs.set(event.runId, mergeEpochs(live, [event.epoch]));
    if (this.detail?.id === event.runId) {
      this.detail = { ...this.detail, epochs: mergeEpochs(this.detail.epochs, [event.epoch]), bestEpoch: event.bestEpoch };
      this.planned = { ...this.planned, [event.epoch.phase]: event.plannedEpochs };
    } else if (this.selectedId === event.runId) {
      this.planned = { ...this.planned, [event.epoch.phase]: event.plannedEpochs };
    }
  }

  /** A run was created, finished, renamed or deleted, or its predictions changed. */
  async onRunsChanged(runId: number | null): Promise<void> {
    await this.refreshRuns();
    if (this.selectedId !== null && (runId === null || runId === this.selectedId)) await this.#loadDetail(this.selectedId);
    if (runId === null || this.compareIds.includes(runId)) await this.#loadCompared();
  }

  /** Labels, splits or images changed: runs may have gone stale. */
  onDatasetChanged(): void {
    if (this.#disposed || this.runs.length === 0) return;
    clearTimeout(this.#staleTimer);
    this.#staleTimer = setTimeout(() => void this.refreshRuns(), STALE_REFRESH_MS);
  }

  onJobDone(job: JobInfo): void {
    if (job.kind === 'download') {
      const id = this.#downloadJobs.get(job.id);
      if (!id) return;
      this.#downloadJobs.delete(job.id);
      this.downloading = this.downloading.filter((d) => d !== id);
      if (job.status === 'done') {
        toasts.success(`Downloaded ${id}; it is ready to train with.`);
        void this.#loadBackbones();
      } else if (job.status === 'failed') {
        toasts.error(job.error ?? `The download of ${id} failed.`);
      }
      return;
    }
    if (job.kind === 'predict') {
      const started = this.#predictJobs.get(job.id);
      if (!started) return;
      this.#predictJobs.delete(job.id);
      if (job.status === 'done') {
        toasts.success(`Predicted ${plural(job.total, 'image')} with ${started.runName}. The gallery shows each image's predicted class.`, {
          action: { label: 'Show in gallery', ariaLabel: 'Show the predictions in the gallery', run: () => this.nav.showGallery() },
          timeout: 10_000,
        });
      } else if (job.status === 'failed') {
        toasts.error(job.error ?? `Predicting with ${started.runName} failed.`);
      } else {
        toasts.info('Prediction cancelled; the images predicted so far keep their predictions.');
      }
    } else if (job.kind === 'train') {
      void this.refreshRuns();
      if (this.nav.trainShown()) return;
      const run = this.runs.find((r) => r.jobId === job.id);
      const name = run?.name ?? 'The run';
      if (job.status === 'done') {
        toasts.success(`${name} finished training.`, { action: { label: 'Show run', ariaLabel: `Show ${name}`, run: () => this.nav.showTrain() } });
      } else if (job.status === 'failed') {
        toasts.error(job.error ?? `${name} failed.`, { action: { label: 'Show run', ariaLabel: `Show ${name}`, run: () => this.nav.showTrain() } });
      }
    }
  }

  // ---------- actions ----------

  /** Starts a run with the form's settings; the view switches to it. */
  async start(): Promise<void> {
    if (this.training || this.starting) return;
    if (this.hasProblems) {
      this.startError = 'Some settings are not valid; fix the ones marked in red.';
      return;
    }
    this.starting = true;
    this.startError = null;
    try {
      const config = $state.snapshot(this.form);
      const { runId } = await api.call('train.start', { config });
      this.#followLatest = true;
      this.selectedId = runId;
      this.detail = null;
      this.planned = { head: config.epochs };
      await this.refreshRuns();
      await this.#loadDetail(runId);
    } catch (err) {
      this.startError = errorMessage(err);
    } finally {
      this.starting = false;
    }
  }

  async cancel(run: RunSummary): Promise<void> {
    if (run.jobId) await jobs.cancel(run.jobId);
  }

  async rename(runId: number, name: string): Promise<boolean> {
    const current = this.runs.find((r) => r.id === runId);
    if (!name.trim() || current?.name === name.trim()) return true;
    const renamed = await attempt(() => api.call('runs.rename', { runId, name }));
    if (!renamed) return false;
    this.runs = this.runs.map((r) => (r.id === runId ? renamed : r));
    if (this.detail?.id === runId) this.detail = { ...this.detail, name: renamed.name };
    return true;
  }

  async remove(runId: number): Promise<void> {
    const name = this.runs.find((r) => r.id === runId)?.name ?? 'The run';
    const done = await attempt(() => api.call('runs.delete', { runId }));
    if (done === undefined) return;
    this.compareIds = this.compareIds.filter((id) => id !== runId);
    if (this.selectedId === runId) {
      this.selectedId = null;
      this.detail = null;
      this.#followLatest = true;
    }
    await this.refreshRuns();
    toasts.success(`Deleted ${name}, its model files and its predictions.`);
  }

  async predict(run: RunSummary, scope: 'unlabeled' | 'all'): Promise<void> {
    const started = await attempt(() => api.call('predict.start', { runId: run.id, scope }));
    if (!started) return;
    this.#predictJobs.set(started.jobId, { runName: run.name });
    toasts.info(`Predicting ${scope === 'all' ? 'all images' : 'the unlabeled images'} with ${run.name}…`, { timeout: 3000 });
    // A small project may finish before its events reach this window.
    const known = jobs.get(started.jobId);
    if (known && known.status !== 'running') this.onJobDone(known);
  }

  async exportRun(run: RunSummary): Promise<void> {
    const slug = (text: string) => text.replace(/[^\w.-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '').toLowerCase();
    const suggestedName = `${slug(this.project.name).slice(0, 30)}-${slug(run.name).slice(0, 30)}`.replace(/-+$/, '') + '-model';
    const paths = await chooser.choose('export-folder', { suggestedName });
    const dir = paths?.[0];
    if (!dir) return;
    const result = await attempt(() => api.call('export.run', { runId: run.id, dir }));
    if (!result) return;
    toasts.success(`Exported ${run.name} to ${result.dir} (${plural(result.files.length, 'file')}).`, {
      timeout: 0,
      action: { label: 'Copy path', ariaLabel: 'Copy the export folder path', run: () => void navigator.clipboard?.writeText(result.dir).catch(() => {}) },
    });
  }

  /** Downloads a backbone from its official address into the app's model cache. */
  async download(id: string): Promise<void> {
    if (this.downloading.includes(id)) return;
    const started = await attempt(() => api.call('ml.download', { backbone: id }));
    if (!started) return;
    this.#downloadJobs.set(started.jobId, id);
    this.downloading = [...this.downloading, id];
    toasts.info(`Downloading ${id} from Google's official address…`);
  }

  async chooseModelsFolder(): Promise<void> {
    const paths = await chooser.choose('models-folder');
    const dir = paths?.[0];
    if (!dir) return;
    const list = await attempt(() => api.call('ml.setModelsFolder', { path: dir }));
    if (!list) return;
    this.#setBackbones(list);
    const found = list.filter((b) => b.source === 'folder').length;
    if (found) toasts.success(`Found ${plural(found, 'backbone')} in ${dir}.`);
    else toasts.info(`No backbone models in ${dir}: each needs a sub-folder named like mobilenet_v1_0.25_224 with a model.json in it.`);
  }

  // ---------- comparison ----------

  /** Ticks a run for comparison; a third tick drops the oldest. */
  async toggleCompare(runId: number): Promise<void> {
    this.compareOpen = true;
    this.compareIds = this.compareIds.includes(runId) ? this.compareIds.filter((id) => id !== runId) : [...this.compareIds, runId].slice(-2);
    await this.#loadCompared();
  }

  clearCompare(): void {
    this.compareIds = [];
    this.compared = [];
  }

  async #loadCompared(): Promise<void> {
    const ids = this.compareIds;
    const seq = ++this.#compareSeq;
    if (ids.length !== 2) {
      this.compared = [];
      return;
    }
    try {
      const details = await Promise.all(ids.map((runId) => api.call('runs.get', { runId })));
      if (seq === this.#compareSeq) this.compared = details;
    } catch (err) {
      if (seq === this.#compareSeq) toasts.error(err);
    }
  }
}
