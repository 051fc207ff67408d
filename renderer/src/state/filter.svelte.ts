import type { GalleryFilter } from '../../../shared/contract/index.ts';

export type SplitChoice = 'train' | 'val' | 'test' | 'none';
export const SPLIT_CHOICES: SplitChoice[] = ['train', 'val', 'test', 'none'];

export interface TagFilter {
  key: string;
  value?: string;
}

export type GallerySort = NonNullable<GalleryFilter['sort']>;

export const SORT_CHOICES: { value: GallerySort; label: string }[] = [
  { value: 'path', label: 'Path' },
  { value: 'confidence-asc', label: 'Least confident first' },
  { value: 'confidence-desc', label: 'Most confident first' },
];

const SEARCH_DELAY_MS = 200;

/**
 * What the gallery shows. Label filters (classes, unlabeled) combine by OR; status, splits,
 * tag and search narrow further. Every change goes through a method so the owner hears it.
 */
export class FilterState {
  classIds = $state.raw<number[]>([]);
  unlabeled = $state(false);
  status = $state<'active' | 'excluded'>('active');
  splits = $state.raw<SplitChoice[]>([]);
  tag = $state.raw<TagFilter | null>(null);
  /** What the search box shows; `search` follows it after a short pause in typing. */
  searchText = $state('');
  search = $state('');
  /** Images the model predicts as any of these classes. */
  predictedClassIds = $state.raw<number[]>([]);
  /** Labelled images whose prediction differs from their label. */
  disagree = $state(false);
  /** Predictions less sure than this (0–1), or null for any. */
  confidenceBelow = $state<number | null>(null);
  sort = $state<GallerySort>('path');
  #searchTimer: ReturnType<typeof setTimeout> | undefined;

  query: GalleryFilter = $derived.by(() => {
    const q: GalleryFilter = { status: this.status };
    if (this.classIds.length) q.classIds = this.classIds;
    if (this.unlabeled) q.unlabeled = true;
    if (this.splits.length) q.splits = this.splits;
    if (this.tag) q.tag = this.tag.value === undefined ? { key: this.tag.key } : { key: this.tag.key, value: this.tag.value };
    const search = this.search.trim();
    if (search) q.search = search;
    if (this.predictedClassIds.length) q.predictedClassIds = this.predictedClassIds;
    if (this.disagree) q.disagree = true;
    if (this.confidenceBelow !== null) q.confidence = { max: this.confidenceBelow };
    if (this.sort !== 'path') q.sort = this.sort;
    return q;
  });

  /** A filter on the model's predictions is on. */
  byPrediction = $derived(this.predictedClassIds.length > 0 || this.disagree || this.confidenceBelow !== null);

  showsAllLabels = $derived(this.classIds.length === 0 && !this.unlabeled);
  isNarrowed = $derived(
    !this.showsAllLabels || this.status !== 'active' || this.splits.length > 0 || this.tag !== null || this.search.trim() !== '' || this.byPrediction,
  );

  /** Something besides the excluded toggle narrows the view. */
  isNarrowedBeyondStatus = $derived(
    !this.showsAllLabels || this.splits.length > 0 || this.tag !== null || this.search.trim() !== '' || this.byPrediction,
  );
  /** Something besides the label filter narrows the view. */
  isNarrowedBeyondLabels = $derived(
    this.status !== 'active' || this.splits.length > 0 || this.tag !== null || this.search.trim() !== '' || this.byPrediction,
  );

  constructor(private readonly onChange: () => void) {}

  /** Every label and the active images: the "All" filter. */
  showAll(): void {
    this.classIds = [];
    this.unlabeled = false;
    this.status = 'active';
    this.onChange();
  }

  /** With `add`, toggles the unlabeled images in or out of the current label filter. */
  showUnlabeled(add = false): void {
    if (add) {
      this.unlabeled = !this.unlabeled;
    } else {
      const alone = this.unlabeled && this.classIds.length === 0 && this.status === 'active';
      this.unlabeled = !alone;
      this.classIds = [];
      this.status = 'active';
    }
    this.onChange();
  }

  /** The sidebar's "Excluded": every excluded image, or back to all images when shown already. */
  showExcluded(): void {
    const alone = this.status === 'excluded' && this.showsAllLabels;
    this.classIds = [];
    this.unlabeled = false;
    this.status = alone ? 'active' : 'excluded';
    this.onChange();
  }

  /** With `add`, toggles one class in or out; otherwise shows only it (or all, if it was alone). */
  showClass(id: number, add = false): void {
    if (add) {
      this.classIds = this.classIds.includes(id) ? this.classIds.filter((c) => c !== id) : [...this.classIds, id];
    } else {
      const alone = this.classIds.length === 1 && this.classIds[0] === id && !this.unlabeled;
      this.classIds = alone ? [] : [id];
      this.unlabeled = false;
    }
    this.onChange();
  }

  toggleExcluded(): void {
    this.status = this.status === 'excluded' ? 'active' : 'excluded';
    this.onChange();
  }

  toggleSplit(split: SplitChoice): void {
    this.splits = this.splits.includes(split) ? this.splits.filter((s) => s !== split) : [...this.splits, split];
    this.onChange();
  }

  setTag(tag: TagFilter | null): void {
    this.tag = tag;
    this.onChange();
  }

  typeSearch(text: string): void {
    this.searchText = text;
    clearTimeout(this.#searchTimer);
    this.#searchTimer = setTimeout(() => {
      if (this.search === text) return;
      this.search = text;
      this.onChange();
    }, SEARCH_DELAY_MS);
  }

  /** Only images the model predicts as this class; null for any class. */
  setPredictedClass(id: number | null): void {
    this.predictedClassIds = id === null ? [] : [id];
    this.onChange();
  }

  setDisagree(on: boolean): void {
    this.disagree = on;
    this.onChange();
  }

  /** Only predictions less sure than this share (0–1); null for any. */
  setConfidenceBelow(share: number | null): void {
    this.confidenceBelow = share;
    this.onChange();
  }

  setSort(sort: GallerySort): void {
    if (this.sort === sort) return;
    this.sort = sort;
    this.onChange();
  }

  /** A deleted or merged class must leave the filter, or it would match nothing. */
  forgetClass(id: number): void {
    if (!this.classIds.includes(id) && !this.predictedClassIds.includes(id)) return;
    this.classIds = this.classIds.filter((c) => c !== id);
    this.predictedClassIds = this.predictedClassIds.filter((c) => c !== id);
    this.onChange();
  }

  clear(): void {
    clearTimeout(this.#searchTimer);
    this.classIds = [];
    this.unlabeled = false;
    this.status = 'active';
    this.splits = [];
    this.tag = null;
    this.searchText = '';
    this.search = '';
    this.predictedClassIds = [];
    this.disagree = false;
    this.confidenceBelow = null;
    this.onChange();
  }
}
