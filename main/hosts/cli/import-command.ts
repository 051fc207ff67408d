import fs from 'node:fs';
import nodePath from 'node:path';
import type { ImportReport, ImportSplit, JobInfo } from '../../../shared/contract/index.ts';
import type { Core } from '../../core/core.ts';
import { UsageError, type ParsedArgs } from './args.ts';
import { importCommand } from './commands.ts';
import { duration, ProgressLine } from './progress.ts';
import { call, CliFailure, count, createCore, openProject, plural, writeFully } from './session.ts';

/** Exit status after Ctrl+C, as shells report a SIGINT. */
export const EXIT_INTERRUPTED = 130;

/**
 * What `seedbed import --json` prints: the import report's counts, summed over the imports
 * one command ran (folders, then a CSV). `classes` are files per class folder.
 */
export type ImportSummary = Pick<ImportReport, 'imported' | 'duplicates' | 'unchanged' | 'skipped' | 'classes' | 'conflicts'>;

type ImportRequest = { method: 'import.start'; paths: string[] } | { method: 'import.csv'; csvPath: string };

export async function runImport(args: ParsedArgs): Promise<number> {
  const requests = importRequests(args);
  const split = (args.values.split ?? 'auto') as ImportSplit;
  const json = args.flags.has('json');
  const progress = new ProgressLine(process.stderr);

  // Ctrl+C cancels the running job; the import stops at a clean point and keeps what it did.
  let interrupted = false;
  let currentJob: string | null = null;
  let core: Core | null = null;
  const onInterrupt = () => {
    if (interrupted) process.exit(EXIT_INTERRUPTED); // a second Ctrl+C does not wait
    interrupted = true;
    progress.note('Cancelling the import… (press Ctrl+C again to quit at once)');
    if (core && currentJob) void core.dispatch('jobs.cancel', { jobId: currentJob });
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);

  try {
    core = await createCore('cli');
    const project = await openProject(core, args.values.project!, true);
    const jobs = new JobWatcher(core, (job) => {
      if (job.id === currentJob && !interrupted) progress.update(job);
    });
    const reports: ImportReport[] = [];
    try {
      for (const request of requests) {
        if (interrupted) break;
        const { jobId } =
          request.method === 'import.start'
            ? await call(core, 'import.start', { paths: request.paths, split })
            : await call(core, 'import.csv', { csvPath: request.csvPath, split });
        currentJob = jobId;
        if (interrupted) void core.dispatch('jobs.cancel', { jobId });
        const finished = await jobs.waitDone(jobId);
        progress.clear();
        reports.push(await call(core, 'import.report', { jobId }));
        if (finished.status === 'failed') {
          throw new CliFailure(finished.error ?? 'The import failed; the log has the details.');
        }
        if (finished.status === 'cancelled') break;
      }
    } finally {
      jobs.stop();
      progress.clear();
    }

    const summary: ImportSummary = {
      imported: sum(reports, (r) => r.imported),
      duplicates: sum(reports, (r) => r.duplicates),
      unchanged: sum(reports, (r) => r.unchanged),
      skipped: reports.flatMap((r) => r.skipped),
      classes: mergeCounts(reports.map((r) => r.classes)),
      conflicts: reports.flatMap((r) => r.conflicts),
    };
    const elapsed = sum(reports, (r) => r.elapsedSeconds);
    await writeFully(process.stdout, json ? `${JSON.stringify(summary)}\n` : describe(summary, project.path, elapsed));
    if (interrupted) {
      await writeFully(process.stderr, `The import was cancelled; the ${plural(summary.imported, 'image')} imported before that are kept.\n`);
      return EXIT_INTERRUPTED;
    }
    return 0;
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
    await core?.close();
  }
}

function importRequests(args: ParsedArgs): ImportRequest[] {
  const requests: ImportRequest[] = [];
  const paths = args.positionals.map((p) => nodePath.resolve(p));
  for (const path of paths) {
    if (!fs.existsSync(path)) throw new UsageError(`There is no folder or file at ${path}.`, importCommand.name);
  }
  if (paths.length) requests.push({ method: 'import.start', paths });
  const csv = args.values.csv;
  if (csv !== undefined) {
    const csvPath = nodePath.resolve(csv);
    if (!fs.existsSync(csvPath)) throw new UsageError(`There is no CSV file at ${csvPath}.`, importCommand.name);
    requests.push({ method: 'import.csv', csvPath });
  }
  if (requests.length === 0) {
    throw new UsageError('`seedbed import` needs a FOLDER of images, or --csv FILE.', importCommand.name);
  }
  return requests;
}

/** Collects `job.done` events from the moment it exists, so no ending is missed. */
export class JobWatcher {
  readonly #done = new Map<string, JobInfo>();
  readonly #waiting = new Map<string, (job: JobInfo) => void>();
  readonly #off: () => void;

  constructor(core: Core, onProgress: (job: JobInfo) => void) {
    this.#off = core.events.on((message) => {
      if (message.event === 'job.progress') onProgress(message.data as JobInfo);
      if (message.event !== 'job.done') return;
      const job = message.data as JobInfo;
      const resolve = this.#waiting.get(job.id);
      if (resolve) {
        this.#waiting.delete(job.id);
        resolve(job);
      } else {
        this.#done.set(job.id, job);
      }
    });
  }

  waitDone(jobId: string): Promise<JobInfo> {
    const done = this.#done.get(jobId);
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => this.#waiting.set(jobId, resolve));
  }

  stop(): void {
    this.#off();
  }
}

function sum<T>(items: T[], pick: (item: T) => number): number {
  return items.reduce((total, item) => total + pick(item), 0);
}

function describe(summary: ImportSummary, projectPath: string, elapsedSeconds: number): string {
  const lines: string[] = [];
  const speed = elapsedSeconds > 0 && summary.imported > 0 ? ` in ${duration(elapsedSeconds)} (${Math.round(summary.imported / elapsedSeconds)} images/s)` : '';
  lines.push(`Imported ${plural(summary.imported, 'new image')} into ${projectPath}${speed}.`);
  if (summary.duplicates > 0) {
    lines.push(`${plural(summary.duplicates, 'file is a copy', 'files are copies')} of an image found under another path; each image is kept once.`);
  }
  if (summary.unchanged > 0) {
    lines.push(
      summary.unchanged === 1
        ? '1 file was imported before and has not changed.'
        : `${count(summary.unchanged)} files were imported before and have not changed.`,
    );
  }
  if (summary.conflicts.length > 0) {
    lines.push('', `${plural(summary.conflicts.length, 'file is', 'files are')} the same image as one already labelled with another class (the first label was kept):`);
    for (const c of summary.conflicts) lines.push(`  ${c.path}`, `      its folder says ${c.folderClass}; the image is labelled ${c.keptClass}`);
  }
  if (summary.skipped.length > 0) {
    lines.push('', `Skipped ${plural(summary.skipped.length, 'file')} that could not be imported:`);
    for (const s of summary.skipped) lines.push(`  ${s.path}`, `      ${s.reason}`);
  }
  const classes = Object.entries(summary.classes);
  if (classes.length > 0) {
    lines.push('', 'Files per class folder:');
    const width = Math.max(...classes.map(([name]) => name.length));
    for (const [name, n] of classes) lines.push(`  ${name.padEnd(width)}  ${count(n).padStart(7)}`);
  } else {
    lines.push('No image is labelled yet: put images in folders named after their class, or label them in the studio.');
  }
  return `${lines.join('\n')}\n`;
}

function mergeCounts(all: readonly Record<string, number>[]): Record<string, number> {
  const merged: Record<string, number> = {};
  for (const counts of all) for (const [name, n] of Object.entries(counts)) merged[name] = (merged[name] ?? 0) + n;
  return merged;
}
