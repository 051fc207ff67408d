import type { ClassInfo } from '../../../shared/contract/index.ts';

/** Which of the dataset view's smaller dialogs is open, and about what. */
class DatasetDialogs {
  deleting = $state.raw<ClassInfo | null>(null);
  merging = $state.raw<ClassInfo | null>(null);
  /** Images whose tags are being edited in bulk. */
  tagging = $state.raw<number[] | null>(null);
  /** The class whose name is being edited in place in the sidebar. */
  renamingId = $state<number | null>(null);
  /** The sidebar's "new class" field is showing. */
  addingClass = $state(false);
}

export const dialogs = new DatasetDialogs();
