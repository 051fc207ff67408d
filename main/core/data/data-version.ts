import type { Database, Statement } from 'better-sqlite3';

const statements = new WeakMap<Database, Statement>();

/**
 * A token that changes whenever the project's data may have changed: `total_changes()`
 * counts this connection's row writes, `data_version` moves when another connection commits.
 * Results computed from the data can be kept for as long as the token stays the same, except
 * inside a transaction, which may yet roll back without the counter going back (see `canCache`).
 */
export function dataVersion(db: Database): string {
  let statement = statements.get(db);
  if (!statement) {
    statement = db.prepare(
      'SELECT total_changes() AS changes, (SELECT data_version FROM pragma_data_version) AS data',
    );
    statements.set(db, statement);
  }
  const { changes, data } = statement.get() as { changes: number; data: number };
  return `${changes}:${data}`;
}

/** Whether a result read now may be kept under the current `dataVersion`. */
export function canCache(db: Database): boolean {
  return !db.inTransaction;
}
