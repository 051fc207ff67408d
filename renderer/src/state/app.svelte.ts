import type { HistoryState, HostInfo, ProjectInfo } from '../../../shared/contract/index.ts';
import { api, type ConnectionStatus } from '../api/index.ts';
import { takeDroppedEntries } from '../api/dropped-files.ts';
import { chooser } from './chooser.svelte.ts';
import { DatasetState } from './dataset.svelte.ts';
import { importFlow } from './import.svelte.ts';
import { jobs } from './jobs.svelte.ts';
import { runtime } from './runtime.svelte.ts';
import { attempt, toasts } from './toasts.svelte.ts';
import { CleanState } from './clean.svelte.ts';
import { TrainState } from './train.svelte.ts';
import { TuneState } from './tune.svelte.ts';
import { BalanceState } from './balance.svelte.ts';
import { EvaluateState } from './evaluate.svelte.ts';

/** The screens of an open project, in shortcut order (Ctrl+1 … Ctrl+5). */
export const VIEWS = ['dataset', 'train', 'clean', 'balance', 'evaluate'] as const;
export type ViewName = (typeof VIEWS)[number];
/** The tabs left to right: Balance sits beside Train, whose settings it feeds; Evaluate follows them, as its runs do. */
export const TAB_ORDER: readonly ViewName[] = ['dataset', 'train', 'balance', 'evaluate', 'clean'];

const NO_HISTORY: HistoryState = { canUndo: false, canRedo: false, undoLabel: null, redoLabel: null };

/** The whole window: which host, which project, the connection, undo state, open overlays. */
class AppState {
  host = $state.raw<HostInfo | null>(null);
  project = $state.raw<ProjectInfo | null>(null);
  dataset = $state.raw<DatasetState | null>(null);
  train = $state.raw<TrainState | null>(null);
  clean = $state.raw<CleanState | null>(null);
  balance = $state.raw<BalanceState | null>(null);
  evaluate = $state.raw<EvaluateState | null>(null);
  tune = $state.raw<TuneState | null>(null);
  /** Which screen of the open project shows. */
  view = $state<ViewName>('dataset');
  recent = $state.raw<string[]>([]);
  history = $state.raw<HistoryState>(NO_HISTORY);
  connection = $state<ConnectionStatus>(api.connection);
  /** False until the first answer says whether a project is open. */
  started = $state(false);
  /** A sentence while a project opens ("Opening trash.seedbed…"). */
  opening = $state<string | null>(null);
  helpOpen = $state(false);
  /** Open modal dialogs; while any is open, the gallery's shortcuts stay quiet. */
  modals = $state(0);

  async start(): Promise<void> {
    api.on('project.changed', (info) => this.#setProject(info));
    api.on('dataset.changed', () => {
      this.dataset?.scheduleRefresh();
      this.train?.onDatasetChanged();
      this.clean?.scheduleRefresh();
      this.balance?.onDatasetChanged();
      this.evaluate?.onDatasetChanged();
    });
    api.on('findings.changed', () => this.clean?.scheduleRefresh());
    api.on('tune.changed', ({ searchId }) => this.tune?.onChanged(searchId));
    api.on('run.epoch', (event) => this.train?.onEpoch(event));
    api.on('runs.changed', ({ runId }) => {
      void this.train?.onRunsChanged(runId);
      this.evaluate?.onRunsChanged(runId);
      // A run's predictions show in the gallery.
      this.dataset?.scheduleRefresh();
    });
    api.on('history.changed', (state) => {
      this.history = state;
      this.dataset?.scheduleRefresh();
      this.clean?.scheduleRefresh();
    });
    api.on('job.progress', (job) => jobs.update(job));
    api.on('job.done', (job) => {
      jobs.update(job);
      void importFlow.jobFinished(job);
      this.train?.onJobDone(job);
      this.clean?.onJobDone(job);
      this.balance?.onJobDone(job);
      this.evaluate?.onJobDone(job);
      this.tune?.onJobDone(job);
      this.dataset?.scheduleRefresh();
      if (job.kind !== 'import') void runtime.refresh();
    });
    api.onConnection((status, reconnected) => {
      this.connection = status;
      // Events sent while the link was down are lost: reload what they would have told us.
      if (reconnected) void this.#reload();
    });
    await this.#reload();
    this.started = true;
  }

  async #reload(): Promise<void> {
    try {
      const [host, project, recent] = await Promise.all([
        api.call('host.info'),
        api.call('project.current'),
        api.call('project.recent'),
      ]);
      this.host = host;
      this.recent = recent;
      this.#setProject(project);
      if (project) {
        const [history] = await Promise.all([api.call('history.state'), jobs.load()]);
        this.history = history;
        await Promise.all([this.dataset?.refresh(), this.train?.load(), this.clean?.refresh(), this.tune?.load(), runtime.refresh()]);
      }
    } catch (err) {
      toasts.error(err);
    }
  }

  #setProject(info: ProjectInfo | null): void {
    const same = info && this.project && info.path === this.project.path;
    this.project = info;
    if (same) return;
    this.dataset?.dispose();
    this.train?.dispose();
    this.clean?.dispose();
    this.balance?.dispose();
    this.evaluate?.dispose();
    this.tune?.dispose();
    this.view = 'dataset';
    this.history = NO_HISTORY;
    jobs.clear();
    importFlow.forgetProject();
    if (!info) {
      this.dataset = null;
      this.train = null;
      this.clean = null;
      this.balance = null;
      this.evaluate = null;
      this.tune = null;
      void attempt(async () => (this.recent = await api.call('project.recent')));
      document.title = 'Seedbed';
      return;
    }
    document.title = `${info.name} — Seedbed`;
    const dataset = new DatasetState(info, () => void this.undo());
    this.dataset = dataset;
    const train = new TrainState(info, {
      showGallery: () => (this.view = 'dataset'),
      showTrain: () => (this.view = 'train'),
      trainShown: () => this.view === 'train',
    });
    this.train = train;
    const clean = new CleanState(info, {
      undo: () => void this.undo(),
      cleanShown: () => this.view === 'clean',
      showClean: () => (this.view = 'clean'),
    });
    this.clean = clean;
    this.balance = new BalanceState(info, train);
    this.evaluate = new EvaluateState(info, train);
    const tune = new TuneState(info, train, { showTrain: () => (this.view = 'train'), trainShown: () => this.view === 'train' });
    this.tune = tune;
    void attempt(async () => {
      const [history] = await Promise.all([api.call('history.state'), jobs.load(), dataset.load(), train.load(), clean.load(), tune.load(), runtime.refresh()]);
      this.history = history;
    });
  }

  async #openWith(what: string, open: () => Promise<ProjectInfo>): Promise<void> {
    this.opening = what;
    try {
      const info = await attempt(open);
      if (info) this.#setProject(info);
    } finally {
      this.opening = null;
    }
  }

  /** Asks where to make a new project (file chooser), then creates and opens it. */
  async chooseNewProject(): Promise<void> {
    const paths = await chooser.choose('new-project');
    if (paths?.[0]) await this.createProject(paths[0]);
  }

  /** Asks which project to open (file chooser), then opens it. */
  async chooseProjectToOpen(): Promise<void> {
    const paths = await chooser.choose('open-project');
    if (paths?.[0]) await this.openProject(paths[0]);
  }

  createProject(path: string): Promise<void> {
    return this.#openWith('Creating the project…', () => api.call('project.create', { path }));
  }

  openProject(path: string): Promise<void> {
    return this.#openWith('Opening the project…', () => api.call('project.open', { path }));
  }

  openSample(): Promise<void> {
    return this.#openWith('Preparing the sample project…', () => api.call('project.openSample'));
  }

  async closeProject(): Promise<void> {
    await attempt(() => api.call('project.close'));
    this.#setProject(null);
  }

  /** Opens the Evaluate view on one run (the Train view's Evaluate button). */
  evaluateRun(runId: number): void {
    if (!this.project || !this.evaluate) return;
    this.evaluate.choose(runId);
    this.view = 'evaluate';
  }

  /** Switches the open project's screen (tabs, Ctrl+1 … Ctrl+5). */
  showView(view: ViewName): void {
    if (this.project) this.view = view;
  }

  async undo(): Promise<void> {
    const what = await attempt(() => api.call('history.undo'));
    if (what === undefined) return;
    if (what === null) toasts.info('Nothing to undo.', { timeout: 2000 });
    else toasts.info(`Undid: ${what}`, { action: { label: 'Redo', ariaLabel: 'Redo what was undone', run: () => void this.redo() } });
    this.dataset?.scheduleRefresh();
  }

  async redo(): Promise<void> {
    const what = await attempt(() => api.call('history.redo'));
    if (what === undefined) return;
    if (what === null) toasts.info('Nothing to redo.', { timeout: 2000 });
    else toasts.info(`Redid: ${what}`, { action: { label: 'Undo', ariaLabel: 'Undo it again', run: () => void this.undo() } });
    this.dataset?.scheduleRefresh();
  }

  /** Files or folders dropped anywhere on the window. */
  importDrop(transfer: DataTransfer): void {
    if (!this.project) {
      toasts.info('Create or open a project first, then drop images on it to import them.');
      return;
    }
    const { entries, files } = takeDroppedEntries(transfer);
    if (api.isElectron) {
      const paths = files.map((f) => api.pathForFile(f)).filter((p): p is string => !!p);
      if (paths.length) void importFlow.startPaths(paths);
      else toasts.info('Nothing in that drop can be imported; drop image files or folders.');
      return;
    }
    if (!this.host?.uploads) {
      toasts.info('This Seedbed server does not accept dropped files; use Import to choose a folder on the server.');
      return;
    }
    if (entries.length || files.length) void importFlow.startUpload(entries, files);
    else toasts.info('Nothing in that drop can be imported; drop image files or folders.');
  }
}

export const app = new AppState();
