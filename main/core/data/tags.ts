import type { Database } from 'better-sqlite3';
import type { Change } from './history.ts';
import { countImages, requireImages, uniqueIds } from './image-ids.ts';

/** Images that share one value of a tag (null: the tag is absent), the compact form history keeps. */
export interface TagGroup {
  value: string | null;
  imageIds: number[];
}

/** Sets one tag on images (value null removes it). */
export function tagImages(
  db: Database,
  imageIds: readonly number[],
  key: string,
  value: string | null,
): Change<{ changed: number }> {
  const ids = uniqueIds(imageIds);
  requireImages(db, ids);
  // Grouped in SQL: a bulk tag of 40,000 images returns a handful of rows, not 40,000.
  const before = (
    db
      .prepare(
        `SELECT t.value AS value, json_group_array(j.value) AS ids
         FROM (SELECT DISTINCT value FROM json_each(@ids)) j
         LEFT JOIN tags t ON t.image_id = j.value AND t.key = @key
         WHERE t.value IS NOT @value
         GROUP BY t.value`,
      )
      .all({ ids: JSON.stringify(ids), key, value }) as { value: string | null; ids: string }[]
  ).map((g): TagGroup => ({ value: g.value, imageIds: JSON.parse(g.ids) as number[] }));
  const changedIds = before.flatMap((g) => g.imageIds);
  if (!changedIds.length) return { result: { changed: 0 }, entry: null };
  writeTags(db, key, [{ value, imageIds: changedIds }]);
  const n = countImages(changedIds.length);
  return {
    result: { changed: changedIds.length },
    entry: {
      description:
        value === null ? `Remove tag ${key} from ${n}` : `Tag ${n} ${value === '' ? key : `${key}=${value}`}`,
      undo: [{ kind: 'tags', key, groups: before }],
      redo: [{ kind: 'tags', key, groups: [{ value, imageIds: changedIds }] }],
    },
  };
}

/** Writes tag values as given; images no longer in the project are skipped. */
export function writeTags(db: Database, key: string, groups: readonly TagGroup[]): void {
  const upsert = db.prepare(
    `INSERT INTO tags (image_id, key, value)
     SELECT id, @key, @value FROM images WHERE id IN (SELECT value FROM json_each(@ids))
     ON CONFLICT(image_id, key) DO UPDATE SET value = excluded.value`,
  );
  const remove = db.prepare('DELETE FROM tags WHERE key = @key AND image_id IN (SELECT value FROM json_each(@ids))');
  for (const g of groups) {
    const params = { key, ids: JSON.stringify(g.imageIds) };
    if (g.value === null) remove.run(params);
    else upsert.run({ ...params, value: g.value });
  }
}

/** An image's tags as key → value. */
export function tagsOfImage(db: Database, imageId: number): Record<string, string> {
  const rows = db.prepare('SELECT key, value FROM tags WHERE image_id = ? ORDER BY key').all(imageId) as {
    key: string;
    value: string;
  }[];
  return Object.fromEntries(rows.map((r) => [r.key, r.value]));
}
