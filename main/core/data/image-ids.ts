import type { Database } from 'better-sqlite3';
import { CoreError } from '../errors.ts';

/** The ids once each, in the order first given (a selection may repeat an image). */
export function uniqueIds(ids: readonly number[]): number[] {
  return [...new Set(ids)];
}

/** Throws `not_found`, naming a few of them, when any id is not an image of the project. */
export function requireImages(db: Database, imageIds: readonly number[]): void {
  const missing = db
    .prepare(
      `SELECT j.value FROM json_each(@ids) j
       WHERE NOT EXISTS (SELECT 1 FROM images WHERE id = j.value) ORDER BY j.key LIMIT 6`,
    )
    .pluck()
    .all({ ids: JSON.stringify(imageIds) }) as number[];
  if (!missing.length) return;
  const named = missing.slice(0, 5).join(', ') + (missing.length > 5 ? ', …' : '');
  throw new CoreError(
    'not_found',
    missing.length === 1
      ? `Image ${named} is not in this project; refresh the gallery and try again.`
      : `Images ${named} are not in this project; refresh the gallery and try again.`,
    { missing },
  );
}

/** "1 image", "12 images". */
export function countImages(n: number): string {
  return `${n.toLocaleString('en')} ${n === 1 ? 'image' : 'images'}`;
}
