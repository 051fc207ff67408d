import {
  FINDING_KINDS,
  type DatasetHealth,
  type FindingAction,
  type FindingCounts,
  type FindingKind,
  type FindingView,
  type JobInfo,
  type ProjectInfo,
} from '../../../shared/contract/index.ts';
import { api, errorMessage } from '../api/index.ts';
import { formatBytes, plural } from '../lib/format.ts';
import { chooser } from './chooser.svelte.ts';
import { jobs } from './jobs.svelte.ts';
import { attempt, toasts } from './toasts.svelte.ts';

/** Which findings of a queue show: the ones to deal with, or the ones already dealt with. */
export type QueueState = 'open' | 'dismissed' | 'fixed';

/** Findings fetched per page; a queue can hold hundreds. */
const PAGE = 60;
/** The most the core returns in one page. */
const MAX_PAGE = 500;
/** Change events come in bursts (an action emits three); one refresh per this many ms. */
const REFRESH_SPACING_MS = 150;

/** What the Clean view needs from the rest of the window. */
export interface CleanNavigation {
  undo(): void;
  cleanShown(): boolean;
  showClean(): void;
}

/** The actions that apply to one finding, in the order its buttons show. */
export function actionsFor(f: FindingView): FindingAction[] {
  if (f.state !== 'open') return ['reopen'];
  const out: FindingAction[] = [];
  if (f.kind === 'near_duplicate' && f.images.length > 1) out.push('keep');
  if (f.suggestion?.action === 'relabel') out.push('relabel');
  // Excluding every example of two overlapping classes fixes nothing.
  if (f.images.length > 0 && f.kind !== 'class_overlap') out.push('exclude');
  out.push('dismiss');
  return out;
}

/** The action "Apply suggestions" takes for a finding, or null when its suggestion is no action Seedbed can take. */
export function suggestedAction(f: FindingView): FindingAction | null {
  switch (f.suggestion?.action) {
    case 'relabel':
      return 'relabel';
    case 'exclude':
      return 'exclude';
    // An exact duplicate is one image to Seedbed: "keeping" it only says it is fine.
    case 'keep':
      return f.kind === 'near_duplicate' ? 'keep' : null;
    default:
      return null;
  }
}

function emptyCounts(): Record<FindingKind, FindingCounts> {
  return Object.fromEntries(FINDING_KINDS.map((k) => [k, { open: 0, fixed: 0, dismissed: 0 }])) as Record<FindingKind, FindingCounts>;
}

/**
 * The Clean view of one project: the dataset's health, the queue of findings shown (one kind,
 * one state), the focused and selected findings, the check job, and the actions that fix
 * findings. Every action is one undoable step in the core; this only says what happened.
 */
export class CleanState {
  health = $state.raw<DatasetHealth | null>(null);
  /** True once the health summary and the first queue have arrived. */
  loaded = $state(false);
  loadError = $state<string | null>(null);

  kind = $state<FindingKind | null>(null);
  queueState = $state<QueueState>('open');
  findings = $state.raw<FindingView[]>([]);
  total = $state(0);
  #counts = $state.raw<Record<FindingKind, FindingCounts> | null>(null);
  listLoading = $state(false);

  /** The card the keyboard acts on. */
  focus = $state(0);
  /** Bumped when the focused card should take the keyboard focus (after an action, a key move). */
  focusRequest = $state(0);
  selected = $state.raw<ReadonlySet<number>>(new Set());
  /** An action is on its way to the core; keys wait for it so one press is one action. */
  acting = $state(false);

  starting = $state(false);
  /** Why the last check failed, in the core's words; cleared when a new one starts. */
  checkError = $state<string | null>(null);

  counts = $derived(this.#counts ?? this.health?.findings ?? emptyCounts());
  openTotal = $derived(FINDING_KINDS.reduce((n, k) => n + this.counts[k].open, 0));
  checkJob = $derived([...jobs.byId.values()].find((j) => j.kind === 'clean' && j.status === 'running') ?? null);
  hasMore = $derived(this.findings.length < this.total);
  focused = $derived(this.findings[this.focus] ?? null);

  #anchor: number | null = null;
  #seq = 0;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #disposed = false;
  /** Something changed while the view was hidden. */
  #stale = false;
  /** The user chose a queue; until then the view opens the first one with open findings. */
  #chosen = false;

  constructor(
    readonly project: ProjectInfo,
    private readonly nav: CleanNavigation,
  ) {}

  async load(): Promise<void> {
    await this.refresh();
    this.loaded = true;
  }

  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#refreshTimer);
  }

  /** Findings, images or history changed somewhere: refetch what shows, once per burst (or when the view next shows). */
  scheduleRefresh(): void {
    if (this.#disposed) return;
    if (!this.nav.cleanShown()) {
      this.#stale = true;
      return;
    }
    clearTimeout(this.#refreshTimer);
    this.#refreshTimer = setTimeout(() => void this.refresh(), REFRESH_SPACING_MS);
  }

  /** The view shows again: catch up with what changed while it was hidden. */
  shown(): void {
    if (this.#stale) void this.refresh();
  }

  async refresh(): Promise<void> {
    if (this.#disposed) return;
    this.#stale = false;
    const seq = ++this.#seq;
    try {
      const health = await api.call('health.summary');
      if (seq !== this.#seq || this.#disposed) return;
      this.health = health;
      this.loadError = null;
      if (!this.#chosen) this.kind = FINDING_KINDS.find((k) => health.findings[k].open > 0) ?? this.kind ?? FINDING_KINDS[0];
      await this.#fetchList(seq, Math.min(MAX_PAGE, Math.max(PAGE, this.findings.length)));
    } catch (err) {
      if (seq === this.#seq) this.loadError = errorMessage(err);
    }
  }

  async #fetchList(seq: number, limit: number): Promise<void> {
    const kind = this.kind;
    if (!kind) return;
    this.listLoading = true;
    try {
      const page = await api.call('findings.list', { kinds: [kind], state: this.queueState, offset: 0, limit });
      if (seq !== this.#seq || this.#disposed) return;
      this.findings = page.findings;
      this.total = page.total;
      this.#counts = page.counts;
      const ids = new Set(page.findings.map((f) => f.id));
      if ([...this.selected].some((id) => !ids.has(id))) this.selected = new Set([...this.selected].filter((id) => ids.has(id)));
      this.focus = Math.max(0, Math.min(this.focus, page.findings.length - 1));
    } finally {
      if (seq === this.#seq) this.listLoading = false;
    }
  }

  async loadMore(): Promise<void> {
    if (!this.kind || !this.hasMore || this.listLoading) return;
    const seq = this.#seq;
    this.listLoading = true;
    try {
      const page = await api.call('findings.list', { kinds: [this.kind], state: this.queueState, offset: this.findings.length, limit: PAGE });
      if (seq !== this.#seq) return;
      const known = new Set(this.findings.map((f) => f.id));
      this.findings = [...this.findings, ...page.findings.filter((f) => !known.has(f.id))];
      this.total = page.total;
      this.#counts = page.counts;
    } catch (err) {
      toasts.error(err);
    } finally {
      if (seq === this.#seq) this.listLoading = false;
    }
  }

  /** Shows a queue (a kind in the left list, or a route from the health summary). */
  async openQueue(kind: FindingKind, state: QueueState = this.queueState): Promise<void> {
    this.#chosen = true;
    if (kind === this.kind && state === this.queueState) return;
    this.kind = kind;
    this.queueState = state;
    this.#resetList();
    const seq = ++this.#seq;
    await attempt(() => this.#fetchList(seq, PAGE));
  }

  async showState(state: QueueState): Promise<void> {
    if (this.kind) await this.openQueue(this.kind, state);
    else this.queueState = state;
  }

  #resetList(): void {
    this.findings = [];
    this.total = 0;
    this.focus = 0;
    this.selected = new Set();
    this.#anchor = null;
  }

  // ---------- focus and selection ----------

  moveFocus(to: number): void {
    if (!this.findings.length) return;
    this.focus = Math.max(0, Math.min(this.findings.length - 1, to));
    this.focusRequest++;
    // Reaching the end of what is loaded loads the next page.
    if (this.focus >= this.findings.length - 3 && this.hasMore) void this.loadMore();
  }

  toggle(index: number, range = false): void {
    const f = this.findings[index];
    if (!f) return;
    const next = new Set(this.selected);
    if (range && this.#anchor !== null) {
      const lo = Math.min(this.#anchor, index);
      const hi = Math.max(this.#anchor, index);
      for (const x of this.findings.slice(lo, hi + 1)) next.add(x.id);
    } else {
      if (next.has(f.id)) next.delete(f.id);
      else next.add(f.id);
      this.#anchor = index;
    }
    this.selected = next;
    this.focus = index;
  }

  /** Selects every finding of the queue, loading the pages not fetched yet. */
  async selectAll(): Promise<void> {
    while (this.hasMore && this.kind) {
      const before = this.findings.length;
      const page = await attempt(() => api.call('findings.list', { kinds: [this.kind!], state: this.queueState, offset: before, limit: MAX_PAGE }));
      if (!page || !page.findings.length) break;
      const known = new Set(this.findings.map((f) => f.id));
      this.findings = [...this.findings, ...page.findings.filter((f) => !known.has(f.id))];
      this.total = page.total;
    }
    this.selected = new Set(this.findings.map((f) => f.id));
  }

  clearSelection(): void {
    this.selected = new Set();
    this.#anchor = null;
  }

  /** What a key acts on: the selection, else the focused card. */
  targets(): FindingView[] {
    if (this.selected.size) return this.findings.filter((f) => this.selected.has(f.id));
    return this.focused ? [this.focused] : [];
  }

  // ---------- actions ----------

  /** Acts on findings as one undoable step; the cards acted on leave the queue and the next one takes the focus. */
  async act(found: FindingView[], action: FindingAction, imageId?: number): Promise<boolean> {
    if (!found.length || this.acting) return false;
    const findingIds = found.map((f) => f.id);
    this.acting = true;
    try {
      const result = await attempt(() => api.call('findings.act', { findingIds, action, ...(imageId !== undefined ? { imageId } : {}) }));
      if (!result) return false;
      if (result.findings > 0) {
        const gone = new Set(findingIds);
        const at = this.focus;
        this.findings = this.findings.filter((f) => !gone.has(f.id));
        this.total = Math.max(0, this.total - gone.size);
        this.selected = new Set([...this.selected].filter((id) => !gone.has(id)));
        this.focus = Math.max(0, Math.min(at, this.findings.length - 1));
        this.focusRequest++;
      }
      const message = describeDone(action, found, result);
      toasts.success(message, { action: { label: 'Undo', ariaLabel: `Undo: ${message}`, run: () => this.nav.undo() } });
      this.scheduleRefresh();
      return true;
    } finally {
      this.acting = false;
    }
  }

  /** "Apply suggestions" for the selection: relabel label issues, keep one copy of duplicate groups, exclude poor images. */
  async applySuggestions(found: FindingView[]): Promise<void> {
    const groups = new Map<FindingAction, FindingView[]>();
    for (const f of found) {
      const action = suggestedAction(f);
      if (!action) continue;
      groups.set(action, [...(groups.get(action) ?? []), f]);
    }
    if (!groups.size) {
      toasts.info('These findings suggest nothing Seedbed can do for you: review them, then dismiss or exclude.');
      return;
    }
    for (const [action, list] of groups) await this.act(list, action);
  }

  // ---------- the check ----------

  async startCheck(): Promise<void> {
    if (this.checkJob || this.starting) return;
    this.starting = true;
    this.checkError = null;
    try {
      const { jobId } = await api.call('clean.start', {});
      // Show progress at once; the job's events fill it in.
      if (!jobs.get(jobId)) {
        jobs.update({ id: jobId, kind: 'clean', status: 'running', title: 'Check dataset', done: 0, total: 0, rate: 0, etaSeconds: null, startedAt: Date.now(), finishedAt: null, error: null });
      }
    } catch (err) {
      this.checkError = errorMessage(err);
    } finally {
      this.starting = false;
    }
  }

  async cancelCheck(): Promise<void> {
    const job = this.checkJob;
    if (job) await jobs.cancel(job.id);
  }

  onJobDone(job: JobInfo): void {
    if (job.kind !== 'clean') return;
    if (job.status === 'failed') {
      this.checkError = job.error ?? 'The dataset check failed.';
      if (!this.nav.cleanShown()) toasts.error(this.checkError);
    } else if (job.status === 'cancelled') {
      toasts.info('Dataset check cancelled; the findings of the last complete check stay.');
    } else if (job.status === 'done') {
      this.checkError = null;
      void this.refresh().then(() => {
        const n = this.openTotal;
        const words = n === 0 ? 'Dataset checked: nothing found.' : `Dataset checked: ${plural(n, 'open finding')}.`;
        toasts.success(words, this.nav.cleanShown() ? {} : { action: { label: 'Show', ariaLabel: 'Show the findings', run: () => this.nav.showClean() } });
      });
      return;
    }
    this.scheduleRefresh();
  }

  /** Writes the health summary as one HTML file into a folder the user picks. */
  async exportReport(): Promise<void> {
    const slug = this.project.name.replace(/[^\w.-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '').toLowerCase();
    const paths = await chooser.choose('report-folder', { suggestedName: `${slug.slice(0, 40) || 'dataset'}-health-report` });
    const dir = paths?.[0];
    if (!dir) return;
    const result = await attempt(() => api.call('health.report', { dir }));
    if (!result) return;
    toasts.success(`Wrote the health report to ${result.path} (${formatBytes(result.bytes)}).`, {
      timeout: 0,
      action: { label: 'Copy path', ariaLabel: 'Copy the report path', run: () => void navigator.clipboard?.writeText(result.path).catch(() => {}) },
    });
  }
}

function describeDone(action: FindingAction, found: FindingView[], result: { changed: number; findings: number }): string {
  const nf = plural(found.length, 'finding');
  switch (action) {
    case 'dismiss':
      return `Dismissed ${nf}; ${found.length === 1 ? 'it stays' : 'they stay'} dismissed when the check runs again.`;
    case 'reopen':
      return `Reopened ${nf}.`;
    case 'exclude':
      return result.changed ? `Excluded ${plural(result.changed, 'image')} from training (${nf}); the files are untouched.` : `Marked ${nf} fixed; the images were excluded already.`;
    case 'keep':
      return result.changed
        ? `Kept one copy and excluded ${plural(result.changed, 'other copy', 'other copies')} (${nf}).`
        : `Kept as ${found.length === 1 ? 'it is' : 'they are'}: ${nf} dismissed.`;
    case 'relabel': {
      const names = [...new Set(found.map((f) => (f.suggestion?.action === 'relabel' ? f.suggestion.className : '')))].filter(Boolean);
      return `Relabelled ${plural(result.changed, 'image')}${names.length === 1 ? ` as ${names[0]}` : ''} (${nf}).`;
    }
  }
}
