import type { Database } from 'better-sqlite3';
import type { LabelSource } from '../../../shared/contract/index.ts';
import { nextClassColour } from '../../../shared/domain/palette.ts';
import { CoreError } from '../errors.ts';

/** Finds a class by name (case-insensitive) or creates it with the next colour and free hotkey. */
export function ensureClass(db: Database, name: string, at = Date.now()): number {
  const found = db.prepare('SELECT id FROM classes WHERE name = ? COLLATE NOCASE').get(name) as
    | { id: number }
    | undefined;
  if (found) return found.id;
  const rows = db.prepare('SELECT colour, hotkey, position FROM classes').all() as {
    colour: string;
    hotkey: number | null;
    position: number;
  }[];
  const usedKeys = new Set(rows.map((r) => r.hotkey));
  const hotkey = [1, 2, 3, 4, 5, 6, 7, 8, 9].find((k) => !usedKeys.has(k)) ?? null;
  const position = rows.reduce((max, r) => Math.max(max, r.position + 1), 0);
  const info = db
    .prepare(
      'INSERT INTO classes (name, colour, hotkey, position, created_at) VALUES (@name, @colour, @hotkey, @position, @at)',
    )
    .run({ name, colour: nextClassColour(rows.map((r) => r.colour)), hotkey, position, at });
  return Number(info.lastInsertRowid);
}

/**
 * Sets (or, with classId null, removes) the label of each image and records the change in
 * label_history. Images whose label is already that class are left alone. Returns the number
 * changed. Call inside a transaction for batches.
 */
export function applyLabels(
  db: Database,
  imageIds: readonly number[],
  classId: number | null,
  source: LabelSource,
  at = Date.now(),
): number {
  if (!imageIds.length) return 0;
  // Set-based: one statement per step whatever the batch size (a 40,000-image relabel is one
  // pass, not 120,000 statements). History first, while `labels` still shows what changes.
  const params = { ids: JSON.stringify(imageIds), classId, source, at };
  const changed = db
    .prepare(
      `INSERT INTO label_history (image_id, class_id, class_name, source, at)
       SELECT DISTINCT j.value, @classId, (SELECT name FROM classes WHERE id = @classId), @source, @at
       FROM json_each(@ids) j
       WHERE (SELECT class_id FROM labels WHERE image_id = j.value) IS NOT @classId`,
    )
    .run(params).changes;
  if (!changed) return 0;
  if (classId === null) {
    db.prepare('DELETE FROM labels WHERE image_id IN (SELECT value FROM json_each(@ids))').run(params);
  } else {
    db.prepare(
      `INSERT INTO labels (image_id, class_id, source, updated_at)
       SELECT DISTINCT value, @classId, @source, @at FROM json_each(@ids) WHERE true
       ON CONFLICT(image_id) DO UPDATE SET class_id = excluded.class_id, source = excluded.source,
         updated_at = excluded.updated_at
       WHERE class_id IS NOT excluded.class_id`,
    ).run(params);
  }
  return changed;
}

/** Images that share one stored label (all null: unlabeled), the compact form history keeps. */
export interface LabelGroup {
  classId: number | null;
  source: LabelSource | null;
  updatedAt: number | null;
  imageIds: number[];
}

/**
 * The current labels of these images, grouped by (class, source, time) so that undoing a
 * 10,000-image relabel stays small. With `except`, images already labelled with that class
 * (or, for null, unlabeled ones) are left out: those a change to it would not touch.
 */
export function labelGroups(db: Database, imageIds: readonly number[], except?: number | null): LabelGroup[] {
  const rows = db
    .prepare(
      `SELECT l.class_id AS classId, l.source AS source, l.updated_at AS updatedAt, json_group_array(j.value) AS ids
       FROM (SELECT DISTINCT value FROM json_each(@ids)) j LEFT JOIN labels l ON l.image_id = j.value
       ${except === undefined ? '' : 'WHERE l.class_id IS NOT @except'}
       GROUP BY l.class_id, l.source, l.updated_at`,
    )
    .all({ ids: JSON.stringify(imageIds), except: except ?? null }) as (Omit<LabelGroup, 'imageIds'> & { ids: string })[];
  return rows.map(({ ids, ...label }) => ({ ...label, imageIds: JSON.parse(ids) as number[] }));
}

/**
 * Puts labels back exactly as a group describes them (class, source and time), for undo and
 * redo. Class changes are written to label_history like any other; a restored label keeps its
 * own source there, a removal counts as the person's. Images no longer in the project are
 * skipped. Returns the number of images whose class changed.
 */
export function restoreLabels(db: Database, groups: readonly LabelGroup[], at = Date.now()): number {
  const classExists = db.prepare('SELECT 1 FROM classes WHERE id = ?').pluck();
  const history = db.prepare(
    `INSERT INTO label_history (image_id, class_id, class_name, source, at)
     SELECT DISTINCT i.id, @classId, (SELECT name FROM classes WHERE id = @classId), @historySource, @at
     FROM json_each(@ids) j JOIN images i ON i.id = j.value
     WHERE (SELECT class_id FROM labels WHERE image_id = i.id) IS NOT @classId`,
  );
  const upsert = db.prepare(
    `INSERT INTO labels (image_id, class_id, source, updated_at)
     SELECT DISTINCT i.id, @classId, @source, @updatedAt FROM json_each(@ids) j JOIN images i ON i.id = j.value WHERE true
     ON CONFLICT(image_id) DO UPDATE SET class_id = excluded.class_id, source = excluded.source,
       updated_at = excluded.updated_at`,
  );
  const remove = db.prepare('DELETE FROM labels WHERE image_id IN (SELECT value FROM json_each(@ids))');
  let changed = 0;
  for (const group of groups) {
    const ids = JSON.stringify(group.imageIds);
    if (group.classId === null) {
      changed += history.run({ ids, classId: null, historySource: 'human', at }).changes;
      remove.run({ ids });
      continue;
    }
    if (!classExists.get(group.classId)) {
      throw new CoreError('conflict', `The class these labels belong to (id ${group.classId}) no longer exists.`);
    }
    const source = group.source ?? 'human';
    changed += history.run({ ids, classId: group.classId, historySource: source, at }).changes;
    upsert.run({ ids, classId: group.classId, source, updatedAt: group.updatedAt ?? at });
  }
  return changed;
}
