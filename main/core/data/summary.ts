import type { Database } from 'better-sqlite3';
import type { DatasetSummary, SplitCounts } from '../../../shared/contract/index.ts';
import { canCache, dataVersion } from './data-version.ts';

/** Distinct values listed per tag key; a filter menu longer than this is not usable anyway. */
export const TAG_VALUES_LIMIT = 200;

type SplitName = 'train' | 'val' | 'test';

function emptyCounts(): SplitCounts {
  return { total: 0, train: 0, val: 0, test: 0, none: 0 };
}

function addTo(counts: SplitCounts, split: SplitName | null, n: number): void {
  counts.total += n;
  counts[split ?? 'none'] += n;
}

const cached = new WeakMap<Database, { version: string; summary: DatasetSummary }>();

/** The counts the dataset view and `seedbed info` show; kept until the data changes. */
export function datasetSummary(db: Database): DatasetSummary {
  if (!canCache(db)) return computeSummary(db);
  const version = dataVersion(db);
  const hit = cached.get(db);
  if (hit && hit.version === version) return structuredClone(hit.summary);
  const summary = computeSummary(db);
  cached.set(db, { version, summary });
  return structuredClone(summary);
}

function computeSummary(db: Database): DatasetSummary {
  const byStatus = db.prepare('SELECT status, count(*) AS n FROM images GROUP BY status').all() as {
    status: 'active' | 'excluded';
    n: number;
  }[];
  const active = byStatus.find((r) => r.status === 'active')?.n ?? 0;
  const excluded = byStatus.find((r) => r.status === 'excluded')?.n ?? 0;

  const byClass: Record<number, SplitCounts> = {};
  for (const id of db.prepare('SELECT id FROM classes ORDER BY position, id').pluck().all() as number[]) {
    byClass[id] = emptyCounts();
  }
  const bySplit = emptyCounts();

  // Counting every image and taking the (usually few) excluded ones away is about twice as
  // fast as joining every active image to its label and split.
  const labelled = (status: string | null) =>
    db
      .prepare(
        `SELECT l.class_id AS classId, s.split AS split, count(*) AS n
         FROM labels l LEFT JOIN splits s ON s.image_id = l.image_id
         ${status ? 'WHERE l.image_id IN (SELECT id FROM images WHERE status = @status)' : ''}
         GROUP BY l.class_id, s.split`,
      )
      .all(status ? { status } : {}) as { classId: number; split: SplitName | null; n: number }[];
  const split = (status: string | null) =>
    db
      .prepare(
        `SELECT s.split AS split, count(*) AS n FROM splits s
         ${status ? 'WHERE s.image_id IN (SELECT id FROM images WHERE status = @status)' : ''}
         GROUP BY s.split`,
      )
      .all(status ? { status } : {}) as { split: SplitName; n: number }[];

  let labelledActive = 0;
  for (const [rows, sign] of [
    [labelled(null), 1],
    [excluded ? labelled('excluded') : [], -1],
  ] as const) {
    for (const g of rows) {
      addTo((byClass[g.classId] ??= emptyCounts()), g.split, sign * g.n);
      labelledActive += sign * g.n;
    }
  }
  for (const [rows, sign] of [
    [split(null), 1],
    [excluded ? split('excluded') : [], -1],
  ] as const) {
    for (const g of rows) addTo(bySplit, g.split, sign * g.n);
  }
  bySplit.none = active - bySplit.total;
  bySplit.total = active;

  // Tag values with their counts over active images (the slices later views compare).
  const tags = new Map<string, Map<string, number>>();
  const tagRows = db
    .prepare(
      `SELECT key, value, n FROM (
         SELECT key, value, n, row_number() OVER (PARTITION BY key ORDER BY value) AS rank
         FROM (SELECT t.key, t.value, count(*) AS n FROM tags t JOIN images i ON i.id = t.image_id
               WHERE i.status = 'active' GROUP BY t.key, t.value)
       ) WHERE rank <= @limit ORDER BY key, value`,
    )
    .all({ limit: TAG_VALUES_LIMIT }) as { key: string; value: string; n: number }[];
  for (const { key, value, n } of tagRows) {
    const values = tags.get(key) ?? new Map<string, number>();
    values.set(value, n);
    tags.set(key, values);
  }

  return {
    images: active + excluded,
    active,
    excluded,
    unlabeled: active - labelledActive,
    byClass,
    bySplit,
    // fromEntries, not assignment: a tag named "__proto__" must stay a tag.
    tags: Object.fromEntries([...tags].map(([key, values]) => [key, Object.fromEntries(values)])),
    derived: db.prepare('SELECT count(*) FROM images WHERE derived_from IS NOT NULL').pluck().get() as number,
  };
}
