/**
 * A real project for integration tests: a few TrashNet photos per class copied into a
 * temporary folder, imported through the core (splits assigned), optionally with one trained
 * run, on the smallest shared backbone. Tests that need it skip with `skipReason` when
 * ../shared is not beside the repository.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import type { EventMessage, JobInfo, MethodName, ParamsOf, ResultOf, RunDetail, TrainConfigPatch } from '../../shared/contract/index.ts';
import type { Core } from './core.ts';
import { callCore, jobEnded, testCore } from './core-calls.ts';

export const TRASHNET = nodePath.resolve(import.meta.dirname, '../../../shared/data/trashnet');
export const MODELS = nodePath.resolve(import.meta.dirname, '../../../shared/models');
/** The smallest shared backbone: fast enough for tests. */
export const TEST_BACKBONE = 'mobilenet_v1_0.25_224';

/** Why tests of a real project cannot run here, or false when they can. */
export const skipReason: string | false =
  fs.existsSync(TRASHNET) && fs.existsSync(nodePath.join(MODELS, TEST_BACKBONE)) ? false : `needs ../shared/data/trashnet and ../shared/models/${TEST_BACKBONE}`;

/** Copies the first `count` photos (by file name, after `offset`) of each class into `dest/<class>/`. */
export function copyTrashnet(dest: string, perClass: Record<string, number>, offset = 0): void {
  for (const [c, n] of Object.entries(perClass)) {
    fs.mkdirSync(nodePath.join(dest, c), { recursive: true });
    for (const f of fs.readdirSync(nodePath.join(TRASHNET, c)).filter((f) => f.endsWith('.jpg')).sort().slice(offset, offset + n)) {
      fs.copyFileSync(nodePath.join(TRASHNET, c, f), nodePath.join(dest, c, f));
    }
  }
}

export interface TrashnetProject {
  dir: string;
  core: Core;
  /** Every event the core emitted so far. */
  events: EventMessage[];
  call<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>>;
  /** Waits for a job to end and returns it. */
  job(jobId: string): Promise<JobInfo>;
  /** The run trained when the project was opened with `train`. */
  run: RunDetail | null;
  close(): Promise<void>;
}

/**
 * Opens a fresh project of TrashNet photos (`perClass`: photos per class), imported with
 * splits assigned, and trains one run with `train` when given (its backbone defaults to the
 * test backbone). Points SEEDBED_MODELS_DIR at the shared models until close().
 */
export async function openTrashnetProject(name: string, options: { perClass: Record<string, number>; train?: TrainConfigPatch }): Promise<TrashnetProject> {
  const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), `seedbed-${name}-test-`));
  const previousModels = process.env.SEEDBED_MODELS_DIR;
  process.env.SEEDBED_MODELS_DIR = MODELS;
  const events: EventMessage[] = [];
  const core = testCore(dir, { events });
  const project: TrashnetProject = {
    dir,
    core,
    events,
    call: (method, params) => callCore(core, method, params),
    job: (jobId) => jobEnded(core, jobId, events),
    run: null,
    close: async () => {
      await core.close();
      if (previousModels === undefined) delete process.env.SEEDBED_MODELS_DIR;
      else process.env.SEEDBED_MODELS_DIR = previousModels;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  copyTrashnet(nodePath.join(dir, 'data'), options.perClass);
  await project.call('project.create', { path: nodePath.join(dir, 'p.seedbed') });
  const imported = await project.call('import.start', { paths: [nodePath.join(dir, 'data')], split: 'auto' });
  assert.equal((await project.job(imported.jobId)).status, 'done', 'the photos import');
  await project.call('splits.assign', { seed: 1 });
  if (options.train) {
    const started = await project.call('train.start', { config: { backbone: TEST_BACKBONE, ...options.train } });
    const job = await project.job(started.jobId);
    assert.equal(job.status, 'done', `the run trains: ${job.error ?? ''}`);
    project.run = await project.call('runs.get', { runId: started.runId });
  }
  return project;
}
