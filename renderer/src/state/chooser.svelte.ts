import type { DirListing, PickPurpose } from '../../../shared/contract/index.ts';
import { api, ApiError, errorMessage } from '../api/index.ts';
import { prefs } from './prefs.svelte.ts';

/**
 * The host's pick purposes, plus the in-app chooser's own: the contract has no native dialog
 * for choosing an export folder or a models folder, so those browse with `files.list` only.
 */
export type ChooserPurpose = PickPurpose;

interface ChooseRequest {
  purpose: ChooserPurpose;
  /** A new folder's name the chooser proposes (`new-folder` purposes). */
  suggestedName: string;
  resolve: (paths: string[] | null) => void;
}

interface PurposeSpec {
  title: string;
  multiple: boolean;
  /** `new-folder`: a folder to create inside the folder shown, named in a field. */
  pick: 'dir' | 'image' | 'csv' | 'project' | 'new' | 'new-folder';
  /** The host's native dialog for this purpose, or null when there is none. */
  native: PickPurpose | null;
  /** The confirm button's words, where the pick kind's own would not fit. */
  confirmLabel?: string;
  /** A line under the listing saying what to choose. */
  hint?: string;
}

/** What the chooser lets a user pick for each purpose. */
export const PURPOSES: Record<ChooserPurpose, PurposeSpec> = {
  'import-folder': { title: 'Choose folders to import', multiple: true, pick: 'dir', native: 'import-folder' },
  'import-files': { title: 'Choose images to import', multiple: true, pick: 'image', native: 'import-files' },
  'import-csv': { title: 'Choose a CSV file of paths and labels', multiple: false, pick: 'csv', native: 'import-csv' },
  'open-project': { title: 'Open a project', multiple: false, pick: 'project', native: 'open-project' },
  'new-project': { title: 'Create a new project', multiple: false, pick: 'new', native: 'new-project' },
  'export-folder': {
    title: 'Export the model into a folder',
    multiple: false,
    pick: 'new-folder',
    native: 'export-folder',
    confirmLabel: 'Export here',
    hint: 'The folder is made inside the folder shown above; model.json, its weights, labels.json and metadata.json go in it.',
  },
  'report-folder': {
    title: 'Save the health report into a folder',
    multiple: false,
    pick: 'new-folder',
    native: 'report-folder',
    confirmLabel: 'Save here',
    hint: 'The report is one HTML file, named after the project and today\'s date; open it in any browser, or print it.',
  },
  'card-folder': {
    title: 'Save the model card into a folder',
    multiple: false,
    pick: 'new-folder',
    native: 'card-folder',
    confirmLabel: 'Save here',
    hint: 'The model card is one HTML file named after the run; open it in any browser, or print it.',
  },
  'eval-folder': {
    title: 'Evaluate on a folder of labelled images',
    multiple: false,
    pick: 'dir',
    native: 'eval-folder',
    confirmLabel: 'Evaluate',
    hint: 'Choose a folder with one sub-folder per class, named like the run\'s classes. Nothing is imported.',
  },
  'models-folder': {
    title: 'Choose the folder that holds backbone models',
    multiple: false,
    pick: 'dir',
    native: 'models-folder',
    hint: 'Choose the folder whose sub-folders are named like mobilenet_v1_0.25_224, each with a model.json inside.',
  },
};

/** Remembered folders are shared by purposes that look in the same places. */
function folderKey(purpose: ChooserPurpose): string {
  if (purpose === 'open-project' || purpose === 'new-project') return 'project';
  if (purpose === 'card-folder') return 'report-folder';
  if (purpose === 'export-folder' || purpose === 'models-folder' || purpose === 'report-folder') return purpose;
  return 'import';
}

/**
 * The in-app file chooser: browses the machine that runs the core (which, for the browser
 * host, may not be the machine showing this page) through `files.list`.
 */
class FileChooser {
  request = $state.raw<ChooseRequest | null>(null);
  listing = $state.raw<DirListing | null>(null);
  loading = $state(false);
  error = $state<string | null>(null);
  chosen = $state.raw<string[]>([]);
  #seq = 0;

  get purpose(): ChooserPurpose | null {
    return this.request?.purpose ?? null;
  }

  get suggestedName(): string {
    return this.request?.suggestedName ?? '';
  }

  /** Opens the chooser; resolves with the chosen paths, or null when cancelled. */
  choose(purpose: ChooserPurpose, options: { suggestedName?: string } = {}): Promise<string[] | null> {
    this.request?.resolve(null);
    return new Promise((resolve) => {
      this.request = { purpose, suggestedName: options.suggestedName ?? '', resolve };
      this.chosen = [];
      this.error = null;
      void this.go(prefs.lastFolder(folderKey(purpose)));
    });
  }

  finish(paths: string[] | null): void {
    const request = this.request;
    if (!request) return;
    if (paths && this.listing) prefs.rememberFolder(folderKey(request.purpose), this.listing.path);
    this.request = null;
    this.listing = null;
    request.resolve(paths && paths.length ? paths : null);
  }

  /** Shows a folder. Returns the error when the path is not a folder, for the caller to judge. */
  async go(path: string | undefined): Promise<ApiError | null> {
    const seq = ++this.#seq;
    this.loading = true;
    try {
      const listing = await api.call('files.list', path ? { path } : {});
      if (seq !== this.#seq) return null;
      this.listing = listing;
      this.chosen = [];
      this.error = null;
      return null;
    } catch (err) {
      if (seq !== this.#seq) return null;
      // A remembered folder that is gone: fall back to the home folder quietly.
      if (path && !this.listing && err instanceof ApiError && err.code === 'not_found') return this.go(undefined);
      this.error = errorMessage(err);
      return err instanceof ApiError ? err : null;
    } finally {
      if (seq === this.#seq) this.loading = false;
    }
  }

  toggle(path: string, multiple: boolean): void {
    if (this.chosen.includes(path)) this.chosen = this.chosen.filter((p) => p !== path);
    else this.chosen = multiple ? [...this.chosen, path] : [path];
  }

  /** Electron only: the operating system's own dialog. */
  async browseNative(): Promise<void> {
    const native = this.purpose ? PURPOSES[this.purpose].native : null;
    if (!native) return;
    try {
      const paths = await api.call('host.pickPaths', { purpose: native });
      if (paths && paths.length) this.finish(paths);
    } catch (err) {
      this.error = errorMessage(err);
    }
  }
}

export const chooser = new FileChooser();
