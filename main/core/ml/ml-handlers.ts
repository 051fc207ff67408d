/** The contract's transfer-learning methods: backbones, runtime, splits, runs, predictions, export. */
import os from 'node:os';
import type { Handlers } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { assignSplits, splitFingerprint } from '../data/splits.ts';
import { CoreError } from '../errors.ts';
import { startDownload } from './download.ts';
import { exportRun } from './export.ts';
import { backboneInfos, setModelsFolder } from './models.ts';
import { imagePrediction, predictFolder, startPredict } from './predictions.ts';
import { deleteRun, getRun, listRuns, renameRun, runSummary } from './runs.ts';
import { runtimeInfo } from './runtime-info.ts';
import { startTraining } from './training.ts';

export type MlMethods =
  | 'ml.backbones'
  | 'ml.runtime'
  | 'ml.setModelsFolder'
  | 'ml.download'
  | 'splits.assign'
  | 'train.start'
  | 'runs.list'
  | 'runs.get'
  | 'runs.rename'
  | 'runs.delete'
  | 'predict.start'
  | 'predict.folder'
  | 'predictions.get';

export function mlHandlers(ctx: CoreContext): Pick<Handlers, MlMethods> {
  const db = () => ctx.requireStore().db;
  const fingerprint = () => splitFingerprint(db());
  return {
    'ml.backbones': () => backboneInfos(ctx),
    'ml.runtime': () => runtimeInfo(ctx.options.workers ?? os.availableParallelism()),
    'ml.setModelsFolder': ({ path }) => setModelsFolder(ctx, path),
    'ml.download': ({ backbone }) => ({ jobId: startDownload(ctx, backbone).id }),
    'splits.assign': ({ seed, reassign }) => {
      const done = assignSplits(db(), { seed, reassign });
      if (done.assigned || reassign) ctx.events.emit('dataset.changed', { reason: 'splits' });
      return { assigned: done.assigned, kept: done.kept, warnings: done.warnings };
    },
    'train.start': ({ config }) => {
      if (ctx.jobs.list().some((j) => j.kind === 'train' && j.status === 'running')) {
        throw new CoreError('busy', 'A run is training already. Wait for it to finish or cancel it first.');
      }
      return startTraining(ctx, config);
    },
    'runs.list': () => listRuns(db(), fingerprint()),
    'runs.get': ({ runId }) => getRun(db(), runId, fingerprint()),
    'runs.rename': ({ runId, name }) => {
      renameRun(db(), runId, name);
      ctx.events.emit('runs.changed', { runId });
      return runSummary(db(), runId, fingerprint());
    },
    'runs.delete': ({ runId }) => {
      deleteRun(ctx.requireStore(), runId);
      ctx.events.emit('runs.changed', { runId });
      ctx.events.emit('dataset.changed', { reason: 'predictions' });
      return null;
    },
    'predict.start': ({ runId, scope }) => startPredict(ctx, runId, scope),
    'predict.folder': ({ runId, dir }) => predictFolder(ctx, runId, dir),
    'predictions.get': ({ imageId }) => imagePrediction(db(), imageId),
  };
}
