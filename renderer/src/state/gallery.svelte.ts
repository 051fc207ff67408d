import type { GalleryFilter, ImageRow } from '../../../shared/contract/index.ts';
import { api } from '../api/index.ts';
import { toasts } from './toasts.svelte.ts';

export const PAGE_SIZE = 150;
/** Pages kept in memory: about 6,000 rows, a few screens around wherever the user scrolled. */
const MAX_PAGES = 40;

/**
 * The filtered image list, fetched a page at a time as the gallery scrolls. Only pages near
 * what is on screen are fetched; far ones are dropped. A refresh refetches the visible pages
 * and swaps them in at once, so the grid never blinks and the scroll position stays.
 */
export class GalleryState {
  total = $state(0);
  /** True once the current filter's first answer arrived. */
  loaded = $state(false);
  /** Bumped whenever rows change, so readers of `rowAt` update. */
  version = $state(0);
  #pages = new Map<number, ImageRow[]>();
  #inflight = new Set<number>();
  #generation = 0;
  #visible = { first: 0, last: 0 };
  #retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private filter: () => GalleryFilter) {}

  rowAt(index: number): ImageRow | undefined {
    void this.version;
    return this.#pages.get(Math.floor(index / PAGE_SIZE))?.[index % PAGE_SIZE];
  }

  /** Rows already in memory between two positions, or null when any is missing. */
  loadedIds(from: number, to: number): number[] | null {
    const out: number[] = [];
    for (let i = from; i <= to; i++) {
      const row = this.rowAt(i);
      if (!row) return null;
      out.push(row.id);
    }
    return out;
  }

  /** The gallery view reports which positions are on screen (with some overscan). */
  setVisible(first: number, last: number): void {
    this.#visible = { first: Math.max(0, first), last: Math.max(0, last) };
    this.#ensure();
  }

  /** The filter changed: forget everything and load from the top. */
  reset(): void {
    this.#generation++;
    this.#pages.clear();
    this.#inflight.clear();
    this.loaded = false;
    this.#visible = { first: 0, last: Math.max(0, this.#visible.last - this.#visible.first) };
    this.version++;
    this.#ensure();
  }

  /** Reloads what is on screen after a change elsewhere, keeping position and cache shape. */
  async refresh(): Promise<void> {
    const generation = ++this.#generation;
    this.#inflight.clear();
    const pages = this.#visiblePages();
    try {
      const filter = this.filter();
      const results = await Promise.all(
        pages.map((p) => api.call('images.query', { filter, offset: p * PAGE_SIZE, limit: PAGE_SIZE })),
      );
      if (generation !== this.#generation) return;
      this.#pages = new Map(pages.map((p, i) => [p, results[i]!.rows]));
      this.total = results.at(-1)?.total ?? 0;
      this.loaded = true;
      this.version++;
    } catch (err) {
      if (generation === this.#generation) toasts.error(err);
    }
  }

  /** Fetches one row by position even when its page is not loaded (the preview needs it). */
  async fetchRow(index: number): Promise<ImageRow | null> {
    const cached = this.rowAt(index);
    if (cached) return cached;
    const page = await api.call('images.query', { filter: this.filter(), offset: index, limit: 1 });
    return page.rows[0] ?? null;
  }

  #visiblePages(): number[] {
    const first = Math.floor(this.#visible.first / PAGE_SIZE);
    const last = Math.max(first, Math.floor(this.#visible.last / PAGE_SIZE));
    const pages: number[] = [];
    for (let p = first; p <= last; p++) pages.push(p);
    return pages;
  }

  /**
   * Loads missing visible pages. At most two requests run at once; when they finish this runs
   * again for wherever the user has scrolled meanwhile, so a fast fling over 20,000 images
   * asks only for the pages it stops on.
   */
  #ensure(): void {
    for (const page of this.#visiblePages()) {
      if (this.#inflight.size >= 2) return;
      if (this.#pages.has(page) || this.#inflight.has(page)) continue;
      if (this.loaded && page * PAGE_SIZE >= this.total && page > 0) continue;
      void this.#fetch(page);
    }
  }

  async #fetch(page: number): Promise<void> {
    const generation = this.#generation;
    this.#inflight.add(page);
    try {
      const result = await api.call('images.query', { filter: this.filter(), offset: page * PAGE_SIZE, limit: PAGE_SIZE });
      if (generation !== this.#generation) return;
      this.#pages.set(page, result.rows);
      this.total = result.total;
      this.loaded = true;
      this.#evict();
      this.version++;
    } catch (err) {
      if (generation !== this.#generation) return;
      toasts.error(err);
      // Try again shortly rather than leave grey tiles forever.
      clearTimeout(this.#retryTimer);
      this.#retryTimer = setTimeout(() => this.#ensure(), 2000);
    } finally {
      if (generation === this.#generation) {
        this.#inflight.delete(page);
        this.#ensure();
      }
    }
  }

  #evict(): void {
    if (this.#pages.size <= MAX_PAGES) return;
    const centre = Math.floor((this.#visible.first + this.#visible.last) / 2 / PAGE_SIZE);
    const byDistance = [...this.#pages.keys()].sort((a, b) => Math.abs(b - centre) - Math.abs(a - centre));
    for (const page of byDistance.slice(0, this.#pages.size - MAX_PAGES)) this.#pages.delete(page);
  }
}
