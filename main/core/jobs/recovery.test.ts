import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import nodePath from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Database } from 'better-sqlite3';
import { INTERRUPTED_JOB_ERROR, recoverInterruptedJobs } from './manager.ts';
import { TestContext } from './test-context.ts';

const run = promisify(execFile);
const fixture = nodePath.join(import.meta.dirname, 'open-project-fixture.ts');
/** Where `--import tsx` resolves from. */
const repoRoot = nodePath.resolve(import.meta.dirname, '../../..');

interface JobState {
  status: string;
  error: string | null;
  finished_at: number | null;
}

function insertRunningJob(db: Database, id: string, owner: { pid: number | null; host: string | null }): void {
  db.prepare(
    `INSERT INTO jobs (id, kind, title, status, params, done, total, started_at, owner_pid, owner_host)
     VALUES (@id, 'import', 'Import x', 'running', '{}', 10, 100, 1000, @pid, @host)`,
  ).run({ id, pid: owner.pid, host: owner.host });
}

function jobState(db: Database, id: string): JobState {
  return db.prepare('SELECT status, error, finished_at FROM jobs WHERE id = ?').get(id) as JobState;
}

/** Another live process on this machine, as a second Seedbed would be. */
async function otherProcess(): Promise<ChildProcess & { pid: number }> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  assert.ok(child.pid, 'the child process started');
  return child as ChildProcess & { pid: number };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

test('a running job of another live process on this machine is left alone; once that process is gone it is failed', async () => {
  const ctx = new TestContext();
  const child = await otherProcess();
  try {
    const { db } = ctx.openProject();
    insertRunningJob(db, 'live-elsewhere', { pid: child.pid, host: os.hostname() });
    assert.equal(recoverInterruptedJobs(db, 5000), 0);
    assert.deepEqual(jobState(db, 'live-elsewhere'), { status: 'running', error: null, finished_at: null });

    await stop(child);
    assert.equal(recoverInterruptedJobs(db, 6000), 1);
    assert.deepEqual(jobState(db, 'live-elsewhere'), { status: 'failed', error: INTERRUPTED_JOB_ERROR, finished_at: 6000 });
  } finally {
    await stop(child);
    await ctx.close();
  }
});

test('jobs without an owner (recorded before owners were) and jobs this process left behind are failed; other machines\' jobs are not', async () => {
  const ctx = new TestContext();
  const child = await otherProcess();
  try {
    const { db } = ctx.openProject();
    insertRunningJob(db, 'no-owner', { pid: null, host: null });
    insertRunningJob(db, 'left-by-this-process', { pid: process.pid, host: os.hostname() });
    // The same process id, alive here, on a machine sharing the project over a network drive.
    insertRunningJob(db, 'other-machine', { pid: child.pid, host: `not-${os.hostname()}` });
    insertRunningJob(db, 'other-machine-own-pid', { pid: process.pid, host: `not-${os.hostname()}` });
    await stop(child);
    assert.equal(recoverInterruptedJobs(db, 7000), 2);
    for (const id of ['no-owner', 'left-by-this-process']) {
      assert.deepEqual(jobState(db, id), { status: 'failed', error: INTERRUPTED_JOB_ERROR, finished_at: 7000 }, id);
    }
    for (const id of ['other-machine', 'other-machine-own-pid']) assert.equal(jobState(db, id).status, 'running', id);
  } finally {
    await stop(child);
    await ctx.close();
  }
});

test('a job records its owner, and recovery in this process leaves it running', async () => {
  const ctx = new TestContext();
  try {
    const { db } = ctx.openProject();
    const info = ctx.jobs.start({ kind: 'import', title: 'long', params: {} }, (job) => sleep(10_000, null, { signal: job.signal }));
    const owner = db.prepare('SELECT owner_pid, owner_host FROM jobs WHERE id = ?').get(info.id);
    assert.deepEqual(owner, { owner_pid: process.pid, owner_host: os.hostname() });
    assert.equal(recoverInterruptedJobs(db), 0);
    assert.equal(jobState(db, info.id).status, 'running');
    ctx.jobs.cancel(info.id);
    assert.equal(jobState(db, info.id).status, 'cancelled');
  } finally {
    await ctx.close();
  }
});

test('another Seedbed opening the project while a job runs here does not fail the job', async () => {
  const ctx = new TestContext();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  try {
    const store = ctx.openProject('shared.seedbed');
    insertRunningJob(store.db, 'crashed-long-ago', { pid: null, host: null });
    const info = ctx.jobs.start({ kind: 'import', title: 'import while someone looks', params: {} }, async (job) => {
      job.progress(1, 2);
      await gate;
      job.progress(2, 2);
      return { imported: 2 };
    });

    // A second process opens the same file through the core, as `seedbed info --project` does.
    const stateDir = nodePath.join(ctx.dir, 'other-state');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', fixture, store.path, stateDir], { cwd: repoRoot, timeout: 60_000 });
    const seenThere = new Map((JSON.parse(stdout) as { id: string; status: string }[]).map((r) => [r.id, r.status]));
    assert.equal(seenThere.get(info.id), 'running', 'the other process left the live job alone');
    assert.equal(seenThere.get('crashed-long-ago'), 'failed', 'and recovered the one a crash left');
    assert.equal(jobState(store.db, info.id).status, 'running');

    release();
    const ended = await ctx.jobs.wait(info.id);
    assert.equal(ended.status, 'done');
    assert.equal(jobState(store.db, info.id).status, 'done');
  } finally {
    release();
    await ctx.close();
  }
});
