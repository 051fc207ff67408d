import type {
  CrossValidationReport,
  EvaluatedImage,
  EvaluationResult,
  ExplainMethod,
  Explanation,
  JobInfo,
  NeighbourImage,
  ProjectInfo,
  RobustnessReport,
  RunSummary,
} from '../../../shared/contract/index.ts';
import { api, errorMessage } from '../api/index.ts';
import { formatBytes } from '../lib/format.ts';
import { chooser } from './chooser.svelte.ts';
import { jobs } from './jobs.svelte.ts';
import type { TrainState } from './train.svelte.ts';
import { attempt, toasts } from './toasts.svelte.ts';

/** Test or validation images of the project, or a folder of labelled images on disk (`folder`). */
export type EvalSource = 'test' | 'val' | 'folder';

/** A stored report (robustness or cross-validation) of the run shown, and the job making a new one. */
export interface StoredReport<R> {
  report: R | null;
  loading: boolean;
  /** Why it could not be read or made, in the core's words. */
  error: string | null;
  jobId: string | null;
}

function emptyReport<R>(): StoredReport<R> {
  return { report: null, loading: false, error: null, jobId: null };
}

/** One confusion-matrix cell the user opened: images of class `t` predicted as `p`. */
export interface ConfusionCell {
  t: number;
  p: number;
}

/**
 * The Evaluate view of one project: which run and which images are evaluated, the result,
 * the confusion cell and the image being looked at (its explanation and neighbours), and the
 * stored robustness and cross-validation reports with the jobs that make them.
 */
export class EvaluateState {
  /** The run the user chose; null follows the newest finished run. */
  chosenRunId = $state<number | null>(null);
  source = $state<EvalSource>('test');
  /** The folder evaluated when the source is 'folder'. */
  folder = $state<string | null>(null);

  result = $state.raw<EvaluationResult | null>(null);
  loading = $state(false);
  /** Why the evaluation failed, in the core's words. */
  error = $state<string | null>(null);

  cell = $state.raw<ConfusionCell | null>(null);
  /** The image shown in the error-analysis panel. */
  imageId = $state<number | null>(null);
  method = $state<ExplainMethod>('gradcam');
  explanation = $state.raw<Explanation | null>(null);
  explaining = $state(false);
  explainError = $state<string | null>(null);
  neighbours = $state.raw<NeighbourImage[] | null>(null);
  neighboursError = $state<string | null>(null);
  /** How strongly the heatmap covers the photo (0–1). */
  opacity = $state(0.55);

  robustness = $state.raw<StoredReport<RobustnessReport>>(emptyReport());
  crossval = $state.raw<StoredReport<CrossValidationReport>>(emptyReport());
  writingCard = $state(false);

  /** Finished runs, newest first: the ones that can be evaluated. */
  finishedRuns = $derived.by(() => this.train.runs.filter((r) => r.status === 'done'));
  run = $derived<RunSummary | null>(
    (this.chosenRunId !== null ? this.finishedRuns.find((r) => r.id === this.chosenRunId) : undefined) ?? this.finishedRuns[0] ?? null,
  );
  /** The result belongs to the run and source shown (not a previous choice still on screen). */
  current = $derived(this.result && this.run && this.result.runId === this.run.id && this.result.source === this.source ? this.result : null);
  cellImages = $derived.by(() => {
    const r = this.current;
    const cell = this.cell;
    if (!r || !cell) return [];
    return r.images.filter((i) => i.trueIndex === cell.t && i.predictedIndex === cell.p).sort((a, b) => b.confidence - a.confidence);
  });
  /** Misclassified images, most confidently wrong first. */
  mistakes = $derived(this.current ? this.current.images.filter((i) => i.predictedIndex !== i.trueIndex).sort((a, b) => b.confidence - a.confidence) : []);
  image = $derived<EvaluatedImage | null>(this.current?.images.find((i) => i.imageId !== null && i.imageId === this.imageId) ?? null);

  /** Results of this window, per run and source, so switching back is instant; dropped when the dataset changes. */
  #cache = new Map<string, EvaluationResult>();
  #evalSeq = 0;
  #explainSeq = 0;
  #reportSeq = 0;
  #disposed = false;
  #loadedFor: string | null = null;
  #reportsFor: number | null = null;

  constructor(
    readonly project: ProjectInfo,
    private readonly train: TrainState,
  ) {}

  dispose(): void {
    this.#disposed = true;
  }

  /** Evaluates what is chosen, unless it is already shown or on its way. */
  ensure(): void {
    const run = this.run;
    if (!run) return;
    const key = `${run.id}:${this.source}`;
    if (this.#reportsFor !== run.id) void this.loadReports(run.id);
    if (this.#loadedFor === key) return;
    this.#loadedFor = key;
    void this.evaluate();
  }

  choose(runId: number): void {
    this.chosenRunId = runId;
    this.#resetSelection();
    this.ensure();
  }

  /** Asks for a folder of class sub-folders and evaluates the run on it. */
  async chooseFolder(): Promise<void> {
    const paths = await chooser.choose('eval-folder');
    if (!paths?.[0]) return;
    this.folder = paths[0];
    this.source = 'folder';
    this.#resetSelection();
    await this.evaluate(true);
  }

  setSource(source: EvalSource): void {
    if (source === 'folder') {
      void this.chooseFolder();
      return;
    }
    if (source === this.source) return;
    this.source = source;
    this.#resetSelection();
    this.ensure();
  }

  #resetSelection(): void {
    this.cell = null;
    this.closeImage();
  }

  /** Evaluates the chosen run on the chosen images (again, with `force`). */
  async evaluate(force = false): Promise<void> {
    const run = this.run;
    if (!run) return;
    const source = this.source;
    const folder = this.folder;
    if (source === 'folder' && !folder) return;
    const key = `${run.id}:${source}:${source === 'folder' ? folder : ''}`;
    this.#loadedFor = key;
    const cached = force ? undefined : this.#cache.get(key);
    if (cached) {
      this.result = cached;
      this.error = null;
      return;
    }
    const seq = ++this.#evalSeq;
    this.loading = true;
    this.error = null;
    try {
      const result = await api.call('eval.run', source === 'folder' ? { runId: run.id, dir: folder! } : { runId: run.id, split: source });
      if (seq !== this.#evalSeq || this.#disposed) return;
      this.#cache.set(key, result);
      this.result = result;
    } catch (err) {
      if (seq !== this.#evalSeq || this.#disposed) return;
      this.error = errorMessage(err);
      this.result = null;
    } finally {
      if (seq === this.#evalSeq) this.loading = false;
    }
  }

  /** Labels, splits or images changed: every cached result may be out of date. */
  onDatasetChanged(): void {
    this.#cache.clear();
    this.#loadedFor = null;
  }

  /** A run changed (calibration saved, renamed, deleted, finished): reports may have too. */
  onRunsChanged(runId: number | null): void {
    if (runId === null || runId === this.run?.id) this.#reportsFor = null;
  }

  // ---------- the confusion cell and the image looked at ----------

  openCell(t: number, p: number): void {
    this.cell = this.cell && this.cell.t === t && this.cell.p === p ? null : { t, p };
  }

  async openImage(imageId: number): Promise<void> {
    this.imageId = imageId;
    this.explanation = null;
    this.neighbours = null;
    this.neighboursError = null;
    await Promise.all([this.explain(), this.#loadNeighbours(imageId)]);
  }

  closeImage(): void {
    this.imageId = null;
    this.explanation = null;
    this.explainError = null;
    this.neighbours = null;
    this.neighboursError = null;
    this.#explainSeq++;
  }

  setMethod(method: ExplainMethod): void {
    if (method === this.method) return;
    this.method = method;
    void this.explain();
  }

  async explain(className?: string): Promise<void> {
    const run = this.run;
    const imageId = this.imageId;
    if (!run || imageId === null) return;
    const seq = ++this.#explainSeq;
    this.explaining = true;
    this.explainError = null;
    try {
      const explanation = await api.call('explain.image', { runId: run.id, imageId, method: this.method, ...(className ? { className } : {}) });
      if (seq === this.#explainSeq) this.explanation = explanation;
    } catch (err) {
      if (seq === this.#explainSeq) {
        this.explanation = null;
        this.explainError = errorMessage(err);
      }
    } finally {
      if (seq === this.#explainSeq) this.explaining = false;
    }
  }

  async #loadNeighbours(imageId: number): Promise<void> {
    const run = this.run;
    if (!run) return;
    try {
      const found = await api.call('eval.neighbours', { runId: run.id, imageId, count: 8 });
      if (this.imageId === imageId) this.neighbours = found;
    } catch (err) {
      if (this.imageId === imageId) this.neighboursError = errorMessage(err);
    }
  }

  // ---------- calibration ----------

  /** Stores a temperature and/or an abstention threshold with the run; predict and export use them. */
  async setCalibration(change: { temperature?: number; threshold?: number }): Promise<boolean> {
    const run = this.run;
    if (!run) return false;
    const saved = await attempt(() => api.call('runs.setCalibration', { runId: run.id, ...change }));
    if (!saved) return false;
    await this.train.refreshRuns();
    if (change.temperature !== undefined) {
      toasts.success(`${run.name} now predicts and exports with temperature ${saved.temperature.toFixed(2)}.`);
      // The abstention curve is drawn on confidences after the run's temperature: draw it again.
      void this.evaluate(true);
    } else {
      toasts.success(
        saved.threshold > 0
          ? `${run.name} now abstains ("not sure") below ${Math.round(saved.threshold * 100)}% confidence when it predicts and exports.`
          : `${run.name} no longer abstains: every image gets a prediction.`,
      );
    }
    return true;
  }

  // ---------- robustness and cross-validation ----------

  async loadReports(runId: number): Promise<void> {
    this.#reportsFor = runId;
    const seq = ++this.#reportSeq;
    this.robustness = { ...emptyReport(), loading: true, jobId: this.#runningJob('robustness', runId) };
    this.crossval = { ...emptyReport(), loading: true, jobId: this.#runningJob('crossval', runId) };
    const [robustness, crossval] = await Promise.allSettled([api.call('robustness.get', { runId }), api.call('crossval.get', { runId })]);
    if (seq !== this.#reportSeq || this.#disposed) return;
    this.robustness = {
      ...this.robustness,
      loading: false,
      report: robustness.status === 'fulfilled' ? robustness.value : null,
      error: robustness.status === 'rejected' ? errorMessage(robustness.reason) : null,
    };
    this.crossval = {
      ...this.crossval,
      loading: false,
      report: crossval.status === 'fulfilled' ? crossval.value : null,
      error: crossval.status === 'rejected' ? errorMessage(crossval.reason) : null,
    };
  }

  /** A job of this kind already running (started in another window, or before a reload); its run is not known, so any counts. */
  #runningJob(kind: 'robustness' | 'crossval', _runId: number): string | null {
    return [...jobs.byId.values()].find((j) => j.kind === kind && j.status === 'running')?.id ?? null;
  }

  async startRobustness(): Promise<void> {
    const run = this.run;
    if (!run) return;
    try {
      const { jobId } = await api.call('robustness.start', { runId: run.id });
      this.robustness = { ...this.robustness, jobId, error: null };
    } catch (err) {
      this.robustness = { ...this.robustness, error: errorMessage(err) };
    }
  }

  async startCrossval(folds: number): Promise<void> {
    const run = this.run;
    if (!run) return;
    try {
      const { jobId } = await api.call('crossval.start', { runId: run.id, folds });
      this.crossval = { ...this.crossval, jobId, error: null };
    } catch (err) {
      this.crossval = { ...this.crossval, error: errorMessage(err) };
    }
  }

  onJobDone(job: JobInfo): void {
    for (const which of ['robustness', 'crossval'] as const) {
      const state = this[which];
      if (job.kind !== which || state.jobId !== job.id) continue;
      const error = job.status === 'failed' ? (job.error ?? 'The job failed.') : job.status === 'cancelled' ? 'Cancelled; nothing was stored.' : null;
      this[which] = { ...state, jobId: null, error } as never;
      if (job.status === 'done' && this.run) void this.loadReports(this.run.id);
    }
  }

  // ---------- the model card ----------

  async writeModelCard(): Promise<void> {
    const run = this.run;
    if (!run || this.writingCard) return;
    const slug = (text: string) => text.replace(/[^\w.-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '').toLowerCase();
    const paths = await chooser.choose('card-folder', { suggestedName: `${slug(this.project.name).slice(0, 30)}-${slug(run.name).slice(0, 30)}-model-card` });
    const dir = paths?.[0];
    if (!dir) return;
    this.writingCard = true;
    try {
      const written = await attempt(() => api.call('report.write', { runId: run.id, dir }));
      if (!written) return;
      toasts.success(`Wrote the model card of ${run.name} to ${written.path} (${formatBytes(written.bytes)}).`, {
        timeout: 0,
        action: { label: 'Copy path', ariaLabel: 'Copy the model card path', run: () => void navigator.clipboard?.writeText(written.path).catch(() => {}) },
      });
    } finally {
      this.writingCard = false;
    }
  }
}
