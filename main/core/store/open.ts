import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import fs from 'node:fs';
import nodePath from 'node:path';
import { CoreError } from '../errors.ts';
import { migrate, ProjectTooNewError } from './migrate.ts';

export const PROJECT_EXTENSION = '.seedbed';

export interface Store {
  db: Db;
  /** Absolute path of the .seedbed file. */
  path: string;
  /** Sibling folder for derived files (thumbnails, models): `name.seedbed.d/`. */
  dataDir: string;
  schemaVersion: number;
  close(): void;
}

export interface OpenOptions {
  /** Create the file when missing (else a missing file is an error). */
  create?: boolean;
  /** Path to a better-sqlite3 binding built for another runtime (Electron). */
  nativeBinding?: string;
}

/** The folder beside a project file that holds its derived files. */
export function dataDirFor(projectPath: string): string {
  return `${projectPath}.d`;
}

/** Opens (and migrates) a project file: WAL, foreign keys, STRICT tables. */
export function openStore(projectPath: string, options: OpenOptions = {}): Store {
  const path = nodePath.resolve(projectPath);
  const exists = fs.existsSync(path);
  if (!exists && !options.create) {
    throw new CoreError('not_found', `There is no project at ${path}.`);
  }
  if (exists && options.create) {
    throw new CoreError('conflict', `A file already exists at ${path}; open it instead, or choose another name.`);
  }
  if (!exists) {
    const dir = nodePath.dirname(path);
    if (!fs.existsSync(dir)) throw new CoreError('io_error', `The folder ${dir} does not exist.`);
  }
  let db: Db;
  try {
    db = new Database(path, {
      fileMustExist: !options.create,
      ...(options.nativeBinding ? { nativeBinding: options.nativeBinding } : {}),
    });
  } catch (err) {
    throw new CoreError('io_error', `Seedbed could not open ${path}: ${(err as Error).message}.`);
  }
  try {
    refuseForeignDatabase(db, path);
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    const schemaVersion = migrate(db);
    const dataDir = dataDirFor(path);
    fs.mkdirSync(dataDir, { recursive: true });
    return {
      db,
      path,
      dataDir,
      schemaVersion,
      close: () => {
        if (db.open) db.close();
      },
    };
  } catch (err) {
    db.close();
    if (!exists) {
      for (const f of [path, `${path}-wal`, `${path}-shm`]) fs.rmSync(f, { force: true });
    }
    if (err instanceof ProjectTooNewError) throw new CoreError('project_too_new', err.message);
    if (err instanceof CoreError) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      throw new CoreError('project_unreadable', `${path} is not a Seedbed project (it is not a readable database).`);
    }
    throw new CoreError('io_error', `Seedbed could not prepare ${path}: ${(err as Error).message}.`);
  }
}

/** A database with tables but no Seedbed schema version is someone else's file: never add our tables to it. */
function refuseForeignDatabase(db: Db, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > 0) return;
  const tables = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table'").pluck().get() as number;
  if (tables > 0) {
    throw new CoreError('project_unreadable', `${path} is a database, but not a Seedbed project; Seedbed leaves it untouched.`);
  }
}
