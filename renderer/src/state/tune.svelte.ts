import type { JobInfo, ProjectInfo, TuneDetail, TuneStartParams, TuneSummary } from '../../../shared/contract/index.ts';
import { api, errorMessage } from '../api/index.ts';
import { attempt, toasts } from './toasts.svelte.ts';
import type { TrainState } from './train.svelte.ts';

/** A search reports every finished trial (many a second on a small project): refetches wait this long for a pause. */
const REFRESH_DEBOUNCE_MS = 300;

/** Where the Train view sends the user when a search ends out of sight. */
export interface TuneNavigation {
  showTrain(): void;
  trainShown(): boolean;
}

/**
 * Auto-tune in the Train view: the stored searches, the one shown with its trials (kept live
 * from `tune.changed` events), and what the user does with a search: start, stop, resume,
 * delete, and promote a trial to an ordinary run.
 */
export class TuneState {
  searches = $state.raw<TuneSummary[]>([]);
  loaded = $state(false);
  /** The search shown in the Train view's centre, in place of a run; null shows the run. */
  selectedId = $state<number | null>(null);
  detail = $state.raw<TuneDetail | null>(null);

  starting = $state(false);
  /** Why the last start did not begin a search, in the core's words (shown in the dialog). */
  startError = $state<string | null>(null);
  /** Trial numbers being promoted now (the per-row buttons say so). */
  promoting = $state.raw<number[]>([]);

  running = $derived(this.searches.find((s) => s.status === 'running') ?? null);
  selected = $derived(this.searches.find((s) => s.id === this.selectedId) ?? null);

  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Searches whose detail must be refetched when the timer fires. */
  #dirty = new Set<number>();
  #detailSeq = 0;
  #disposed = false;

  constructor(
    readonly project: ProjectInfo,
    private readonly train: TrainState,
    private readonly nav: TuneNavigation,
  ) {}

  async load(): Promise<void> {
    await this.refresh();
    // After a reconnect the shown search may have moved on while events were lost.
    if (this.selectedId !== null) await this.#loadDetail(this.selectedId);
    this.loaded = true;
  }

  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#timer);
  }

  async refresh(): Promise<void> {
    const list = await attempt(() => api.call('tune.list'));
    if (!list || this.#disposed) return;
    this.searches = list;
    if (this.selectedId !== null && !list.some((s) => s.id === this.selectedId)) this.deselect();
  }

  /** The user picked a search to look at: it replaces the run in the centre. */
  async select(searchId: number): Promise<void> {
    this.selectedId = searchId;
    if (this.detail?.id !== searchId) this.detail = null;
    await this.#loadDetail(searchId);
  }

  /** Back to the runs (a run was picked, or the search went away). */
  deselect(): void {
    this.selectedId = null;
    this.detail = null;
    this.#detailSeq++;
  }

  async #loadDetail(searchId: number): Promise<void> {
    const seq = ++this.#detailSeq;
    try {
      const detail = await api.call('tune.get', { searchId });
      if (seq === this.#detailSeq && this.selectedId === searchId && !this.#disposed) this.detail = detail;
    } catch (err) {
      if (seq === this.#detailSeq) toasts.error(err);
    }
  }

  /** A search started, finished a trial or ended: the list and the shown search are refetched once things pause. */
  onChanged(searchId: number): void {
    if (this.#disposed) return;
    this.#dirty.add(searchId);
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const dirty = this.#dirty;
      this.#dirty = new Set();
      void this.refresh();
      if (this.selectedId !== null && dirty.has(this.selectedId)) void this.#loadDetail(this.selectedId);
    }, REFRESH_DEBOUNCE_MS);
  }

  onJobDone(job: JobInfo): void {
    if (job.kind !== 'tune') return;
    const search = this.searches.find((s) => s.jobId === job.id);
    // The last trial's event and the job's end may come in either order: read both again.
    if (search) this.onChanged(search.id);
    else void this.refresh();
    if (this.nav.trainShown() || !search) return;
    const show = { label: 'Show search', ariaLabel: `Show ${search.name}`, run: () => this.#reveal(search.id) };
    if (job.status === 'done') toasts.success(`${search.name} finished: its best settings can be trained as a run.`, { action: show });
    else if (job.status === 'failed') toasts.error(job.error ?? `${search.name} failed; it can be resumed.`, { action: show });
  }

  #reveal(searchId: number): void {
    this.nav.showTrain();
    void this.select(searchId);
  }

  // ---------- actions ----------

  /** Starts a search; resolves true when it started (the dialog closes) and shows it. */
  async start(params: TuneStartParams): Promise<boolean> {
    if (this.starting) return false;
    this.starting = true;
    this.startError = null;
    try {
      const { searchId } = await api.call('tune.start', params);
      await this.refresh();
      await this.select(searchId);
      return true;
    } catch (err) {
      this.startError = errorMessage(err);
      return false;
    } finally {
      this.starting = false;
    }
  }

  async cancel(search: TuneSummary): Promise<void> {
    const done = await attempt(() => api.call('tune.cancel', { searchId: search.id }));
    if (done) this.onChanged(search.id);
  }

  async resume(search: TuneSummary): Promise<void> {
    const started = await attempt(() => api.call('tune.resume', { searchId: search.id }));
    if (!started) return;
    await this.refresh();
    if (this.selectedId === search.id) await this.#loadDetail(search.id);
  }

  async remove(searchId: number): Promise<void> {
    const name = this.searches.find((s) => s.id === searchId)?.name ?? 'The search';
    const done = await attempt(() => api.call('tune.delete', { searchId }));
    if (done === undefined) return;
    if (this.selectedId === searchId) this.deselect();
    await this.refresh();
    toasts.success(`Deleted ${name} and its trials. Runs trained from it stay.`);
  }

  /** Trains an ordinary run with a trial's settings (default the best) and shows that run. */
  async promote(search: TuneSummary, trial?: number): Promise<void> {
    const key = trial ?? search.best?.trial ?? -1;
    if (this.promoting.includes(key)) return;
    this.promoting = [...this.promoting, key];
    try {
      const started = await attempt(() => api.call('tune.promote', trial === undefined ? { searchId: search.id } : { searchId: search.id, trial }));
      if (!started) return;
      await this.train.refreshRuns();
      this.deselect();
      await this.train.select(started.runId);
      void this.refresh();
    } finally {
      this.promoting = this.promoting.filter((t) => t !== key);
    }
  }

  /** Shows a run made from a search. */
  async showRun(runId: number): Promise<void> {
    this.deselect();
    await this.train.select(runId);
  }
}
