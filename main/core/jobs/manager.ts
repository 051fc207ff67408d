/**
 * Long work as jobs: each is a row in the project's `jobs` table (running → done, failed or
 * cancelled), reports progress (done/total; the manager adds rate and ETA and throttles the
 * `job.progress` events), and can be cancelled through its AbortSignal. The manager also
 * owns the worker pools the jobs share, so shutting it down stops every thread.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Database } from 'better-sqlite3';
import type { JobInfo, JobKind, JobStatus } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { CoreError } from '../errors.ts';
import type { Store } from '../store/open.ts';

/** The error a job left running by a crash or a forced quit is marked with. */
export const INTERRUPTED_JOB_ERROR = 'Seedbed closed before this job finished.';

/** `job.progress` events per second, at most. */
const PROGRESS_EVENTS_PER_SECOND = 5;
/** ETA follows the rate over this recent window, so a slow start does not skew it. */
const RATE_WINDOW_MS = 5_000;
/** Finished jobs `list()` shows. */
const LISTED_JOBS = 20;
/** How long `shutdown` waits for cancelled job bodies to return before stopping the workers under them. */
const SHUTDOWN_WAIT_MS = 5_000;

/** Ids of the jobs some JobManager of this process is running (a process may hold several cores). */
const jobsRunningHere = new Set<string>();

interface RunningJobRow {
  id: string;
  owner_pid: number | null;
  owner_host: string | null;
}

/**
 * Whether the process that started a job is gone, so the job can never finish. Two processes
 * may have one project open at once (`seedbed serve` importing while `seedbed info` reads the
 * same file): a job of a live process is left alone.
 */
function ownerIsGone(job: RunningJobRow, thisHost: string): boolean {
  // Recorded before jobs had owners (schema 2 and older): nothing can vouch for it.
  if (job.owner_pid === null) return true;
  // A project on a network drive may be open on another machine, whose processes cannot be
  // seen from here: only that machine can tell its jobs were interrupted.
  if (job.owner_host !== thisHost) return false;
  // Left by an earlier project store of this very process (its end was never recorded).
  if (job.owner_pid === process.pid) return !jobsRunningHere.has(job.id);
  if (!Number.isInteger(job.owner_pid) || job.owner_pid <= 0) return true;
  try {
    process.kill(job.owner_pid, 0);
    return false;
  } catch (err) {
    // EPERM: the process exists but belongs to another user. Only ESRCH says it is gone.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Marks as failed the jobs left 'running' by a Seedbed that crashed or was forced to quit.
 * Called when a project is opened. A job whose owner still runs (another process on this
 * machine, or this process), or that was started on another machine, is left alone. (A
 * crashed owner's process id taken by an unrelated process meanwhile keeps its job 'running'
 * until that process ends too; the jobs list shows only this process's running jobs, so such a
 * row stays out of sight meanwhile.)
 */
export function recoverInterruptedJobs(db: Database, at = Date.now()): number {
  const running = db.prepare("SELECT id, owner_pid, owner_host FROM jobs WHERE status = 'running'").all() as RunningJobRow[];
  const thisHost = os.hostname();
  const interrupted = running.filter((job) => ownerIsGone(job, thisHost));
  if (!interrupted.length) return 0;
  const markFailed = db.prepare(
    `UPDATE jobs SET status = 'failed', error = @error, finished_at = @at WHERE id = @id AND status = 'running'`,
  );
  return db.transaction(() => {
    let changes = 0;
    for (const job of interrupted) changes += markFailed.run({ id: job.id, error: INTERRUPTED_JOB_ERROR, at }).changes;
    return changes;
  })();
}

export interface JobSpec {
  kind: JobKind;
  /** Shown in the jobs list ("Import trashnet"). */
  title: string;
  /** Stored as JSON with the job (what it was asked to do). */
  params: unknown;
}

/** What a job's body gets: its id, its project, a cancel signal and a progress reporter. */
export interface RunningJob {
  readonly id: string;
  /** The project the job was started in; it may close while the job runs (then `signal` aborts first). */
  readonly store: Store;
  readonly signal: AbortSignal;
  /** Reports items done (and the total, when known or changed). Cheap: call it per item. */
  progress(done: number, total?: number): void;
  /**
   * The result to record if the job ends without returning one (cancelled or failed): an
   * import's counts so far. Called synchronously at that moment.
   */
  snapshot(provide: () => unknown): void;
}

interface LiveJob {
  info: JobInfo;
  store: Store;
  controller: AbortController;
  snapshot: (() => unknown) | null;
  samples: { at: number; done: number }[];
  lastEmit: number;
  emitTimer: NodeJS.Timeout | null;
  finished: Promise<JobInfo>;
  finish: (info: JobInfo) => void;
  settled: Promise<void>;
}

interface JobRow {
  id: string;
  kind: JobKind;
  title: string;
  status: JobStatus;
  done: number;
  total: number;
  error: string | null;
  started_at: number;
  finished_at: number | null;
}

/** Closable resources the jobs share (worker pools). */
export interface SharedResource {
  close(): Promise<void>;
}

export class JobManager {
  readonly #ctx: CoreContext;
  readonly #live = new Map<string, LiveJob>();
  readonly #resources = new Map<string, SharedResource>();

  constructor(ctx: CoreContext) {
    this.#ctx = ctx;
  }

  /**
   * Starts a job in the open project and returns at once; `run` does the work. Its return
   * value is stored as the job's result (JSON); a throw marks the job failed with the
   * error's message (a CoreError's message as is, anything else as an internal error).
   */
  start<R>(spec: JobSpec, run: (job: RunningJob) => Promise<R>): JobInfo {
    const store = this.#ctx.requireStore();
    const now = Date.now();
    const info: JobInfo = {
      id: randomUUID(),
      kind: spec.kind,
      status: 'running',
      title: spec.title,
      done: 0,
      total: 0,
      rate: 0,
      etaSeconds: null,
      startedAt: now,
      finishedAt: null,
      error: null,
    };
    try {
      store.db
        .prepare(
          `INSERT INTO jobs (id, kind, title, status, params, done, total, started_at, owner_pid, owner_host)
           VALUES (@id, @kind, @title, 'running', @params, 0, 0, @startedAt, @ownerPid, @ownerHost)`,
        )
        .run({
          id: info.id,
          kind: info.kind,
          title: info.title,
          params: JSON.stringify(spec.params ?? null),
          startedAt: now,
          // Recovery in another process that opens this project tells this job from a crashed one by its owner.
          ownerPid: process.pid,
          ownerHost: os.hostname(),
        });
    } catch (err) {
      // A read-only or full disk: nothing can be recorded, so nothing starts.
      throw new CoreError('io_error', `Seedbed cannot write to the project ${store.path}: ${(err as Error).message}.`);
    }

    let finish!: (info: JobInfo) => void;
    const finished = new Promise<JobInfo>((resolve) => (finish = resolve));
    const live: LiveJob = {
      info,
      store,
      controller: new AbortController(),
      snapshot: null,
      samples: [{ at: now, done: 0 }],
      lastEmit: 0,
      emitTimer: null,
      finished,
      finish,
      settled: Promise.resolve(),
    };
    this.#live.set(info.id, live);
    jobsRunningHere.add(info.id);

    const job: RunningJob = {
      id: info.id,
      store,
      signal: live.controller.signal,
      progress: (done, total) => this.#progress(live, done, total),
      snapshot: (provide) => {
        live.snapshot = provide;
      },
    };
    // The body starts on the next tick, so the caller has the job id before any event.
    live.settled = Promise.resolve()
      .then(() => run(job))
      .then(
        (result) => this.#finalize(live, 'done', result, null),
        (err: unknown) => {
          if (live.controller.signal.aborted) return; // cancel() already recorded it
          const message = err instanceof CoreError ? err.message : internalMessage(err);
          this.#finalize(live, 'failed', this.#takeSnapshot(live), message);
        },
      );
    this.#ctx.events.emit('job.progress', { ...info });
    return { ...info };
  }

  /** Resolves with the job's final state when it ends (at once for a finished job). */
  wait(jobId: string): Promise<JobInfo> {
    const live = this.#live.get(jobId);
    if (live) return live.finished;
    const info = this.get(jobId);
    if (!info) return Promise.reject(new CoreError('not_found', `There is no job ${jobId}.`));
    return Promise.resolve(info);
  }

  /** A job of the open project (or a running one), or null. */
  get(jobId: string): JobInfo | null {
    const live = this.#live.get(jobId);
    if (live) return { ...live.info };
    const store = this.#ctx.store();
    if (!store || !store.db.open) return null;
    const row = store.db.prepare('SELECT * FROM jobs WHERE id = ?').get(jobId) as JobRow | undefined;
    return row ? jobInfoFromRow(row) : null;
  }

  /** Running jobs of the open project first, then the latest finished ones. */
  list(): JobInfo[] {
    const store = this.#ctx.store();
    const running = [...this.#live.values()].filter((j) => !store || j.store === store).map((j) => ({ ...j.info }));
    if (!store || !store.db.open) return running;
    const rows = store.db
      .prepare(`SELECT * FROM jobs WHERE status != 'running' ORDER BY started_at DESC LIMIT ${LISTED_JOBS}`)
      .all() as JobRow[];
    return [...running, ...rows.map(jobInfoFromRow)];
  }

  /**
   * Cancels a running job: its signal aborts (the job's abort listeners run first, so it can
   * save what it finished), then it is recorded as cancelled, at once. Finished jobs are left alone.
   */
  cancel(jobId: string): void {
    const live = this.#live.get(jobId);
    if (live) {
      this.#cancel(live);
      return;
    }
    if (!this.get(jobId)) throw new CoreError('not_found', `There is no job ${jobId}.`);
  }

  /** Cancels every running job (before a project closes). */
  cancelAll(): void {
    for (const live of [...this.#live.values()]) this.#cancel(live);
  }

  /** Resources shared by jobs (worker pools), created on first use and closed by `shutdown`. */
  shared<T extends SharedResource>(key: string, create: () => T): T {
    let resource = this.#resources.get(key);
    if (!resource) {
      resource = create();
      this.#resources.set(key, resource);
    }
    return resource as T;
  }

  /**
   * Cancels every job, waits (a few seconds at most) for their bodies to return, and stops
   * the worker pools.
   */
  async shutdown(): Promise<void> {
    const bodies = [...this.#live.values()].map((j) => j.settled);
    this.cancelAll();
    let timer: NodeJS.Timeout | undefined;
    const patience = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, SHUTDOWN_WAIT_MS);
      timer.unref();
    });
    await Promise.race([Promise.all(bodies), patience]);
    clearTimeout(timer);
    const resources = [...this.#resources.values()];
    this.#resources.clear();
    await Promise.all(resources.map((r) => r.close()));
  }

  #cancel(live: LiveJob): void {
    if (live.info.status !== 'running') return;
    live.controller.abort(new CoreError('conflict', 'The job was cancelled.'));
    this.#finalize(live, 'cancelled', this.#takeSnapshot(live), null);
  }

  #takeSnapshot(live: LiveJob): unknown {
    try {
      return live.snapshot ? live.snapshot() : null;
    } catch (err) {
      console.error('job snapshot failed', err);
      return null;
    }
  }

  #progress(live: LiveJob, done: number, total?: number): void {
    if (live.info.status !== 'running') return;
    const now = Date.now();
    live.info.done = done;
    if (total !== undefined) live.info.total = total;
    const samples = live.samples;
    samples.push({ at: now, done });
    while (samples.length > 2 && now - samples[1]!.at > RATE_WINDOW_MS) samples.shift();
    const interval = 1000 / PROGRESS_EVENTS_PER_SECOND;
    if (now - live.lastEmit >= interval) {
      this.#emitProgress(live);
    } else if (!live.emitTimer) {
      live.emitTimer = setTimeout(() => {
        live.emitTimer = null;
        if (live.info.status === 'running') this.#emitProgress(live);
      }, interval - (now - live.lastEmit));
      live.emitTimer.unref();
    }
  }

  #emitProgress(live: LiveJob): void {
    const now = Date.now();
    live.lastEmit = now;
    this.#updateRates(live, now);
    writeJob(live.store, (db) =>
      db.prepare('UPDATE jobs SET done = @done, total = @total WHERE id = @id').run({
        id: live.info.id,
        done: live.info.done,
        total: live.info.total,
      }),
    );
    this.#ctx.events.emit('job.progress', { ...live.info });
  }

  #updateRates(live: LiveJob, now: number): void {
    const { info, samples } = live;
    const elapsed = (now - info.startedAt) / 1000;
    info.rate = elapsed > 0 ? info.done / elapsed : 0;
    const first = samples[0]!;
    const windowSeconds = (now - first.at) / 1000;
    const recentRate = windowSeconds > 0.5 ? (info.done - first.done) / windowSeconds : info.rate;
    const left = info.total - info.done;
    info.etaSeconds = info.total > 0 && recentRate > 0 ? Math.max(0, Math.round(left / recentRate)) : null;
  }

  #finalize(live: LiveJob, status: Exclude<JobStatus, 'running'>, result: unknown, error: string | null): void {
    if (live.info.status !== 'running') return;
    if (live.emitTimer) {
      clearTimeout(live.emitTimer);
      live.emitTimer = null;
    }
    const now = Date.now();
    this.#updateRates(live, now);
    Object.assign(live.info, { status, error, finishedAt: now, etaSeconds: null });
    writeJob(live.store, (db) =>
      db
        .prepare(
          `UPDATE jobs SET status = @status, done = @done, total = @total, result = @result, error = @error,
             finished_at = @finishedAt WHERE id = @id`,
        )
        .run({
          id: live.info.id,
          status,
          done: live.info.done,
          total: live.info.total,
          result: result === undefined || result === null ? null : JSON.stringify(result),
          error,
          finishedAt: now,
        }),
    );
    this.#live.delete(live.info.id);
    jobsRunningHere.delete(live.info.id);
    const final = { ...live.info };
    this.#ctx.events.emit('job.done', final);
    live.finish(final);
  }
}

/** Records job state; a project closed meanwhile, or a failing write, must not break the job's bookkeeping. */
function writeJob(store: Store, write: (db: Database) => unknown): void {
  if (!store.db.open) return;
  try {
    write(store.db);
  } catch (err) {
    console.error(`Could not record job state in ${store.path}:`, err);
  }
}

function jobInfoFromRow(row: JobRow): JobInfo {
  const seconds = row.finished_at ? (row.finished_at - row.started_at) / 1000 : 0;
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    title: row.title,
    done: row.done,
    total: row.total,
    rate: seconds > 0 ? row.done / seconds : 0,
    etaSeconds: null,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    error: row.error,
  };
}

function internalMessage(err: unknown): string {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  return 'Something went wrong inside Seedbed; the log has the details.';
}
