import type { Database } from 'better-sqlite3';
import type { ClassInfo } from '../../../shared/contract/index.ts';
import { nextClassColour } from '../../../shared/domain/palette.ts';
import { CoreError } from '../errors.ts';
import type { Change } from './history.ts';
import { countImages } from './image-ids.ts';
import { applyLabels, labelGroups } from './labels-store.ts';

/** A class row as stored, everything undo needs to bring it back as it was. */
export interface ClassRecord extends ClassInfo {
  createdAt: number;
}

const HOTKEYS = [1, 2, 3, 4, 5, 6, 7, 8, 9] as const;

const SELECT_CLASS = 'SELECT id, name, colour, hotkey, position, created_at AS createdAt FROM classes';

/** Every class in the user's order. */
export function listClasses(db: Database): ClassInfo[] {
  return classRecords(db).map(toClassInfo);
}

export function classRecords(db: Database): ClassRecord[] {
  return db.prepare(`${SELECT_CLASS} ORDER BY position, id`).all() as ClassRecord[];
}

function toClassInfo(c: ClassRecord): ClassInfo {
  return { id: c.id, name: c.name, colour: c.colour, hotkey: c.hotkey, position: c.position };
}

/** The class, or `not_found`. */
export function requireClass(db: Database, id: number): ClassRecord {
  const found = db.prepare(`${SELECT_CLASS} WHERE id = ?`).get(id) as ClassRecord | undefined;
  if (!found) throw new CoreError('not_found', `There is no class with id ${id}; it may have been deleted. Refresh and try again.`);
  return found;
}

function refuseTakenName(db: Database, name: string, exceptId: number | null): void {
  const taken = db.prepare('SELECT id, name FROM classes WHERE name = ? COLLATE NOCASE').get(name) as
    | { id: number; name: string }
    | undefined;
  if (taken && taken.id !== exceptId) {
    throw new CoreError('conflict', `There is already a class named "${taken.name}". Choose another name.`);
  }
}

/** A new class at the end of the list, with the next unused colour and the first free key 1–9. */
export function createClass(db: Database, name: string, colour: string | undefined, at: number): Change<ClassInfo> {
  refuseTakenName(db, name, null);
  const existing = classRecords(db);
  const usedKeys = new Set(existing.map((c) => c.hotkey));
  const inserted = db
    .prepare(
      `INSERT INTO classes (name, colour, hotkey, position, created_at)
       VALUES (@name, @colour, @hotkey, @position, @createdAt)`,
    )
    .run({
      name,
      colour: (colour ?? nextClassColour(existing.map((c) => c.colour))).toLowerCase(),
      hotkey: HOTKEYS.find((k) => !usedKeys.has(k)) ?? null,
      position: existing.reduce((max, c) => Math.max(max, c.position + 1), 0),
      createdAt: at,
    });
  const record = requireClass(db, Number(inserted.lastInsertRowid));
  return {
    result: toClassInfo(record),
    entry: {
      description: `Create class ${record.name}`,
      undo: [{ kind: 'deleteClasses', ids: [record.id] }],
      redo: [{ kind: 'insertClasses', classes: [record] }],
    },
  };
}

/** Renames and/or recolours a class; no history entry when nothing changes. */
export function updateClass(
  db: Database,
  id: number,
  changes: { name?: string | undefined; colour?: string | undefined },
): Change<ClassInfo> {
  const before = requireClass(db, id);
  const name = changes.name ?? before.name;
  const colour = (changes.colour ?? before.colour).toLowerCase();
  if (name === before.name && colour === before.colour) return { result: toClassInfo(before), entry: null };
  if (name !== before.name) refuseTakenName(db, name, id);
  const after: ClassRecord = { ...before, name, colour };
  updateClassRows(db, [after]);
  const renamed = name !== before.name;
  const recoloured = colour !== before.colour;
  const description = renamed
    ? `Rename class ${before.name} to ${name}${recoloured ? ' and recolour it' : ''}`
    : `Recolour class ${name}`;
  return {
    result: toClassInfo(requireClass(db, id)),
    entry: {
      description,
      undo: [{ kind: 'updateClasses', classes: [before] }],
      redo: [{ kind: 'updateClasses', classes: [after] }],
    },
  };
}

/** Puts the classes in the given order; keys 1–9 follow the order, later classes have none. */
export function reorderClasses(db: Database, ids: readonly number[]): Change<ClassInfo[]> {
  const before = classRecords(db);
  const byId = new Map(before.map((c) => [c.id, c]));
  for (const id of ids) if (!byId.has(id)) requireClass(db, id);
  if (new Set(ids).size !== ids.length || ids.length !== before.length) {
    throw new CoreError('invalid_input', 'The new order must list every class exactly once.');
  }
  const after = ids.map((id, index): ClassRecord => ({
    ...byId.get(id)!,
    position: index,
    hotkey: index < HOTKEYS.length ? HOTKEYS[index]! : null,
  }));
  const unchanged = after.every((c) => {
    const old = byId.get(c.id)!;
    return old.position === c.position && old.hotkey === c.hotkey;
  });
  if (unchanged) return { result: after.map(toClassInfo), entry: null };
  updateClassRows(db, after);
  return {
    result: listClasses(db),
    entry: {
      description: 'Reorder classes',
      undo: [{ kind: 'updateClasses', classes: before }],
      redo: [{ kind: 'updateClasses', classes: after }],
    },
  };
}

/** Gives every image of `sourceId` the label `targetId`, then deletes the source class. */
export function mergeClasses(db: Database, sourceId: number, targetId: number, at: number): Change<{ moved: number }> {
  if (sourceId === targetId) throw new CoreError('invalid_input', 'A class cannot be merged into itself; pick another class.');
  const source = requireClass(db, sourceId);
  const target = requireClass(db, targetId);
  const imageIds = imagesOfClass(db, sourceId);
  const before = labelGroups(db, imageIds);
  const moved = applyLabels(db, imageIds, targetId, 'human', at);
  deleteClassRows(db, [sourceId], at);
  return {
    result: { moved },
    entry: {
      description: `Merge class ${source.name} into ${target.name} (${countImages(moved)} moved)`,
      undo: [
        { kind: 'insertClasses', classes: [source] },
        { kind: 'labels', groups: before },
      ],
      redo: [
        { kind: 'labels', groups: [{ classId: targetId, source: 'human', updatedAt: at, imageIds }] },
        { kind: 'deleteClasses', ids: [sourceId] },
      ],
    },
  };
}

/** Deletes a class; its images (excluded ones too) become unlabeled. */
export function deleteClass(db: Database, id: number, at: number): Change<{ unlabeled: number }> {
  const record = requireClass(db, id);
  const imageIds = imagesOfClass(db, id);
  const before = labelGroups(db, imageIds);
  deleteClassRows(db, [id], at);
  return {
    result: { unlabeled: imageIds.length },
    entry: {
      description: `Delete class ${record.name} (${countImages(imageIds.length)} unlabeled)`,
      undo: [
        { kind: 'insertClasses', classes: [record] },
        { kind: 'labels', groups: before },
      ],
      redo: [{ kind: 'deleteClasses', ids: [id] }],
    },
  };
}

function imagesOfClass(db: Database, classId: number): number[] {
  return db.prepare('SELECT image_id FROM labels WHERE class_id = ? ORDER BY image_id').pluck().all(classId) as number[];
}

// ---------- primitives that undo and redo replay ----------

/**
 * Writes name, colour, position and key of existing classes. Keys are cleared first and set
 * after, because two classes may trade keys and `hotkey` is UNIQUE. A key meanwhile taken by
 * a class outside this list is left to that class.
 */
export function updateClassRows(db: Database, classes: readonly ClassRecord[]): void {
  const clearKey = db.prepare('UPDATE classes SET hotkey = NULL WHERE id = ?');
  const update = db.prepare('UPDATE classes SET name = @name, colour = @colour, position = @position WHERE id = @id');
  for (const c of classes) clearKey.run(c.id);
  for (const c of classes) {
    refuseTakenName(db, c.name, c.id);
    if (update.run(c).changes === 0) {
      throw new CoreError('conflict', `The class ${c.name} no longer exists.`);
    }
  }
  assignKeys(db, classes);
}

/** Brings back deleted classes with their ids, so labels and history that point at them fit again. */
export function insertClassRows(db: Database, classes: readonly ClassRecord[]): void {
  const exists = db.prepare('SELECT name FROM classes WHERE id = ?').pluck();
  const insert = db.prepare(
    `INSERT INTO classes (id, name, colour, hotkey, position, created_at)
     VALUES (@id, @name, @colour, NULL, @position, @createdAt)`,
  );
  for (const c of classes) {
    const holder = exists.get(c.id) as string | undefined;
    if (holder !== undefined) {
      throw new CoreError('conflict', `Class ${c.name} cannot come back: its place is now taken by class ${holder}.`);
    }
    refuseTakenName(db, c.name, null);
    insert.run(c);
  }
  assignKeys(db, classes);
}

function assignKeys(db: Database, classes: readonly ClassRecord[]): void {
  const holder = db.prepare('SELECT id FROM classes WHERE hotkey = ?').pluck();
  const setKey = db.prepare('UPDATE classes SET hotkey = @hotkey WHERE id = @id');
  for (const c of classes) {
    if (c.hotkey === null || holder.get(c.hotkey) !== undefined) continue;
    setKey.run({ id: c.id, hotkey: c.hotkey });
  }
}

/** Deletes classes; images still labelled with them become unlabeled, with history. */
export function deleteClassRows(db: Database, ids: readonly number[], at: number): void {
  const remove = db.prepare('DELETE FROM classes WHERE id = ?');
  for (const id of ids) {
    applyLabels(db, imagesOfClass(db, id), null, 'human', at);
    remove.run(id);
  }
}
