import type { ImportReport, ImportSplit, JobInfo, SkippedFile } from '../../../shared/contract/index.ts';
import { api, errorMessage } from '../api/index.ts';
import { newUploadBatchId, walkDroppedEntries } from '../api/dropped-files.ts';
import { plural } from '../lib/format.ts';
import { jobs } from './jobs.svelte.ts';
import { toasts } from './toasts.svelte.ts';

export type ImportPhase = 'choose' | 'uploading' | 'running' | 'report';

export interface UploadProgress {
  done: number;
  total: number;
  startedAt: number;
}

const UPLOAD_CONCURRENCY = 4;

/**
 * One import at a time, from the import dialog or a drop on the window: the sources the
 * user chose, the running job, then its report. The dialog can be closed while it runs;
 * the top bar keeps showing progress and a toast offers the report at the end.
 */
class ImportFlow {
  dialogOpen = $state(false);
  phase = $state<ImportPhase>('choose');
  sources = $state.raw<string[]>([]);
  csvPath = $state<string | null>(null);
  split = $state<ImportSplit>('auto');
  jobId = $state<string | null>(null);
  upload = $state.raw<UploadProgress | null>(null);
  report = $state.raw<ImportReport | null>(null);
  /** Dropped files the browser could not send, shown with the report's skipped files. */
  uploadFailures = $state.raw<SkippedFile[]>([]);
  starting = $state(false);
  /** The upload batch of a dropped import: its files sit in the project's uploads folder. */
  uploadBatch = $state<string | null>(null);

  job = $derived(this.jobId ? jobs.get(this.jobId) : undefined);
  busy = $derived(this.phase === 'uploading' || this.phase === 'running');

  open(): void {
    if (!this.busy && this.phase === 'report') this.#reset();
    this.dialogOpen = true;
  }

  /** Another project opened: what this window chose or reported belongs to the old one. */
  forgetProject(): void {
    this.dialogOpen = false;
    this.#reset();
    this.upload = null;
  }

  close(): void {
    this.dialogOpen = false;
    if (this.phase === 'report' || this.phase === 'choose') this.#reset();
  }

  #reset(): void {
    this.phase = 'choose';
    this.sources = [];
    this.csvPath = null;
    this.jobId = null;
    this.report = null;
    this.uploadFailures = [];
    this.uploadBatch = null;
  }

  /** Uploaded files are named as the user dropped them, not by the server's copy. */
  displayPath(path: string): string {
    if (!this.uploadBatch) return path;
    const marker = path.search(new RegExp(`[\\\\/]uploads[\\\\/]${this.uploadBatch}[\\\\/]`));
    return marker < 0 ? path : path.slice(marker + `/uploads/${this.uploadBatch}/`.length);
  }

  addSources(paths: string[]): void {
    this.csvPath = null;
    this.sources = [...new Set([...this.sources, ...paths])];
  }

  removeSource(path: string): void {
    this.sources = this.sources.filter((p) => p !== path);
  }

  useCsv(path: string): void {
    this.sources = [];
    this.csvPath = path;
  }

  /** Starts the import the dialog describes. */
  async start(): Promise<void> {
    if (this.busy || this.starting) return;
    const csv = this.csvPath;
    const paths = this.sources;
    if (!csv && paths.length === 0) return;
    await this.#run(() =>
      csv ? api.call('import.csv', { csvPath: csv, split: this.split }) : api.call('import.start', { paths, split: this.split }),
    );
  }

  /** Electron: dropped files and folders import from where they are. */
  async startPaths(paths: string[]): Promise<void> {
    if (this.#refuseWhileBusy()) return;
    this.#reset();
    this.sources = paths;
    this.split = 'auto';
    this.dialogOpen = true;
    await this.#run(() => api.call('import.start', { paths, split: 'auto' }));
  }

  /**
   * Browser host: dropped files are uploaded (keeping folder paths), then imported. `files`
   * serves when the browser gave no entries to walk (plain files, no folders).
   */
  async startUpload(entries: FileSystemEntry[], loose: File[] = []): Promise<void> {
    if (this.#refuseWhileBusy()) return;
    this.#reset();
    this.split = 'auto';
    this.sources = entries.length ? entries.map((e) => e.name) : loose.map((f) => f.name);
    this.dialogOpen = true;
    this.phase = 'uploading';
    this.upload = { done: 0, total: 0, startedAt: Date.now() };
    try {
      const files = entries.length
        ? await walkDroppedEntries(entries)
        : loose.map((file) => ({ file, relativePath: file.name }));
      if (files.length === 0) {
        this.phase = 'choose';
        this.upload = null;
        toasts.info('The drop held no files to import.');
        return;
      }
      const batchId = newUploadBatchId();
      this.uploadBatch = batchId;
      const failures: SkippedFile[] = [];
      let next = 0;
      let done = 0;
      this.upload = { done: 0, total: files.length, startedAt: Date.now() };
      const worker = async () => {
        while (next < files.length && this.phase === 'uploading') {
          const item = files[next++]!;
          try {
            await api.upload(batchId, item.relativePath, item.file);
          } catch (err) {
            failures.push({ path: item.relativePath, reason: errorMessage(err) });
          }
          done++;
          this.upload = { done, total: files.length, startedAt: this.upload?.startedAt ?? Date.now() };
        }
      };
      await Promise.all(Array.from({ length: UPLOAD_CONCURRENCY }, worker));
      this.uploadFailures = failures;
      if (this.phase !== 'uploading') return; // cancelled
      this.upload = null;
      if (failures.length === files.length) {
        this.phase = 'choose';
        toasts.error(`None of the ${plural(files.length, 'dropped file')} could be sent to the Seedbed server. ${failures[0]?.reason ?? ''}`);
        return;
      }
      await this.#run(() => api.call('import.uploaded', { batchId, split: 'auto' }));
    } catch (err) {
      this.upload = null;
      this.phase = 'choose';
      toasts.error(err);
    }
  }

  cancelUpload(): void {
    if (this.phase !== 'uploading') return;
    this.phase = 'choose';
    this.upload = null;
    toasts.info('Upload cancelled; nothing was imported.');
  }

  async cancel(): Promise<void> {
    if (this.phase === 'uploading') this.cancelUpload();
    else if (this.jobId) await jobs.cancel(this.jobId);
  }

  #refuseWhileBusy(): boolean {
    if (!this.busy) return false;
    toasts.info('An import is already running; drop more files when it has finished.');
    this.dialogOpen = true;
    return true;
  }

  async #run(startJob: () => Promise<{ jobId: string }>): Promise<void> {
    this.starting = true;
    try {
      const { jobId } = await startJob();
      this.jobId = jobId;
      this.phase = 'running';
      // The job may already be over (a tiny import) before its events reach us.
      const known = jobs.get(jobId);
      if (known && known.status !== 'running') await this.jobFinished(known);
    } catch (err) {
      this.phase = 'choose';
      toasts.error(err);
    } finally {
      this.starting = false;
    }
  }

  /** Called for every finished job; only the import this window started shows its report. */
  async jobFinished(job: JobInfo): Promise<void> {
    if (job.kind !== 'import' || job.id !== this.jobId || this.phase !== 'running') return;
    try {
      this.report = await api.call('import.report', { jobId: job.id });
    } catch (err) {
      toasts.error(err);
      this.phase = 'choose';
      return;
    }
    this.phase = 'report';
    if (!this.dialogOpen) {
      const r = this.report;
      const skipped = r.skipped.length + this.uploadFailures.length;
      const words =
        r.status === 'cancelled'
          ? `Import cancelled after ${plural(r.imported, 'image')}.`
          : `Import finished: ${plural(r.imported, 'new image')}${skipped ? `, ${plural(skipped, 'file')} skipped` : ''}.`;
      toasts.show(skipped || r.status !== 'done' ? 'info' : 'success', words, {
        action: { label: 'View report', run: () => (this.dialogOpen = true) },
        timeout: skipped ? 0 : 8000,
      });
    }
  }
}

export const importFlow = new ImportFlow();
