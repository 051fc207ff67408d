import type { Database } from 'better-sqlite3';
import type { LabelSource } from '../../../shared/contract/index.ts';
import { nextClassColour } from '../../../shared/domain/palette.ts';

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
  const current = db.prepare('SELECT class_id FROM labels WHERE image_id = ?').pluck();
  const upsert = db.prepare(
    `INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (@imageId, @classId, @source, @at)
     ON CONFLICT(image_id) DO UPDATE SET class_id = excluded.class_id, source = excluded.source, updated_at = excluded.updated_at`,
  );
  const remove = db.prepare('DELETE FROM labels WHERE image_id = ?');
  const history = db.prepare(
    `INSERT INTO label_history (image_id, class_id, class_name, source, at)
     VALUES (@imageId, @classId, (SELECT name FROM classes WHERE id = @classId), @source, @at)`,
  );
  let changed = 0;
  for (const imageId of imageIds) {
    const before = (current.get(imageId) as number | undefined) ?? null;
    if (before === classId) continue;
    if (classId === null) remove.run(imageId);
    else upsert.run({ imageId, classId, source, at });
    history.run({ imageId, classId, source, at });
    changed++;
  }
  return changed;
}
