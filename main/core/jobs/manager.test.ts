import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreError } from '../errors.ts';
import { INTERRUPTED_JOB_ERROR, recoverInterruptedJobs, type RunningJob } from './manager.ts';
import { TestContext } from './test-context.ts';

interface JobRow {
  status: string;
  done: number;
  total: number;
  result: string | null;
  error: string | null;
  finished_at: number | null;
  params: string;
}

function jobRow(ctx: TestContext, id: string): JobRow {
  return ctx.requireStore().db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow;
}

test('a job is recorded running, reports throttled progress with rate and ETA, and ends done with its result', async () => {
  const ctx = new TestContext();
  try {
    ctx.openProject();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let reportingMs = 0;
    const info = ctx.jobs.start({ kind: 'import', title: 'Count to 1000', params: { to: 1000 } }, async (job) => {
      const started = Date.now();
      for (let i = 1; i <= 1000; i++) {
        job.progress(i, 1000);
        if (i % 100 === 0) await sleep(60);
      }
      reportingMs = Date.now() - started;
      await gate;
      return { counted: 1000 };
    });
    assert.equal(info.status, 'running');
    assert.equal(jobRow(ctx, info.id).status, 'running');
    assert.deepEqual(JSON.parse(jobRow(ctx, info.id).params), { to: 1000 });
    while ((ctx.jobs.get(info.id)?.done ?? 0) < 1000) await sleep(20);
    await sleep(250); // the trailing progress event
    const running = ctx.jobs.list()[0]!;
    assert.equal(running.id, info.id);
    assert.equal(running.status, 'running');
    assert.equal(running.done, 1000);
    assert.ok(running.rate > 0, 'items per second');
    assert.equal(running.etaSeconds, 0);
    release();
    const final = await ctx.jobs.wait(info.id);
    assert.equal(final.status, 'done');
    assert.equal(final.done, 1000);
    assert.ok(final.finishedAt);

    const progress = ctx.eventsOf('job.progress').filter((j) => j.id === info.id);
    // 1000 reports over ~600 ms: throttled to at most one per 200 ms (plus the start event and a trailing one).
    const allowed = 2 + Math.ceil(reportingMs / 200);
    assert.ok(progress.length >= 3 && progress.length <= allowed, `${progress.length} progress events in ${reportingMs} ms`);
    assert.equal(progress.at(-1)!.done, 1000, 'the last progress event carries the latest count');
    const done = ctx.eventsOf('job.done').filter((j) => j.id === info.id);
    assert.equal(done.length, 1);
    assert.equal(done[0]!.status, 'done');

    const row = jobRow(ctx, info.id);
    assert.equal(row.status, 'done');
    assert.equal(row.done, 1000);
    assert.equal(row.total, 1000);
    assert.deepEqual(JSON.parse(row.result!), { counted: 1000 });
    assert.equal(row.error, null);
  } finally {
    await ctx.close();
  }
});

test('a failing job is recorded failed: CoreError messages kept, other errors kept out of sight', async () => {
  const ctx = new TestContext();
  try {
    ctx.openProject();
    const a = ctx.jobs.start({ kind: 'import', title: 'a', params: {} }, async (job) => {
      job.snapshot(() => ({ partial: 3 }));
      throw new CoreError('io_error', 'The disk is full.');
    });
    const b = ctx.jobs.start({ kind: 'import', title: 'b', params: {} }, async () => {
      throw new TypeError('x is undefined');
    });
    const logged: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args);
    let endedA, endedB;
    try {
      [endedA, endedB] = await Promise.all([ctx.jobs.wait(a.id), ctx.jobs.wait(b.id)]);
    } finally {
      console.error = original;
    }
    assert.equal(endedA.status, 'failed');
    assert.equal(endedA.error, 'The disk is full.');
    assert.deepEqual(JSON.parse(jobRow(ctx, a.id).result!), { partial: 3 });
    assert.equal(endedB.status, 'failed');
    assert.equal(endedB.error, 'Something went wrong inside Seedbed; the log has the details.');
    assert.match(String(logged[0]), /x is undefined/, 'the stack went to the log');
    assert.equal(jobRow(ctx, b.id).error, endedB.error);
  } finally {
    await ctx.close();
  }
});

test('cancel aborts the signal, records the snapshot at once, and ignores what the body returns later', async () => {
  const ctx = new TestContext();
  try {
    ctx.openProject();
    let seenSignal: AbortSignal | null = null;
    let savedOnAbort = 0;
    let bodyEnded = false;
    const info = ctx.jobs.start({ kind: 'import', title: 'slow', params: {} }, async (job: RunningJob) => {
      seenSignal = job.signal;
      let saved = 0;
      job.snapshot(() => ({ saved }));
      // The job's own abort listener runs before the manager records the cancel.
      job.signal.addEventListener('abort', () => {
        saved = 42;
        savedOnAbort++;
      });
      job.progress(5, 10);
      await sleep(300);
      bodyEnded = true;
      return { saved: -1 };
    });
    await sleep(30);
    ctx.jobs.cancel(info.id);
    assert.equal(seenSignal!.aborted, true);
    assert.equal(savedOnAbort, 1);
    const row = jobRow(ctx, info.id);
    assert.equal(row.status, 'cancelled');
    assert.deepEqual(JSON.parse(row.result!), { saved: 42 });
    assert.ok(row.finished_at);
    const final = await ctx.jobs.wait(info.id);
    assert.equal(final.status, 'cancelled');
    ctx.jobs.cancel(info.id); // cancelling a finished job does nothing
    await sleep(350);
    assert.equal(bodyEnded, true);
    assert.equal(jobRow(ctx, info.id).status, 'cancelled', 'the late return did not turn it into done');
    assert.equal(ctx.eventsOf('job.done').filter((j) => j.id === info.id).length, 1);
    assert.throws(() => ctx.jobs.cancel('no-such-job'), (err: unknown) => err instanceof CoreError && err.code === 'not_found');
  } finally {
    await ctx.close();
  }
});

test('closing the project cancels its jobs before the file closes', async () => {
  const ctx = new TestContext();
  try {
    const store = ctx.openProject('first.seedbed');
    const info = ctx.jobs.start({ kind: 'import', title: 'long', params: {} }, (job) => sleep(10_000, null, { signal: job.signal }));
    await sleep(20);
    ctx.closeProject();
    assert.equal(store.db.open, false);
    const reopened = ctx.openProject('first.seedbed');
    const row = reopened.db.prepare('SELECT status FROM jobs WHERE id = ?').get(info.id) as { status: string };
    assert.equal(row.status, 'cancelled');
    assert.deepEqual(ctx.jobs.list().map((j) => [j.id, j.status]), [[info.id, 'cancelled']]);
  } finally {
    await ctx.close();
  }
});

test('recoverInterruptedJobs marks jobs a crash left running as failed', async () => {
  const ctx = new TestContext();
  try {
    const { db } = ctx.openProject();
    const insert = db.prepare(
      `INSERT INTO jobs (id, kind, title, status, params, done, total, started_at)
       VALUES (@id, 'import', 'Import x', @status, '{}', 10, 100, 1000)`,
    );
    insert.run({ id: 'crashed', status: 'running' });
    insert.run({ id: 'finished', status: 'done' });
    assert.equal(recoverInterruptedJobs(db, 5000), 1);
    const crashed = db.prepare("SELECT status, error, finished_at FROM jobs WHERE id = 'crashed'").get();
    assert.deepEqual(crashed, { status: 'failed', error: INTERRUPTED_JOB_ERROR, finished_at: 5000 });
    assert.equal(INTERRUPTED_JOB_ERROR, 'Seedbed closed before this job finished.');
    assert.equal((db.prepare("SELECT status FROM jobs WHERE id = 'finished'").get() as { status: string }).status, 'done');
    assert.equal(recoverInterruptedJobs(db), 0);
    const listed = ctx.jobs.list().find((j) => j.id === 'crashed')!;
    assert.equal(listed.status, 'failed');
    assert.equal(listed.error, INTERRUPTED_JOB_ERROR);
  } finally {
    await ctx.close();
  }
});

test('starting a job needs an open project', async () => {
  const ctx = new TestContext();
  try {
    assert.throws(
      () => ctx.jobs.start({ kind: 'import', title: 'x', params: {} }, async () => null),
      (err: unknown) => err instanceof CoreError && err.code === 'no_project',
    );
    assert.deepEqual(ctx.jobs.list(), []);
  } finally {
    await ctx.close();
  }
});
