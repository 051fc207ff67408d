import type { Database } from 'better-sqlite3';
import { migration0001 } from './migrations/0001-initial.ts';
import { migration0002 } from './migrations/0002-gallery-indexes.ts';
import { migration0003 } from './migrations/0003-job-owner.ts';
import { migration0004 } from './migrations/0004-training.ts';
import { migration0005 } from './migrations/0005-findings.ts';
import { migration0006 } from './migrations/0006-augment.ts';
import { migration0007 } from './migrations/0007-evaluation.ts';
import { migration0008 } from './migrations/0008-epoch-health.ts';
import { migration0009 } from './migrations/0009-searches.ts';

export interface Migration {
  version: number;
  name: string;
  /** SQL run inside the migration transaction. */
  up: string;
}

/** Every migration, in order. Append new ones; never edit a released one. */
export const MIGRATIONS: readonly Migration[] = [migration0001, migration0002, migration0003, migration0004, migration0005, migration0006, migration0007, migration0008, migration0009];
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export class ProjectTooNewError extends Error {
  constructor(
    readonly found: number,
    readonly supported: number,
  ) {
    super(
      `This project was saved by a newer version of Seedbed (schema ${found}; this version understands up to ${supported}). Update Seedbed to open it.`,
    );
  }
}

/** Applies all pending migrations in one transaction; refuses a database newer than the app. */
export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.length ? migrations[migrations.length - 1]!.version : 0;
  if (current > latest) throw new ProjectTooNewError(current, latest);
  const pending = migrations.filter((m) => m.version > current);
  if (!pending.length) return current;
  db.transaction(() => {
    for (const m of pending) {
      db.exec(m.up);
      db.pragma(`user_version = ${m.version}`);
    }
  })();
  return latest;
}
