/**
 * Selected images by id (so a selection survives refreshes), plus two positions in the
 * filtered order: the anchor a shift-click range starts from, and the cursor the keyboard
 * moves.
 */
export class SelectionState {
  ids = $state.raw<ReadonlySet<number>>(new Set());
  anchor = $state<number | null>(null);
  cursor = $state(-1);
  size = $derived(this.ids.size);

  has(id: number): boolean {
    return this.ids.has(id);
  }

  replace(ids: Iterable<number>): void {
    this.ids = new Set(ids);
  }

  add(ids: Iterable<number>): void {
    const next = new Set(this.ids);
    for (const id of ids) next.add(id);
    this.ids = next;
  }

  toggle(id: number): void {
    const next = new Set(this.ids);
    if (!next.delete(id)) next.add(id);
    this.ids = next;
  }

  /** Keeps only ids the current filter still shows. */
  keepOnly(visible: ReadonlySet<number>): void {
    let changed = false;
    const next = new Set<number>();
    for (const id of this.ids) {
      if (visible.has(id)) next.add(id);
      else changed = true;
    }
    if (changed) this.ids = next;
  }

  clear(): void {
    if (this.ids.size) this.ids = new Set();
    this.anchor = null;
  }

  reset(): void {
    this.clear();
    this.cursor = -1;
  }
}
