import type { ImageDetail, ImagePrediction, ImageRow } from '../../../shared/contract/index.ts';
import { api, ApiError } from '../api/index.ts';
import type { GalleryState } from './gallery.svelte.ts';
import { toasts } from './toasts.svelte.ts';

/**
 * The large preview: a position in the filtered order and the image's details. It follows
 * the position, so when labeling in the "Unlabeled" filter takes an image out of view, the
 * next one slides into place.
 */
export class PreviewState {
  index = $state<number | null>(null);
  row = $state.raw<ImageRow | null>(null);
  detail = $state.raw<ImageDetail | null>(null);
  /** The current model's prediction for the image, every class's probability included. */
  prediction = $state.raw<ImagePrediction | null>(null);
  isOpen = $derived(this.index !== null);
  #seq = 0;

  constructor(
    private readonly gallery: GalleryState,
    private readonly onMove: (index: number) => void,
  ) {}

  async open(index: number): Promise<void> {
    if (index < 0 || index >= this.gallery.total) return;
    this.index = index;
    this.onMove(index);
    await this.reload();
  }

  close(): void {
    this.#seq++;
    this.index = null;
    this.row = null;
    this.detail = null;
    this.prediction = null;
  }

  step(delta: number): void {
    if (this.index === null) return;
    const next = Math.min(this.gallery.total - 1, Math.max(0, this.index + delta));
    if (next !== this.index) void this.open(next);
  }

  /** Loads the image at the current position (after a move, or after the data changed). */
  async reload(): Promise<void> {
    if (this.index === null) return;
    const seq = ++this.#seq;
    if (this.gallery.total === 0) {
      this.close();
      return;
    }
    const index = Math.min(this.index, this.gallery.total - 1);
    try {
      const row = await this.gallery.fetchRow(index);
      if (seq !== this.#seq) return;
      if (!row) {
        this.close();
        return;
      }
      this.index = index;
      if (this.row?.id !== row.id) {
        this.detail = null;
        this.prediction = null;
      }
      this.row = row;
      const [detail, prediction] = await Promise.all([
        api.call('images.get', { id: row.id }),
        row.prediction ? api.call('predictions.get', { imageId: row.id }) : Promise.resolve(null),
      ]);
      if (seq !== this.#seq) return;
      this.detail = detail;
      this.prediction = prediction;
    } catch (err) {
      if (seq !== this.#seq) return;
      if (err instanceof ApiError && err.code === 'not_found') this.close();
      else toasts.error(err);
    }
  }
}
