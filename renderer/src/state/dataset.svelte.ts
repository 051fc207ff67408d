import type { ClassInfo, DatasetSummary, ProjectInfo } from '../../../shared/contract/index.ts';
import { api } from '../api/index.ts';
import { plural } from '../lib/format.ts';
import { FilterState } from './filter.svelte.ts';
import { GalleryState } from './gallery.svelte.ts';
import { PreviewState } from './preview.svelte.ts';
import { SelectionState } from './selection.svelte.ts';
import { attempt, toasts } from './toasts.svelte.ts';

/** Refreshes come in bursts during an import; at most one per this many ms. */
const REFRESH_SPACING_MS = 350;

/** The open project's images, classes and counts, and what the user does to them. */
export class DatasetState {
  classes = $state.raw<ClassInfo[]>([]);
  summary = $state.raw<DatasetSummary | null>(null);
  /** True once classes, counts and the first gallery page have arrived. */
  ready = $state(false);

  readonly filter: FilterState;
  readonly gallery: GalleryState;
  readonly selection = new SelectionState();
  readonly preview: PreviewState;

  classById = $derived(new Map(this.classes.map((c) => [c.id, c])));
  classByHotkey = $derived(new Map(this.classes.filter((c) => c.hotkey !== null).map((c) => [c.hotkey!, c])));

  #refreshing = false;
  #refreshAgain = false;
  #lastRefresh = 0;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #disposed = false;

  constructor(
    readonly project: ProjectInfo,
    private readonly undo: () => void,
  ) {
    this.filter = new FilterState(() => this.#filterChanged());
    this.gallery = new GalleryState(() => this.filter.query);
    this.preview = new PreviewState(this.gallery, (index) => (this.selection.cursor = index));
  }

  async load(): Promise<void> {
    await Promise.all([this.#loadMeta(), this.gallery.refresh()]);
    this.ready = true;
  }

  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#refreshTimer);
  }

  count(classId: number): number {
    return this.summary?.byClass[classId]?.total ?? 0;
  }

  /** Coalesces change events into few refreshes, leading and trailing. */
  scheduleRefresh(): void {
    if (this.#disposed) return;
    if (this.#refreshing) {
      this.#refreshAgain = true;
      return;
    }
    clearTimeout(this.#refreshTimer);
    const wait = Math.max(0, this.#lastRefresh + REFRESH_SPACING_MS - Date.now());
    this.#refreshTimer = setTimeout(() => void this.refresh(), wait);
  }

  async refresh(): Promise<void> {
    if (this.#disposed) return;
    this.#refreshing = true;
    this.#lastRefresh = Date.now();
    try {
      await Promise.all([this.#loadMeta(), this.gallery.refresh()]);
      await Promise.all([this.preview.reload(), this.#pruneSelection()]);
    } catch (err) {
      toasts.error(err);
    } finally {
      this.#refreshing = false;
      if (this.#refreshAgain) {
        this.#refreshAgain = false;
        this.scheduleRefresh();
      }
    }
  }

  async #loadMeta(): Promise<void> {
    const [classes, summary] = await Promise.all([api.call('classes.list'), api.call('dataset.summary')]);
    if (this.#disposed) return;
    this.classes = classes;
    this.summary = summary;
    for (const id of [...this.filter.classIds, ...this.filter.predictedClassIds]) if (!classes.some((c) => c.id === id)) this.filter.forgetClass(id);
  }

  /** Images that left the filter (labeled away, excluded) leave the selection too. */
  async #pruneSelection(): Promise<void> {
    if (this.selection.size === 0) return;
    const ids = await api.call('images.ids', { filter: this.filter.query });
    this.selection.keepOnly(new Set(ids));
  }

  #filterChanged(): void {
    this.selection.reset();
    this.preview.close();
    this.gallery.reset();
  }

  // ---------- selection ----------

  /** What a labeling key acts on: the selection, or else the image under the keyboard cursor. */
  targets(): number[] {
    if (this.selection.size) return [...this.selection.ids];
    const row = this.selection.cursor >= 0 ? this.gallery.rowAt(this.selection.cursor) : undefined;
    return row ? [row.id] : [];
  }

  async #idsBetween(a: number, b: number): Promise<number[]> {
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    const cached = this.gallery.loadedIds(lo, hi);
    if (cached) return cached;
    // Part of the range was never scrolled into view; ask the core for the whole order.
    const all = await api.call('images.ids', { filter: this.filter.query });
    return all.slice(lo, hi + 1);
  }

  /** Click, shift-click (range from the anchor) and ctrl/cmd-click (toggle). */
  async clickTile(index: number, id: number, mods: { range: boolean; toggle: boolean }): Promise<void> {
    const s = this.selection;
    s.cursor = index;
    if (mods.range && s.anchor !== null) {
      const ids = await attempt(() => this.#idsBetween(s.anchor!, index));
      if (!ids) return;
      if (mods.toggle) s.add(ids);
      else s.replace(ids);
      return;
    }
    s.anchor = index;
    if (mods.toggle) s.toggle(id);
    else s.replace([id]);
  }

  /** Arrow keys: the selection follows the cursor; with `extend` it grows from the anchor. */
  async moveCursor(to: number, mode: 'select' | 'extend' | 'move'): Promise<void> {
    const total = this.gallery.total;
    if (total === 0) return;
    const s = this.selection;
    const index = Math.min(total - 1, Math.max(0, to));
    s.cursor = index;
    if (mode === 'move') return;
    if (mode === 'extend') {
      if (s.anchor === null) s.anchor = Math.max(0, index);
      const ids = await attempt(() => this.#idsBetween(s.anchor!, index));
      if (ids) s.replace(ids);
      return;
    }
    s.anchor = index;
    const row = await attempt(() => this.gallery.fetchRow(index));
    if (row) s.replace([row.id]);
  }

  async selectAll(): Promise<void> {
    const ids = await attempt(() => api.call('images.ids', { filter: this.filter.query }));
    if (ids) this.selection.replace(ids);
  }

  // ---------- edits (each one saved at once and undoable) ----------

  async label(imageIds: number[], classId: number | null): Promise<void> {
    if (imageIds.length === 0) return;
    const done = await attempt(() => api.call('labels.set', { imageIds, classId }));
    if (!done) return;
    this.scheduleRefresh();
    if (imageIds.length > 1) {
      const name = classId === null ? null : this.classById.get(classId)?.name;
      toasts.success(name ? `Labeled ${plural(imageIds.length, 'image')} as ${name}.` : `Removed the label from ${plural(imageIds.length, 'image')}.`, { timeout: 4000, action: this.#undoAction });
    }
  }

  /** Toasts about a change offer to take it back. */
  #undoAction = { label: 'Undo', ariaLabel: 'Undo this change', run: () => this.undo() };

  async labelWithHotkey(imageIds: number[], hotkey: number): Promise<void> {
    const cls = this.classByHotkey.get(hotkey);
    if (cls && imageIds.length === 0) {
      toasts.info(`Select images first (click a tile), then press ${hotkey} to label them as ${cls.name}.`);
      return;
    }
    if (!cls) {
      toasts.info(this.classes.length ? `No class has the key ${hotkey}. Keys 1–9 go to the first nine classes in the list.` : 'Add a class first: the first nine classes get the keys 1–9.');
      return;
    }
    await this.label(imageIds, cls.id);
  }

  /** Labels each image with the model's prediction for it (label source: model). */
  async acceptPredictions(imageIds: number[]): Promise<void> {
    if (imageIds.length === 0) {
      toasts.info('Select images first (click a tile), then press A to accept what the model predicts for them.');
      return;
    }
    const r = await attempt(() => api.call('predictions.accept', { imageIds }));
    if (!r) return;
    this.scheduleRefresh();
    if (r.changed === 0) {
      toasts.info(
        imageIds.length === 1
          ? 'Nothing to accept: this image has no prediction, or already has the predicted label.'
          : 'Nothing to accept: these images have no predictions, or already have the predicted labels.',
      );
    } else {
      toasts.success(`Accepted the model's prediction for ${plural(r.changed, 'image')}.`, { timeout: 4000, action: this.#undoAction });
    }
  }

  async exclude(imageIds: number[]): Promise<void> {
    if (imageIds.length === 0) return;
    const r = await attempt(() => api.call('images.exclude', { imageIds }));
    if (!r) return;
    this.scheduleRefresh();
    toasts.success(`Excluded ${plural(imageIds.length, 'image')}. Excluded images stay on disk and can be restored.`, { timeout: 4000, action: this.#undoAction });
  }

  async restore(imageIds: number[]): Promise<void> {
    if (imageIds.length === 0) return;
    const r = await attempt(() => api.call('images.restore', { imageIds }));
    if (!r) return;
    this.scheduleRefresh();
    toasts.success(`Restored ${plural(imageIds.length, 'image')}.`, { timeout: 2500 });
  }

  /** X: excluded images come back, others go. */
  async toggleExcluded(imageIds: number[], currentlyExcluded: boolean): Promise<void> {
    await (currentlyExcluded ? this.restore(imageIds) : this.exclude(imageIds));
  }

  async setTag(imageIds: number[], key: string, value: string | null): Promise<boolean> {
    const r = await attempt(() => api.call('tags.set', { imageIds, key, value }));
    if (r) this.scheduleRefresh();
    return r !== undefined;
  }

  // ---------- classes ----------

  async createClass(name: string): Promise<ClassInfo | undefined> {
    const created = await attempt(() => api.call('classes.create', { name }));
    if (created) this.scheduleRefresh();
    return created;
  }

  async renameClass(id: number, name: string): Promise<boolean> {
    const current = this.classById.get(id);
    if (!current || current.name === name.trim()) return true;
    const r = await attempt(() => api.call('classes.update', { id, name }));
    if (r) this.scheduleRefresh();
    return r !== undefined;
  }

  async recolourClass(id: number, colour: string): Promise<void> {
    const r = await attempt(() => api.call('classes.update', { id, colour }));
    if (r) this.scheduleRefresh();
  }

  async reorderClasses(ids: number[]): Promise<void> {
    const byId = this.classById;
    // Show the new order at once; the core answers with the same list and new hotkeys.
    this.classes = ids.map((id) => byId.get(id)).filter((c): c is ClassInfo => c !== undefined);
    const r = await attempt(() => api.call('classes.reorder', { ids }));
    if (r) this.classes = r;
    this.scheduleRefresh();
  }

  async moveClass(id: number, delta: number): Promise<void> {
    const ids = this.classes.map((c) => c.id);
    const from = ids.indexOf(id);
    const to = from + delta;
    if (from < 0 || to < 0 || to >= ids.length) return;
    ids.splice(from, 1);
    ids.splice(to, 0, id);
    await this.reorderClasses(ids);
  }

  async mergeClass(sourceId: number, targetId: number): Promise<void> {
    const source = this.classById.get(sourceId)?.name;
    const target = this.classById.get(targetId)?.name;
    const r = await attempt(() => api.call('classes.merge', { sourceId, targetId }));
    if (!r) return;
    this.filter.forgetClass(sourceId);
    this.scheduleRefresh();
    toasts.success(`Merged ${source} into ${target}: ${plural(r.moved, 'image')} moved.`, { action: this.#undoAction });
  }

  async deleteClass(id: number): Promise<void> {
    const name = this.classById.get(id)?.name;
    const r = await attempt(() => api.call('classes.delete', { id }));
    if (!r) return;
    this.filter.forgetClass(id);
    this.scheduleRefresh();
    toasts.success(`Deleted the class ${name}; ${plural(r.unlabeled, 'image')} became unlabeled.`, { action: this.#undoAction });
  }
}
