import type { Database } from 'better-sqlite3';
import type { ImageStatus } from '../../../shared/contract/index.ts';
import { requireClass } from './classes.ts';
import type { Change } from './history.ts';
import { countImages, requireImages, uniqueIds } from './image-ids.ts';
import { applyLabels, labelGroups } from './labels-store.ts';

/** A person labels images (classId null removes their label). Images already so labelled are left alone. */
export function labelImages(
  db: Database,
  imageIds: readonly number[],
  classId: number | null,
  at: number,
): Change<{ changed: number }> {
  const ids = uniqueIds(imageIds);
  requireImages(db, ids);
  const className = classId === null ? null : requireClass(db, classId).name;
  const before = labelGroups(db, ids, classId);
  const changed = applyLabels(db, ids, classId, 'human', at);
  if (!changed) return { result: { changed }, entry: null };
  const changedIds = before.flatMap((g) => g.imageIds);
  return {
    result: { changed },
    entry: {
      description:
        className === null
          ? `Remove the label from ${countImages(changed)}`
          : `Label ${countImages(changed)} as ${className}`,
      undo: [{ kind: 'labels', groups: before }],
      redo: [
        {
          kind: 'labels',
          groups: [
            classId === null
              ? { classId: null, source: null, updatedAt: null, imageIds: changedIds }
              : { classId, source: 'human', updatedAt: at, imageIds: changedIds },
          ],
        },
      ],
    },
  };
}

/** Excludes images from the dataset, or restores them. Files are never touched: this is a status. */
export function setImagesStatus(db: Database, imageIds: readonly number[], status: ImageStatus): Change<{ changed: number }> {
  const ids = uniqueIds(imageIds);
  requireImages(db, ids);
  const changedIds = db
    .prepare(
      `SELECT i.id FROM json_each(@ids) j JOIN images i ON i.id = j.value
       WHERE i.status <> @status ORDER BY j.key`,
    )
    .pluck()
    .all({ ids: JSON.stringify(ids), status }) as number[];
  if (!changedIds.length) return { result: { changed: 0 }, entry: null };
  writeImagesStatus(db, changedIds, status);
  const n = countImages(changedIds.length);
  return {
    result: { changed: changedIds.length },
    entry: {
      description: status === 'excluded' ? `Exclude ${n}` : `Restore ${n}`,
      undo: [{ kind: 'status', status: status === 'excluded' ? 'active' : 'excluded', imageIds: changedIds }],
      redo: [{ kind: 'status', status, imageIds: changedIds }],
    },
  };
}

export function writeImagesStatus(db: Database, imageIds: readonly number[], status: ImageStatus): void {
  db.prepare('UPDATE images SET status = @status WHERE id IN (SELECT value FROM json_each(@ids))').run({
    ids: JSON.stringify(imageIds),
    status,
  });
}
