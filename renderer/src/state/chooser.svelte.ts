import type { DirListing, PickPurpose } from '../../../shared/contract/index.ts';
import { api, ApiError, errorMessage } from '../api/index.ts';
import { prefs } from './prefs.svelte.ts';

interface ChooseRequest {
  purpose: PickPurpose;
  resolve: (paths: string[] | null) => void;
}

/** What the chooser lets a user pick for each purpose. */
export const PURPOSES: Record<PickPurpose, { title: string; multiple: boolean; pick: 'dir' | 'image' | 'csv' | 'project' | 'new' }> = {
  'import-folder': { title: 'Choose folders to import', multiple: true, pick: 'dir' },
  'import-files': { title: 'Choose images to import', multiple: true, pick: 'image' },
  'import-csv': { title: 'Choose a CSV file of paths and labels', multiple: false, pick: 'csv' },
  'open-project': { title: 'Open a project', multiple: false, pick: 'project' },
  'new-project': { title: 'Create a new project', multiple: false, pick: 'new' },
};

/** Remembered folders are shared by purposes that look in the same places. */
function folderKey(purpose: PickPurpose): string {
  return purpose === 'open-project' || purpose === 'new-project' ? 'project' : 'import';
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

  get purpose(): PickPurpose | null {
    return this.request?.purpose ?? null;
  }

  /** Opens the chooser; resolves with the chosen paths, or null when cancelled. */
  choose(purpose: PickPurpose): Promise<string[] | null> {
    this.request?.resolve(null);
    return new Promise((resolve) => {
      this.request = { purpose, resolve };
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
    const purpose = this.purpose;
    if (!purpose) return;
    try {
      const paths = await api.call('host.pickPaths', { purpose });
      if (paths && paths.length) this.finish(paths);
    } catch (err) {
      this.error = errorMessage(err);
    }
  }
}

export const chooser = new FileChooser();
