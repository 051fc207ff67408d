import type { Database } from 'better-sqlite3';
import type { HistoryState, ImageStatus } from '../../../shared/contract/index.ts';
import { CoreError } from '../errors.ts';
import { deleteClassRows, insertClassRows, updateClassRows, type ClassRecord } from './classes.ts';
import { writeImagesStatus } from './labeling.ts';
import { restoreLabels, type LabelGroup } from './labels-store.ts';
import { writeTags, type TagGroup } from './tags.ts';

/**
 * One step of an undo or redo, described by the state it leaves behind (not by the action),
 * so replaying it is exact whatever the action was.
 */
export type HistoryStep =
  | { kind: 'labels'; groups: LabelGroup[] }
  | { kind: 'status'; status: ImageStatus; imageIds: number[] }
  | { kind: 'tags'; key: string; groups: TagGroup[] }
  | { kind: 'insertClasses'; classes: ClassRecord[] }
  | { kind: 'updateClasses'; classes: ClassRecord[] }
  | { kind: 'deleteClasses'; ids: number[] }
  /** Cleaning findings' review states (a finding removed since is skipped). */
  | { kind: 'findings'; states: { id: number; state: 'open' | 'fixed' | 'dismissed' }[] };

/** What the undo list keeps for one user action. */
export interface HistoryEntry {
  /** In the user's words: "Label 12 images as glass". */
  description: string;
  undo: HistoryStep[];
  redo: HistoryStep[];
}

/** What an undoable action returns: its result, and its history entry when it changed anything. */
export interface Change<T> {
  result: T;
  entry: HistoryEntry | null;
}

/** Entries kept; older ones fall off the bottom of the undo list. */
export const HISTORY_LIMIT = 500;

/** Pushes an action onto the undo list; a new action forgets everything that was undone. */
export function recordHistory(db: Database, entry: HistoryEntry, at: number, limit = HISTORY_LIMIT): void {
  db.prepare("DELETE FROM history WHERE state = 'undone'").run();
  db.prepare(
    "INSERT INTO history (description, undo, redo, state, at) VALUES (@description, @undo, @redo, 'done', @at)",
  ).run({ description: entry.description, undo: JSON.stringify(entry.undo), redo: JSON.stringify(entry.redo), at });
  db.prepare(
    `DELETE FROM history WHERE state = 'done'
     AND id <= (SELECT id FROM history WHERE state = 'done' ORDER BY id DESC LIMIT 1 OFFSET @limit)`,
  ).run({ limit });
}

export function historyState(db: Database): HistoryState {
  const undoLabel = db
    .prepare("SELECT description FROM history WHERE state = 'done' ORDER BY id DESC LIMIT 1")
    .pluck()
    .get() as string | undefined;
  const redoLabel = db
    .prepare("SELECT description FROM history WHERE state = 'undone' ORDER BY id ASC LIMIT 1")
    .pluck()
    .get() as string | undefined;
  return {
    canUndo: undoLabel !== undefined,
    canRedo: redoLabel !== undefined,
    undoLabel: undoLabel ?? null,
    redoLabel: redoLabel ?? null,
  };
}

interface HistoryRow {
  id: number;
  description: string;
  steps: string;
}

/**
 * Undoes the latest action; returns its description, or null when there is nothing to undo.
 * When the project changed outside the undo list (an import re-used a class name, say) so that
 * the action cannot be undone, the entry is dropped and `conflict` explains why.
 */
export function undoLast(db: Database, at = Date.now()): string | null {
  const row = db
    .prepare("SELECT id, description, undo AS steps FROM history WHERE state = 'done' ORDER BY id DESC LIMIT 1")
    .get() as HistoryRow | undefined;
  return row ? replay(db, row, 'undone', 'undo', at) : null;
}

/** Redoes the action undone last; returns its description, or null when there is nothing to redo. */
export function redoNext(db: Database, at = Date.now()): string | null {
  const row = db
    .prepare("SELECT id, description, redo AS steps FROM history WHERE state = 'undone' ORDER BY id ASC LIMIT 1")
    .get() as HistoryRow | undefined;
  return row ? replay(db, row, 'done', 'redo', at) : null;
}

function replay(db: Database, row: HistoryRow, nextState: 'done' | 'undone', verb: string, at: number): string {
  try {
    db.transaction(() => {
      applyHistorySteps(db, JSON.parse(row.steps) as HistoryStep[], at);
      db.prepare('UPDATE history SET state = @nextState WHERE id = @id').run({ id: row.id, nextState });
    })();
  } catch (err) {
    if (!(err instanceof CoreError) || err.code !== 'conflict') throw err;
    // The entry can never apply again; keeping it would block every older entry behind it.
    db.prepare('DELETE FROM history WHERE id = ?').run(row.id);
    throw new CoreError(
      'conflict',
      `Seedbed could not ${verb} "${row.description}": ${err.message} It has been taken off the list.`,
    );
  }
  return row.description;
}

/** Replays steps in order. */
export function applyHistorySteps(db: Database, steps: readonly HistoryStep[], at: number): void {
  for (const step of steps) {
    switch (step.kind) {
      case 'labels':
        restoreLabels(db, step.groups, at);
        break;
      case 'status':
        writeImagesStatus(db, step.imageIds, step.status);
        break;
      case 'tags':
        writeTags(db, step.key, step.groups);
        break;
      case 'insertClasses':
        insertClassRows(db, step.classes);
        break;
      case 'updateClasses':
        updateClassRows(db, step.classes);
        break;
      case 'deleteClasses':
        deleteClassRows(db, step.ids, at);
        break;
      case 'findings': {
        const update = db.prepare('UPDATE findings SET state = ?, updated_at = ? WHERE id = ?');
        for (const s of step.states) update.run(s.state, at, s.id);
        break;
      }
    }
  }
}
