/**
 * Findings in the project: a detector's run replaces the open findings of its kinds, while
 * what the user decided survives it. A finding is identified by its kind and the content
 * hashes of its images, so the same problem found again is the same finding: a dismissed one
 * stays dismissed, a fixed one stays fixed, and an open one keeps its id.
 */
import { createHash } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { CoreError } from '../errors.ts';

import { FINDING_KINDS, type FindingKind, type FindingState } from '../../../shared/contract/cleaning.ts';

export { FINDING_KINDS, type FindingKind, type FindingState };

export interface DetectedFinding {
  kind: FindingKind;
  /** The images it is about, most relevant first. */
  imageIds: number[];
  /** Files it is about that are not images of the project (a corrupt file the import skipped). */
  files?: string[];
  score: number;
  explanation: string;
  suggestion?: unknown;
  /**
   * What identifies the finding across runs when its images do not (class overlap: the two
   * class names, whatever examples show it). Default: the images' content hashes and the files.
   */
  keyParts?: string[];
}

export interface StoredFinding extends DetectedFinding {
  id: number;
  state: FindingState;
  detectedAt: number;
  updatedAt: number;
}

/** Kind + sorted content hashes (+ sorted file paths): stable across re-imports, ids and detector runs. */
export function findingKey(db: Database, kind: FindingKind, imageIds: readonly number[], files: readonly string[] = []): string {
  const shas = db
    .prepare('SELECT sha256 FROM images WHERE id IN (SELECT value FROM json_each(?)) ORDER BY sha256')
    .pluck()
    .all(JSON.stringify(imageIds)) as string[];
  if (shas.length !== new Set(imageIds).size) throw new CoreError('internal', `A ${kind} finding names an image that is not in the project.`);
  const paths = [...new Set(files)].sort().map((f) => `file:${f}`);
  return createHash('sha256').update([kind, ...shas, ...paths].join('\n')).digest('hex').slice(0, 32);
}

function partsKey(kind: FindingKind, parts: readonly string[]): string {
  return createHash('sha256').update([kind, ...[...parts].sort().map((p) => `part:${p}`)].join('\n')).digest('hex').slice(0, 32);
}

/**
 * Stores one detector run of `kinds`: new findings are added open; findings detected again
 * keep their state and id (their score and explanation are refreshed); open findings of
 * these kinds that were not detected again are removed, as the problem is gone. Returns the
 * counts. One transaction.
 */
export function replaceFindings(
  db: Database,
  kinds: readonly FindingKind[],
  detected: readonly DetectedFinding[],
  at = Date.now(),
): { added: number; kept: number; removed: number; stillDismissed: number } {
  for (const f of detected) {
    if (!kinds.includes(f.kind)) throw new CoreError('internal', `A ${f.kind} finding came from a run of ${kinds.join(', ')}.`);
    if (!Number.isFinite(f.score)) throw new CoreError('internal', `A ${f.kind} finding has no score (${f.score}): ${f.explanation}`);
    if (!f.imageIds.length && !f.files?.length && !f.keyParts?.length) throw new CoreError('internal', `A ${f.kind} finding names no image and no file.`);
  }
  const find = db.prepare('SELECT id, state FROM findings WHERE kind = ? AND key = ?');
  const insert = db.prepare(
    `INSERT INTO findings (kind, key, score, explanation, suggestion, files, state, detected_at, updated_at)
     VALUES (@kind, @key, @score, @explanation, @suggestion, @files, 'open', @at, @at)`,
  );
  const refresh = db.prepare(
    'UPDATE findings SET score = @score, explanation = @explanation, suggestion = @suggestion, files = @files, detected_at = @at WHERE id = @id',
  );
  const clearImages = db.prepare('DELETE FROM finding_images WHERE finding_id = ?');
  const addImage = db.prepare('INSERT INTO finding_images (finding_id, image_id, position) VALUES (?, ?, ?)');
  return db.transaction(() => {
    const seen = new Set<number>();
    let added = 0;
    let kept = 0;
    let stillDismissed = 0;
    for (const f of detected) {
      const key = f.keyParts ? partsKey(f.kind, f.keyParts) : findingKey(db, f.kind, f.imageIds, f.files);
      const row = find.get(f.kind, key) as { id: number; state: FindingState } | undefined;
      const values = { kind: f.kind, key, score: f.score, explanation: f.explanation, suggestion: f.suggestion === undefined ? null : JSON.stringify(f.suggestion), files: f.files?.length ? JSON.stringify(f.files) : null, at };
      let id: number;
      if (row) {
        id = row.id;
        if (seen.has(id)) continue;
        refresh.run({ ...values, id });
        kept++;
        if (row.state === 'dismissed') stillDismissed++;
      } else {
        id = Number(insert.run(values).lastInsertRowid);
        added++;
      }
      seen.add(id);
      clearImages.run(id);
      [...new Set(f.imageIds)].forEach((imageId, position) => addImage.run(id, imageId, position));
    }
    const stale = (
      db.prepare(`SELECT id FROM findings WHERE state = 'open' AND kind IN (SELECT value FROM json_each(?))`).pluck().all(JSON.stringify(kinds)) as number[]
    ).filter((id) => !seen.has(id));
    const remove = db.prepare('DELETE FROM findings WHERE id = ?');
    for (const id of stale) remove.run(id);
    return { added, kept, removed: stale.length, stillDismissed };
  })();
}

export function setFindingState(db: Database, ids: readonly number[], state: FindingState, at = Date.now()): number {
  return db
    .prepare('UPDATE findings SET state = @state, updated_at = @at WHERE id IN (SELECT value FROM json_each(@ids)) AND state <> @state')
    .run({ ids: JSON.stringify(ids), state, at }).changes;
}

export function listFindings(db: Database, filter: { kinds?: readonly FindingKind[]; state?: FindingState; ids?: readonly number[] } = {}): StoredFinding[] {
  const rows = db
    .prepare(
      `SELECT f.id, f.kind, f.score, f.explanation, f.suggestion, f.files, f.state, f.detected_at AS detectedAt, f.updated_at AS updatedAt,
              (SELECT json_group_array(image_id) FROM (SELECT image_id FROM finding_images WHERE finding_id = f.id ORDER BY position)) AS imageIds
       FROM findings f
       WHERE (@kinds IS NULL OR f.kind IN (SELECT value FROM json_each(@kinds))) AND (@state IS NULL OR f.state = @state)
         AND (@ids IS NULL OR f.id IN (SELECT value FROM json_each(@ids)))
       ORDER BY f.kind, f.score DESC, f.id`,
    )
    .all({ kinds: filter.kinds ? JSON.stringify(filter.kinds) : null, state: filter.state ?? null, ids: filter.ids ? JSON.stringify(filter.ids) : null }) as (Omit<StoredFinding, 'imageIds' | 'suggestion' | 'files'> & {
    imageIds: string;
    suggestion: string | null;
    files: string | null;
  })[];
  return rows.map(({ files, ...r }) => ({
    ...r,
    imageIds: JSON.parse(r.imageIds) as number[],
    suggestion: r.suggestion === null ? undefined : (JSON.parse(r.suggestion) as unknown),
    ...(files === null ? {} : { files: JSON.parse(files) as string[] }),
  }));
}

/** Open findings per kind, for the dataset health summary and `seedbed clean --json`. */
export function openFindingCounts(db: Database): Partial<Record<FindingKind, number>> {
  const rows = db.prepare(`SELECT kind, COUNT(*) AS n FROM findings WHERE state = 'open' GROUP BY kind`).all() as { kind: FindingKind; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.kind, r.n]));
}
