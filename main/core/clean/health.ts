/** The dataset's health at a glance: counts, balance, sizes, formats and open findings. */
import nodePath from 'node:path';
import type { Database } from 'better-sqlite3';
import type { DatasetHealth } from '../../../shared/contract/index.ts';
import { datasetSummary } from '../data/summary.ts';
import { lastCheck } from './detect.ts';
import { findingCounts } from './findings-review.ts';

/** Longer-side buckets, in pixels: what a person thinks of as tiny, small, typical, large. */
const SIZE_BUCKETS: { label: string; below: number }[] = [
  { label: 'under 64 px', below: 64 },
  { label: '64–223 px', below: 224 },
  { label: '224–511 px', below: 512 },
  { label: '512–1023 px', below: 1024 },
  { label: '1024–2047 px', below: 2048 },
  { label: '2048 px and more', below: Infinity },
];

export function datasetHealth(db: Database, projectPath: string): DatasetHealth {
  const summary = datasetSummary(db);
  const classes = (db.prepare('SELECT id, name, colour FROM classes ORDER BY position, id').all() as { id: number; name: string; colour: string }[]).map((c) => ({
    ...c,
    counts: summary.byClass[c.id] ?? { total: 0, train: 0, val: 0, test: 0, none: 0 },
  }));
  const populated = classes.map((c) => c.counts.total).filter((n) => n > 0);
  const imbalanceRatio = populated.length >= 2 ? Math.max(...populated) / Math.min(...populated) : null;

  const formats: Record<string, number> = {};
  for (const r of db.prepare("SELECT format, COUNT(*) AS n FROM images WHERE status = 'active' GROUP BY format ORDER BY n DESC").all() as { format: string; n: number }[]) {
    formats[r.format] = r.n;
  }
  const sides = db.prepare("SELECT MAX(width, height) AS side FROM images WHERE status = 'active'").pluck().all() as number[];
  const sizes = SIZE_BUCKETS.map((b) => ({ label: b.label, count: 0 }));
  for (const side of sides) {
    const at = SIZE_BUCKETS.findIndex((b) => side < b.below);
    sizes[at]!.count++;
  }
  const extreme = (order: 'ASC' | 'DESC') =>
    (db.prepare(`SELECT width, height FROM images WHERE status = 'active' ORDER BY width * height ${order}, id LIMIT 1`).get() as { width: number; height: number } | undefined) ?? null;

  return {
    projectName: nodePath.basename(projectPath).replace(/\.seedbed$/i, ''),
    images: summary.images,
    active: summary.active,
    excluded: summary.excluded,
    unlabeled: summary.unlabeled,
    classes,
    imbalanceRatio,
    splits: summary.bySplit,
    formats,
    // Empty buckets at the ends say nothing; the middle ones show the gaps.
    sizes: trimEmpty(sizes),
    smallest: extreme('ASC'),
    largest: extreme('DESC'),
    findings: findingCounts(db),
    lastCheck: lastCheck(db),
    generatedAt: Date.now(),
  };
}

function trimEmpty<T extends { count: number }>(list: T[]): T[] {
  let start = 0;
  let end = list.length;
  while (start < end && list[start]!.count === 0) start++;
  while (end > start && list[end - 1]!.count === 0) end--;
  return list.slice(start, end);
}
