/**
 * Import as a job: find the files (folders, loose files or a CSV), decode each in the
 * decode workers, and write the results on the main thread in batched transactions as they
 * arrive. Bad files never stop the batch; each becomes a skipped entry with a reason. The
 * same content under two paths is one image; a path seen before with the same size and
 * modification time is not decoded again. Import never overwrites a label or split.
 */
import nodePath from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Statement } from 'better-sqlite3';
import type { ImportReport, ImportSplit, JobInfo, JobStatus, LabelConflict, SkippedFile } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { CoreError } from '../errors.ts';
import type { RunningJob } from '../jobs/manager.ts';
import { WorkerTaskError } from '../jobs/pool.ts';
import type { DecodedImage } from '../media/decode-protocol.ts';
import { decodePool } from '../media/decode-pool.ts';
import { DEFAULT_LIMITS, EMPTY_FILE, fileTooLargeReason, type ImageLimits } from '../media/image-safety.ts';
import { readImportCsv } from './import-csv.ts';
import { findImportFiles, type ImportCandidate } from './import-scan.ts';
import { applyLabels, ensureClass } from './labels-store.ts';

export interface ImportRequest {
  /** Folders and files to import (absolute, or relative to the working folder). */
  paths?: readonly string[];
  /** A labels CSV to import instead of paths. */
  csvPath?: string;
  split: ImportSplit;
  /** Safety limits; tests lower them. */
  limits?: Partial<ImageLimits>;
}

/** What jobs.result stores for an import (the skipped files go to import_skips). */
export interface ImportCounts {
  scanned: number;
  imported: number;
  duplicates: number;
  unchanged: number;
  skipped: number;
  classes: Record<string, number>;
  conflicts: LabelConflict[];
  /** Exact number of conflicts (the list is capped). */
  conflictCount?: number;
  elapsedSeconds: number;
}

/** At most this many label conflicts are kept in a report (the count stays exact). */
const MAX_CONFLICTS = 1000;

/** Results are written in one transaction per this many files … */
const BATCH_SIZE = 100;
/** … or after this long, whichever comes first. */
const BATCH_MS = 250;
/** The gallery refreshes at most this often while an import runs. */
const DATASET_CHANGED_MS = 1000;
/** Files per worker kept in flight: enough to keep workers busy, few enough to cancel at once. */
const IN_FLIGHT_PER_WORKER = 2;

type Outcome =
  | { kind: 'decoded'; file: ImportCandidate; image: DecodedImage }
  | { kind: 'unchanged'; file: ImportCandidate; imageId: number }
  | { kind: 'skipped'; path: string; reason: string };

function importTitle(request: ImportRequest): string {
  if (request.csvPath) return `Import ${nodePath.basename(request.csvPath)}`;
  const paths = request.paths ?? [];
  if (paths.length === 1) return `Import ${nodePath.basename(nodePath.resolve(paths[0]!)) || paths[0]}`;
  return `Import ${paths.length.toLocaleString('en')} items`;
}

class ImportRun {
  readonly #ctx: CoreContext;
  readonly #request: ImportRequest;
  readonly #limits: ImageLimits;
  readonly #started = Date.now();
  readonly counts: ImportCounts = { scanned: 0, imported: 0, duplicates: 0, unchanged: 0, skipped: 0, classes: {}, conflicts: [], elapsedSeconds: 0 };
  readonly skippedFiles: SkippedFile[] = [];
  #job: RunningJob | null = null;
  /** Outcomes ready to write, in the order the files were found. */
  #pending: Outcome[] = [];
  /**
   * Outcomes that arrived ahead of an earlier file still decoding. Writing in the order files
   * were found makes "the first path" and the label a duplicate keeps independent of timing.
   */
  #early = new Map<number, Outcome>();
  #nextIndex = 0;
  #flushTimer: NodeJS.Timeout | null = null;
  /** No more writes: cancelled (after the last flush) or the project closed. */
  #closed = false;
  #done = 0;
  #total = 0;
  #changedAt = 0;
  #changedSinceEvent = false;
  #fatal: string | null = null;
  #sql: ReturnType<typeof prepare> | null = null;

  constructor(ctx: CoreContext, request: ImportRequest) {
    this.#ctx = ctx;
    this.#request = request;
    this.#limits = { ...DEFAULT_LIMITS, ...request.limits };
  }

  async run(job: RunningJob): Promise<ImportCounts> {
    this.#job = job;
    this.#sql = prepare(job.store.db);
    job.snapshot(() => this.countsNow());
    // On cancel, keep what is finished: the last results are written before the job is recorded as cancelled.
    const onAbort = () => {
      this.#flush();
      this.#closed = true;
    };
    job.signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.#run(job);
    } finally {
      job.signal.removeEventListener('abort', onAbort);
      if (this.#flushTimer) clearTimeout(this.#flushTimer);
    }
  }

  async #run(job: RunningJob): Promise<ImportCounts> {
    const { signal } = job;
    const request = this.#request;
    const found = request.csvPath
      ? await readImportCsv(request.csvPath, request.split, signal)
      : await findImportFiles(
          (request.paths ?? []).map((p) => nodePath.resolve(p)),
          request.split,
          signal,
          (count) => job.progress(0, count),
        );
    this.counts.scanned = found.scanned;
    this.#total = found.files.length + found.skipped.length;
    job.progress(0, this.#total);
    let index = 0;
    for (const s of found.skipped) this.#add(index++, { kind: 'skipped', ...s });

    const pool = decodePool(this.#ctx);
    const window = pool.size * IN_FLIGHT_PER_WORKER;
    const known = this.#sql!.knownPath;
    const rowPrefix = (file: ImportCandidate) => (file.row === undefined ? '' : `row ${file.row}: `);
    let inFlight = 0;
    let wake: (() => void) | null = null;
    const waitForSlot = () => new Promise<void>((resolve) => (wake = resolve));
    let handledHere = 0;

    for (const file of found.files) {
      const at = index++;
      if (signal.aborted || this.#fatal) break;
      // Files settled without a worker (a re-import is all of them) add up: let the event loop breathe.
      if (++handledHere % 200 === 0) await yieldToEventLoop();
      if (file.size === 0) {
        this.#add(at, { kind: 'skipped', path: file.path, reason: rowPrefix(file) + EMPTY_FILE });
        continue;
      }
      if (file.size > this.#limits.maxBytes) {
        this.#add(at, { kind: 'skipped', path: file.path, reason: rowPrefix(file) + fileTooLargeReason(file.size, this.#limits.maxBytes) });
        continue;
      }
      const seen = known.get(file.path) as { imageId: number; size: number; mtimeMs: number } | undefined;
      if (seen && seen.size === file.size && seen.mtimeMs === file.mtimeMs) {
        this.#add(at, { kind: 'unchanged', file, imageId: seen.imageId });
        continue;
      }
      while (inFlight >= window) await waitForSlot();
      if (signal.aborted || this.#fatal) break;
      inFlight++;
      pool
        .decode({ type: 'import', path: file.path, dataDir: job.store.dataDir, limits: this.#limits }, { signal })
        .then(
          (answer) => {
            if (answer.type === 'decoded') this.#add(at, { kind: 'decoded', file, image: answer });
            else if (answer.type === 'refused') this.#add(at, { kind: 'skipped', path: file.path, reason: rowPrefix(file) + answer.reason });
            else this.#fatal ??= answer.message;
          },
          (err: unknown) => {
            if (signal.aborted) return;
            if (err instanceof WorkerTaskError) {
              // A bug met on this file: report the file, keep the stack for the log.
              console.error(`Decoding ${file.path} failed:`, err.workerStack);
              this.#add(at, { kind: 'skipped', path: file.path, reason: `${rowPrefix(file)}Seedbed could not decode this file (${err.message})` });
            } else {
              this.#fatal ??= `Seedbed's image decoder stopped: ${(err as Error).message}`;
            }
          },
        )
        .finally(() => {
          inFlight--;
          const w = wake;
          wake = null;
          w?.();
        });
    }
    while (inFlight > 0) await waitForSlot();
    signal.throwIfAborted();
    this.#flush();
    if (this.#fatal) throw new CoreError('io_error', this.#fatal);
    if (this.#changedAt > 0 || this.#changedSinceEvent) this.#ctx.events.emit('dataset.changed', { reason: 'import' });
    return this.countsNow();
  }

  countsNow(): ImportCounts {
    return { ...this.counts, classes: { ...this.counts.classes }, conflicts: [...this.counts.conflicts], elapsedSeconds: (Date.now() - this.#started) / 1000 };
  }

  /** The report as the job ended (for `runImport`, without a database read). */
  report(job: JobInfo): ImportReport {
    const counts = this.countsNow();
    return {
      jobId: job.id,
      status: job.status,
      scanned: counts.scanned,
      imported: counts.imported,
      duplicates: counts.duplicates,
      unchanged: counts.unchanged,
      skipped: [...this.skippedFiles],
      classes: counts.classes,
      conflicts: counts.conflicts,
      elapsedSeconds: job.finishedAt ? (job.finishedAt - job.startedAt) / 1000 : counts.elapsedSeconds,
    };
  }

  #add(index: number, outcome: Outcome): void {
    if (this.#closed) return;
    if (index !== this.#nextIndex) {
      this.#early.set(index, outcome);
      return;
    }
    this.#pending.push(outcome);
    this.#nextIndex++;
    for (let next = this.#early.get(this.#nextIndex); next; next = this.#early.get(this.#nextIndex)) {
      this.#early.delete(this.#nextIndex);
      this.#pending.push(next);
      this.#nextIndex++;
    }
    if (this.#pending.length >= BATCH_SIZE) this.#flush();
    else if (!this.#flushTimer) {
      this.#flushTimer = setTimeout(() => {
        this.#flushTimer = null;
        this.#flush();
      }, BATCH_MS);
    }
  }

  /** Writes the results received so far in one transaction: each image is in whole or not at all. */
  #flush(): void {
    if (this.#flushTimer) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = null;
    }
    const job = this.#job!;
    if (this.#closed || !this.#pending.length) return;
    if (!job.store.db.open) {
      this.#closed = true;
      return;
    }
    const batch = this.#pending;
    this.#pending = [];
    let changed: boolean;
    try {
      changed = job.store.db.transaction(() => this.#write(batch))();
    } catch (err) {
      // Nothing of this batch was written; the import stops and says why.
      console.error(err);
      this.#fatal ??= `Seedbed could not save the imported images in ${job.store.path}: ${(err as Error).message}.`;
      return;
    }
    this.#done += batch.length;
    job.progress(this.#done, this.#total);
    if (!changed) return;
    const now = Date.now();
    if (now - this.#changedAt >= DATASET_CHANGED_MS) {
      this.#changedAt = now;
      this.#changedSinceEvent = false;
      this.#ctx.events.emit('dataset.changed', { reason: 'import' });
    } else {
      this.#changedSinceEvent = true;
    }
  }

  /** Runs inside the transaction. Returns true when images, labels or splits changed. */
  #write(batch: readonly Outcome[]): boolean {
    const sql = this.#sql!;
    const jobId = this.#job!.id;
    const now = Date.now();
    let changed = false;
    // Counts move only when the transaction commits: work on a copy.
    const counts = { ...this.counts, classes: { ...this.counts.classes }, conflicts: [...this.counts.conflicts] };
    const skipped: SkippedFile[] = [];
    const classIds = new Map<string, { id: number; name: string }>();
    // Labels are applied per class after the loop (one applyLabels call each, not one per image).
    const toLabel = new Map<number, number[]>();
    // Images labelled in this batch, by class name (their labels are written after the loop).
    const labelled = new Map<number, string>();

    const fillIn = (imageId: number, file: ImportCandidate): void => {
      if (file.className) {
        // Every file found in a class folder counts, duplicates and unchanged ones included:
        // the report describes the folder as the user organised it.
        counts.classes[file.className] = (counts.classes[file.className] ?? 0) + 1;
        const kept = labelled.get(imageId) ?? (sql.labelName.get(imageId) as string | undefined);
        if (kept === undefined) {
          let cls = classIds.get(file.className);
          if (!cls) {
            const id = ensureClass(sql.db, file.className, now);
            cls = { id, name: sql.className.get(id) as string };
            classIds.set(file.className, cls);
          }
          labelled.set(imageId, cls.name);
          const ids = toLabel.get(cls.id) ?? [];
          ids.push(imageId);
          toLabel.set(cls.id, ids);
          changed = true;
        } else if (kept.toLowerCase() !== file.className.toLowerCase()) {
          // The same content sits in two class folders: one image keeps one label, and the
          // user is told which file disagreed, never silently relabelled.
          counts.conflictCount = (counts.conflictCount ?? 0) + 1;
          if (counts.conflicts.length < MAX_CONFLICTS) {
            counts.conflicts.push({ path: file.path, folderClass: file.className, keptClass: kept });
          }
        }
      }
      if (file.split && !sql.hasSplit.get(imageId)) {
        sql.insertSplit.run({ imageId, split: file.split, at: now });
        changed = true;
      }
    };
    const recordPath = (file: ImportCandidate, imageId: number) =>
      sql.upsertPath.run({ path: file.path, imageId, size: file.size, mtimeMs: file.mtimeMs, at: now });

    for (const outcome of batch) {
      switch (outcome.kind) {
        case 'skipped':
          sql.insertSkip.run({ jobId, path: outcome.path, reason: outcome.reason });
          skipped.push({ path: outcome.path, reason: outcome.reason });
          counts.skipped++;
          break;
        case 'unchanged':
          counts.unchanged++;
          fillIn(outcome.imageId, outcome.file);
          break;
        case 'decoded': {
          const { file, image } = outcome;
          const existing = sql.imageBySha.get(image.sha256) as number | undefined;
          if (existing !== undefined) {
            const seen = sql.knownPath.get(file.path) as { imageId: number } | undefined;
            if (seen?.imageId === existing) counts.unchanged++;
            else {
              counts.duplicates++;
              changed = true;
            }
            recordPath(file, existing);
            fillIn(existing, file);
          } else {
            const imageId = Number(
              sql.insertImage.run({
                path: file.path,
                sha256: image.sha256,
                width: image.width,
                height: image.height,
                format: image.format,
                bytes: image.bytes,
                orientation: image.orientation,
                thumb: image.thumb,
                at: now,
              }).lastInsertRowid,
            );
            // A known path with new content now points at the new image.
            recordPath(file, imageId);
            fillIn(imageId, file);
            counts.imported++;
            changed = true;
          }
          break;
        }
      }
    }
    for (const [classId, imageIds] of toLabel) applyLabels(sql.db, imageIds, classId, 'imported', now);
    sql.saveCounts.run({ jobId, result: JSON.stringify({ ...counts, elapsedSeconds: (now - this.#started) / 1000 }) });
    Object.assign(this.counts, counts);
    this.skippedFiles.push(...skipped);
    return changed;
  }
}

function prepare(db: RunningJob['store']['db']) {
  const statement = (sql: string): Statement => db.prepare(sql);
  return {
    db,
    knownPath: statement('SELECT image_id AS imageId, size, mtime_ms AS mtimeMs FROM image_paths WHERE path = ?'),
    imageBySha: statement('SELECT id FROM images WHERE sha256 = ?').pluck(),
    labelName: statement('SELECT c.name FROM labels l JOIN classes c ON c.id = l.class_id WHERE l.image_id = ?').pluck(),
    hasSplit: statement('SELECT 1 FROM splits WHERE image_id = ?').pluck(),
    className: statement('SELECT name FROM classes WHERE id = ?').pluck(),
    insertImage: statement(
      `INSERT INTO images (path, sha256, width, height, format, bytes, orientation, thumb, added_at)
       VALUES (@path, @sha256, @width, @height, @format, @bytes, @orientation, @thumb, @at)`,
    ),
    upsertPath: statement(
      `INSERT INTO image_paths (path, image_id, size, mtime_ms, added_at) VALUES (@path, @imageId, @size, @mtimeMs, @at)
       ON CONFLICT(path) DO UPDATE SET image_id = excluded.image_id, size = excluded.size, mtime_ms = excluded.mtime_ms`,
    ),
    insertSplit: statement(
      `INSERT INTO splits (image_id, split, source, updated_at) VALUES (@imageId, @split, 'imported', @at)
       ON CONFLICT(image_id) DO NOTHING`,
    ),
    insertSkip: statement('INSERT INTO import_skips (job_id, path, reason) VALUES (@jobId, @path, @reason)'),
    saveCounts: statement('UPDATE jobs SET result = @result WHERE id = @jobId'),
  };
}

/** Starts an import job and returns at once; progress and the end come as job events. */
export function startImport(ctx: CoreContext, request: ImportRequest): JobInfo {
  const run = new ImportRun(ctx, request);
  return ctx.jobs.start({ kind: 'import', title: importTitle(request), params: request }, (job) => run.run(job));
}

/**
 * Imports and waits for the end (the CLI, tests): still a job with progress events. Returns
 * the report, also when cancelled; throws when the import could not run.
 */
export async function runImport(ctx: CoreContext, request: ImportRequest): Promise<ImportReport> {
  const run = new ImportRun(ctx, request);
  const started = ctx.jobs.start({ kind: 'import', title: importTitle(request), params: request }, (job) => run.run(job));
  const ended = await ctx.jobs.wait(started.id);
  if (ended.status === 'failed') throw new CoreError('io_error', ended.error ?? 'The import failed.');
  return run.report(ended);
}

interface ImportJobRow {
  status: JobStatus;
  result: string | null;
  started_at: number;
  finished_at: number | null;
}

/** The report of an import of this project (while it runs: what it has done so far). */
export function importReport(db: RunningJob['store']['db'], jobId: string): ImportReport {
  const row = db.prepare("SELECT status, result, started_at, finished_at FROM jobs WHERE id = ? AND kind = 'import'").get(jobId) as
    | ImportJobRow
    | undefined;
  if (!row) throw new CoreError('not_found', `There is no import ${jobId} in this project.`);
  const counts: Partial<ImportCounts> = row.result ? (JSON.parse(row.result) as Partial<ImportCounts>) : {};
  const skipped = db.prepare('SELECT path, reason FROM import_skips WHERE job_id = ? ORDER BY id').all(jobId) as SkippedFile[];
  return {
    jobId,
    status: row.status,
    scanned: counts.scanned ?? 0,
    imported: counts.imported ?? 0,
    duplicates: counts.duplicates ?? 0,
    unchanged: counts.unchanged ?? 0,
    skipped,
    classes: counts.classes ?? {},
    conflicts: counts.conflicts ?? [],
    elapsedSeconds: row.finished_at ? (row.finished_at - row.started_at) / 1000 : (Date.now() - row.started_at) / 1000,
  };
}
