/**
 * The contract's method names and channel names without its schemas: what the sandboxed
 * Electron preload needs, kept free of zod so the preload stays a few kilobytes.
 * `index.ts` checks at compile time that this list and `methods` name the same methods.
 */
import type { MethodName } from './index.ts';

export const METHOD_NAMES = [
  'host.info',
  'host.pickPaths',
  'files.list',
  'project.current',
  'project.create',
  'project.open',
  'project.openSample',
  'project.close',
  'project.recent',
  'dataset.summary',
  'images.query',
  'images.ids',
  'images.get',
  'images.indexOf',
  'images.exclude',
  'images.restore',
  'labels.set',
  'tags.set',
  'classes.list',
  'classes.create',
  'classes.update',
  'classes.reorder',
  'classes.merge',
  'classes.delete',
  'history.state',
  'history.undo',
  'history.redo',
  'import.start',
  'import.csv',
  'import.uploaded',
  'import.report',
  'jobs.list',
  'jobs.cancel',
  'ml.backbones',
  'ml.runtime',
  'ml.setModelsFolder',
  'ml.download',
  'splits.assign',
  'train.start',
  'runs.list',
  'runs.get',
  'runs.rename',
  'runs.delete',
  'predict.start',
  'predict.folder',
  'predictions.get',
  'predictions.accept',
  'export.run',
  'clean.start',
  'findings.list',
  'findings.act',
  'health.summary',
  'health.report',
] as const satisfies readonly MethodName[];

export const IPC_INVOKE_CHANNEL = 'seedbed:invoke';
export const IPC_EVENT_CHANNEL = 'seedbed:event';
export const MEDIA_SCHEME = 'seedbed-media';
