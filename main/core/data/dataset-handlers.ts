import type { Database } from 'better-sqlite3';
import { acceptPredictions } from '../ml/predictions.ts';
import type { Handlers } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { CoreError } from '../errors.ts';
import { createClass, deleteClass, listClasses, mergeClasses, reorderClasses, updateClass } from './classes.ts';
import { galleryIndexOf, imageDetail, orderedImageIds, queryGallery } from './gallery.ts';
import { historyState, recordHistory, redoNext, undoLast, type Change } from './history.ts';
import { labelImages, setImagesStatus } from './labeling.ts';
import { datasetSummary } from './summary.ts';
import { tagImages } from './tags.ts';

export type DatasetMethods =
  | 'dataset.summary'
  | 'images.query'
  | 'images.ids'
  | 'images.get'
  | 'images.indexOf'
  | 'images.exclude'
  | 'images.restore'
  | 'labels.set'
  | 'tags.set'
  | 'classes.list'
  | 'classes.create'
  | 'classes.update'
  | 'classes.reorder'
  | 'classes.merge'
  | 'classes.delete'
  | 'history.state'
  | 'history.undo'
  | 'history.redo'
  | 'predictions.accept';

/** Querying, labeling, class management and undo/redo over the open project. */
export function datasetHandlers(ctx: CoreContext): Pick<Handlers, DatasetMethods> {
  const db = (): Database => ctx.requireStore().db;

  const announce = (reason: string, d: Database): void => {
    ctx.events.emit('dataset.changed', { reason });
    ctx.events.emit('history.changed', historyState(d));
  };

  /** Runs an undoable action and its history entry in one transaction, then tells the hosts. */
  const change = <T>(reason: string, action: (d: Database, at: number) => Change<T>): T => {
    const d = db();
    const at = Date.now();
    const { result, entry } = d.transaction(() => {
      const done = action(d, at);
      if (done.entry) recordHistory(d, done.entry, at);
      return done;
    })();
    if (entry) announce(reason, d);
    return result;
  };

  const replay = (reason: 'undo' | 'redo', run: (d: Database, at: number) => string | null): string | null => {
    const d = db();
    try {
      const description = run(d, Date.now());
      if (description !== null) announce(reason, d);
      return description;
    } catch (err) {
      // A conflicting entry was dropped from the list: the buttons must show what is left.
      if (err instanceof CoreError && err.code === 'conflict') ctx.events.emit('history.changed', historyState(d));
      throw err;
    }
  };

  return {
    'dataset.summary': () => datasetSummary(db()),
    'images.query': ({ filter, offset, limit }) => queryGallery(db(), filter, offset, limit),
    'images.ids': ({ filter }) => [...orderedImageIds(db(), filter)],
    'images.get': ({ id }) => imageDetail(db(), id),
    'images.indexOf': ({ id, filter }) => galleryIndexOf(db(), id, filter),
    'images.exclude': ({ imageIds }) => change('status', (d) => setImagesStatus(d, imageIds, 'excluded')),
    'images.restore': ({ imageIds }) => change('status', (d) => setImagesStatus(d, imageIds, 'active')),
    'labels.set': ({ imageIds, classId }) => change('labels', (d, at) => labelImages(d, imageIds, classId, at)),
    'tags.set': ({ imageIds, key, value }) => change('tags', (d) => tagImages(d, imageIds, key, value)),
    'classes.list': () => listClasses(db()),
    'classes.create': ({ name, colour }) => change('classes', (d, at) => createClass(d, name, colour, at)),
    'classes.update': ({ id, name, colour }) => change('classes', (d) => updateClass(d, id, { name, colour })),
    'classes.reorder': ({ ids }) => change('classes', (d) => reorderClasses(d, ids)),
    'classes.merge': ({ sourceId, targetId }) =>
      change('classes', (d, at) => mergeClasses(d, sourceId, targetId, at)),
    'classes.delete': ({ id }) => change('classes', (d, at) => deleteClass(d, id, at)),
    'predictions.accept': ({ imageIds }) => change('labels', (d, at) => acceptPredictions(d, imageIds, at)),
    'history.state': () => historyState(db()),
    'history.undo': () => replay('undo', undoLast),
    'history.redo': () => replay('redo', redoNext),
  };
}
