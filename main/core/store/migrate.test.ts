import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { after, describe, test } from 'node:test';
import { CoreError } from '../errors.ts';
import { migrate, MIGRATIONS, ProjectTooNewError, SCHEMA_VERSION, type Migration } from './migrate.ts';
import { openStore } from './open.ts';

const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-migrate-test-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;
const tempPath = (name = 'p') => nodePath.join(dir, `${name}-${++files}.seedbed`);

function openRaw(path = tempPath()): Db {
  const db = new Database(path);
  db.pragma('foreign_keys = ON');
  return db;
}

const userVersion = (db: Db) => db.pragma('user_version', { simple: true }) as number;
const tableNames = (db: Db) =>
  db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
const indexNames = (db: Db) =>
  db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name").pluck().all() as string[];

/** A little of everything the first schema holds. */
function seedVersion1(db: Db): void {
  db.exec(`
    INSERT INTO meta (key, value) VALUES ('sample', '0');
    INSERT INTO images (id, path, sha256, width, height, format, bytes, status, added_at) VALUES
      (1, '/photos/glass/a.jpg', 'aa', 320, 240, 'jpeg', 1000, 'active', 10),
      (2, '/photos/metal/b.png', 'bb', 64, 48, 'png', 2000, 'excluded', 11);
    INSERT INTO image_paths (path, image_id, size, mtime_ms, added_at) VALUES
      ('/photos/glass/a.jpg', 1, 1000, 5, 10), ('/copies/a.jpg', 1, 1000, 6, 12), ('/photos/metal/b.png', 2, 2000, 7, 11);
    INSERT INTO classes (id, name, colour, hotkey, position, created_at) VALUES
      (1, 'glass', '#e69f00', 1, 0, 9), (2, 'metal', '#56b4e9', 2, 1, 9);
    INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (1, 1, 'imported', 10), (2, 2, 'human', 20);
    INSERT INTO label_history (image_id, class_id, class_name, source, at) VALUES
      (1, 1, 'glass', 'imported', 10), (2, 2, 'metal', 'human', 20);
    INSERT INTO tags (image_id, key, value) VALUES (1, 'site', 'north');
    INSERT INTO splits (image_id, split, source, updated_at) VALUES (1, 'train', 'imported', 10);
    INSERT INTO jobs (id, kind, title, status, params, started_at) VALUES ('j1', 'import', 'Import', 'done', '{}', 1);
    INSERT INTO import_skips (job_id, path, reason) VALUES ('j1', '/x.jpg', 'empty file');
    INSERT INTO history (description, undo, redo, state, at) VALUES ('Label 1 image as glass', '[]', '[]', 'done', 30);
  `);
}

/** The version-1 columns of every seeded table, to compare before and after a migration. */
function version1Data(db: Db): Record<string, unknown[]> {
  const q = (sql: string) => db.prepare(sql).all();
  return {
    meta: q('SELECT key, value FROM meta ORDER BY key'),
    images: q('SELECT id, path, sha256, width, height, format, bytes, status, orientation, thumb, added_at FROM images ORDER BY id'),
    image_paths: q('SELECT path, image_id, size, mtime_ms, added_at FROM image_paths ORDER BY path'),
    classes: q('SELECT id, name, colour, hotkey, position, created_at FROM classes ORDER BY id'),
    labels: q('SELECT image_id, class_id, source, updated_at FROM labels ORDER BY image_id'),
    label_history: q('SELECT id, image_id, class_id, class_name, source, at FROM label_history ORDER BY id'),
    tags: q('SELECT image_id, key, value FROM tags ORDER BY image_id, key'),
    splits: q('SELECT image_id, split, source, updated_at FROM splits ORDER BY image_id'),
    jobs: q('SELECT id, kind, title, status, params, done, total, result, error, started_at, finished_at FROM jobs ORDER BY id'),
    import_skips: q('SELECT id, job_id, path, reason FROM import_skips ORDER BY id'),
    history: q('SELECT id, description, undo, redo, state, at FROM history ORDER BY id'),
  };
}

describe('migrations', () => {
  test('are numbered 1, 2, 3… in order, each with a name', () => {
    assert.deepEqual(
      MIGRATIONS.map((m) => m.version),
      MIGRATIONS.map((_, i) => i + 1),
    );
    for (const m of MIGRATIONS) assert.match(m.name, /^[a-z0-9-]+$/);
    assert.equal(SCHEMA_VERSION, MIGRATIONS.length);
  });

  test('a new project gets every migration and user_version = the latest', () => {
    const store = openStore(tempPath(), { create: true });
    try {
      assert.equal(userVersion(store.db), SCHEMA_VERSION);
      assert.equal(store.schemaVersion, SCHEMA_VERSION);
      for (const table of ['images', 'image_paths', 'classes', 'labels', 'label_history', 'tags', 'splits', 'jobs', 'history']) {
        assert.ok(tableNames(store.db).includes(table), `table ${table} exists`);
      }
      assert.ok(indexNames(store.db).includes('images_status_path'));
      assert.ok(fs.statSync(store.dataDir).isDirectory(), 'the data folder is created beside the file');
    } finally {
      store.close();
    }
  });

  for (const [index, migration] of MIGRATIONS.entries()) {
    if (index === 0) continue;
    test(`migration ${migration.version} (${migration.name}) keeps the data of a version ${index} project`, () => {
      const db = openRaw();
      try {
        migrate(db, MIGRATIONS.slice(0, 1));
        seedVersion1(db);
        // Bring the seeded project up to the version just before this migration, then apply it.
        migrate(db, MIGRATIONS.slice(0, index));
        assert.equal(userVersion(db), index);
        const before = version1Data(db);
        assert.equal(migrate(db, MIGRATIONS.slice(0, index + 1)), migration.version);
        assert.equal(userVersion(db), migration.version);
        assert.deepEqual(version1Data(db), before);
        assert.deepEqual(db.pragma('foreign_key_check'), []);
        assert.deepEqual(db.pragma('integrity_check', { simple: true }), 'ok');
      } finally {
        db.close();
      }
    });
  }

  test('migration 2 lets the default gallery walk one covering index in path order', () => {
    const db = openRaw();
    try {
      migrate(db, MIGRATIONS.slice(0, 2));
      assert.ok(!indexNames(db).includes('images_status'), 'the old status index is dropped');
      const plan = (db.prepare(
        "EXPLAIN QUERY PLAN SELECT id FROM images WHERE status = 'active' ORDER BY path, id LIMIT 200 OFFSET 1000",
      ).all() as { detail: string }[]).map((r) => r.detail).join(' | ');
      assert.match(plan, /COVERING INDEX images_status_path/);
      assert.doesNotMatch(plan, /TEMP B-TREE/);
    } finally {
      db.close();
    }
  });

  test('migration 3 gives jobs an owner: a version 2 project keeps its jobs, with none recorded', () => {
    const db = openRaw();
    try {
      migrate(db, MIGRATIONS.slice(0, 1));
      seedVersion1(db);
      migrate(db, MIGRATIONS.slice(0, 2));
      db.exec(`INSERT INTO jobs (id, kind, title, status, params, done, total, started_at) VALUES ('j2', 'import', 'Import more', 'running', '{"split":"auto"}', 3, 9, 2)`);
      const before = version1Data(db);
      assert.equal(migrate(db, MIGRATIONS.slice(0, 3)), 3);
      assert.deepEqual(version1Data(db), before);
      const columns = db.prepare("SELECT name, type, \"notnull\" FROM pragma_table_info('jobs') WHERE name LIKE 'owner_%' ORDER BY cid").all();
      assert.deepEqual(columns, [
        { name: 'owner_pid', type: 'INTEGER', notnull: 0 },
        { name: 'owner_host', type: 'TEXT', notnull: 0 },
      ]);
      assert.deepEqual(db.prepare('SELECT id, owner_pid, owner_host FROM jobs ORDER BY id').all(), [
        { id: 'j1', owner_pid: null, owner_host: null },
        { id: 'j2', owner_pid: null, owner_host: null },
      ]);
      db.prepare("UPDATE jobs SET owner_pid = 4242, owner_host = 'lab-pc' WHERE id = 'j2'").run();
      assert.deepEqual(db.prepare("SELECT owner_pid, owner_host FROM jobs WHERE id = 'j2'").get(), { owner_pid: 4242, owner_host: 'lab-pc' });
      assert.throws(() => db.prepare("UPDATE jobs SET owner_pid = 'someone' WHERE id = 'j2'").run(), /cannot store TEXT value in INTEGER column jobs.owner_pid/);
    } finally {
      db.close();
    }
  });

  test('migration 5 adds findings that name their kind exactly, and follow their images', () => {
    const db = openRaw();
    try {
      migrate(db, MIGRATIONS.slice(0, 1));
      seedVersion1(db);
      migrate(db, MIGRATIONS.slice(0, 4));
      const before = version1Data(db);
      assert.equal(migrate(db, MIGRATIONS.slice(0, 5)), 5);
      assert.deepEqual(version1Data(db), before);
      db.exec(`INSERT INTO findings (id, kind, key, score, explanation, detected_at, updated_at) VALUES (1, 'blurry', 'k', 0.9, 'Blurry.', 1, 1)`);
      db.exec('INSERT INTO finding_images (finding_id, image_id, position) VALUES (1, 1, 0)');
      assert.throws(() => db.exec(`INSERT INTO findings (kind, key, score, explanation, detected_at, updated_at) VALUES ('fuzzy', 'k2', 1, 'x', 1, 1)`), /CHECK constraint failed/);
      assert.throws(() => db.exec(`INSERT INTO findings (kind, key, score, explanation, detected_at, updated_at) VALUES ('blurry', 'k', 1, 'x', 1, 1)`), /UNIQUE constraint failed/);
      db.exec('DELETE FROM images WHERE id = 1');
      assert.equal(db.prepare('SELECT COUNT(*) FROM finding_images').pluck().get(), 0);
    } finally {
      db.close();
    }
  });

  test('migration 4 adds training tables and the model label source; labels, history and indexes survive the rebuild', () => {
    const db = openRaw();
    try {
      migrate(db, MIGRATIONS.slice(0, 1));
      seedVersion1(db);
      migrate(db, MIGRATIONS.slice(0, 3));
      const before = version1Data(db);
      assert.equal(migrate(db, MIGRATIONS.slice(0, 4)), 4);
      assert.deepEqual(version1Data(db), before);
      for (const table of ['embeddings', 'runs', 'run_epochs', 'predictions']) assert.ok(tableNames(db).includes(table), table);
      assert.ok(indexNames(db).includes('labels_class') && indexNames(db).includes('label_history_image'), 'label indexes rebuilt');
      db.prepare("UPDATE labels SET source = 'model' WHERE image_id = 1").run();
      db.prepare("INSERT INTO label_history (image_id, class_id, class_name, source, at) VALUES (1, 1, 'glass', 'model', 40)").run();
      assert.throws(() => db.prepare("UPDATE labels SET source = 'guess' WHERE image_id = 1").run(), /CHECK constraint failed/);
      // The rebuilt tables keep their foreign keys: deleting an image still takes its label along.
      db.prepare('DELETE FROM images WHERE id = 2').run();
      assert.equal(db.prepare('SELECT COUNT(*) FROM labels WHERE image_id = 2').pluck().get(), 0);
      assert.deepEqual(db.pragma('foreign_key_check'), []);
      db.prepare('UPDATE images SET derived_from = 1 WHERE id = 1').run();
    } finally {
      db.close();
    }
  });

  test('migrating an up-to-date project changes nothing', () => {
    const db = openRaw();
    try {
      migrate(db);
      seedVersion1(db);
      const before = version1Data(db);
      assert.equal(migrate(db), SCHEMA_VERSION);
      assert.deepEqual(version1Data(db), before);
    } finally {
      db.close();
    }
  });

  test('all pending migrations run in one transaction: a failing one leaves the project as it was', () => {
    const db = openRaw();
    try {
      migrate(db, MIGRATIONS.slice(0, 1));
      seedVersion1(db);
      const before = version1Data(db);
      const tablesBefore = tableNames(db);
      const indexesBefore = indexNames(db);
      const next = SCHEMA_VERSION + 1;
      const broken: Migration[] = [
        ...MIGRATIONS,
        { version: next, name: 'adds-a-table', up: "CREATE TABLE extra (x INTEGER) STRICT; UPDATE images SET status = 'excluded';" },
        { version: next + 1, name: 'broken', up: 'CREATE TABLE extra2 (y INTEGER) STRICT; THIS IS NOT SQL;' },
      ];
      assert.throws(() => migrate(db, broken), /syntax error/);
      assert.equal(userVersion(db), 1, 'user_version is unchanged');
      assert.deepEqual(tableNames(db), tablesBefore, 'no table of a pending migration remains');
      assert.deepEqual(indexNames(db), indexesBefore, 'the real pending migrations were rolled back too');
      assert.deepEqual(version1Data(db), before);
      // The project still migrates normally afterwards.
      assert.equal(migrate(db), SCHEMA_VERSION);
    } finally {
      db.close();
    }
  });

  test('a project from a newer Seedbed is refused with a clear message and left untouched', () => {
    const path = tempPath('newer');
    const db = openRaw(path);
    migrate(db);
    seedVersion1(db);
    db.pragma(`user_version = ${SCHEMA_VERSION + 3}`);
    assert.throws(() => migrate(db), (err: unknown) => {
      assert.ok(err instanceof ProjectTooNewError);
      assert.equal(err.found, SCHEMA_VERSION + 3);
      assert.equal(err.supported, SCHEMA_VERSION);
      return true;
    });
    db.close();

    assert.throws(
      () => openStore(path),
      (err: unknown) => {
        assert.ok(err instanceof CoreError);
        assert.equal(err.code, 'project_too_new');
        assert.match(err.message, /newer version of Seedbed/);
        assert.match(err.message, /Update Seedbed/);
        return true;
      },
    );
    assert.ok(fs.existsSync(path), 'the newer project file is kept');
    const again = openRaw(path);
    assert.equal(userVersion(again), SCHEMA_VERSION + 3);
    assert.equal(again.prepare('SELECT count(*) FROM images').pluck().get(), 2);
    again.close();
  });
});

describe('openStore', () => {
  test('refuses a database that is not a Seedbed project and leaves it untouched', () => {
    const path = tempPath();
    const foreign = openRaw(path);
    foreign.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
    foreign.close();
    const before = fs.readFileSync(path);
    assert.throws(
      () => openStore(path),
      (err: unknown) => {
        assert.ok(err instanceof CoreError);
        assert.equal(err.code, 'project_unreadable');
        assert.match(err.message, /not a Seedbed project/);
        return true;
      },
    );
    assert.deepEqual(fs.readFileSync(path), before, 'the file is byte-for-byte unchanged');
  });

  test('uses WAL and enforces foreign keys', () => {
    const store = openStore(tempPath(), { create: true });
    try {
      assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1);
      assert.throws(
        () => store.db.prepare("INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (99, 99, 'human', 1)").run(),
        /FOREIGN KEY constraint failed/,
      );
    } finally {
      store.close();
    }
  });

  test('every table is STRICT: a string in an INTEGER column is refused', () => {
    const store = openStore(tempPath(), { create: true });
    try {
      const tables = store.db.prepare("SELECT name, strict FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%'").all() as {
        name: string;
        strict: number;
      }[];
      assert.ok(tables.length >= 10);
      for (const t of tables) assert.equal(t.strict, 1, `table ${t.name} is STRICT`);
      assert.throws(
        () =>
          store.db
            .prepare("INSERT INTO images (path, sha256, width, height, format, bytes, added_at) VALUES ('/a.jpg', 'x', 'wide', 1, 'jpeg', 1, 1)")
            .run(),
        /cannot store TEXT value in INTEGER column images.width/,
      );
    } finally {
      store.close();
    }
  });

  test('reopening a project keeps its data and runs no migration twice', () => {
    const path = tempPath();
    const first = openStore(path, { create: true });
    seedVersion1(first.db);
    const before = version1Data(first.db);
    first.close();
    const second = openStore(path);
    try {
      assert.equal(second.schemaVersion, SCHEMA_VERSION);
      assert.deepEqual(version1Data(second.db), before);
    } finally {
      second.close();
    }
  });

  test('says what is wrong with a missing file, an existing file to create, and a file that is not a project', () => {
    const missing = tempPath('missing');
    assert.throws(() => openStore(missing), (err: unknown) => err instanceof CoreError && err.code === 'not_found' && err.message.includes(missing));

    const existing = tempPath('existing');
    openStore(existing, { create: true }).close();
    assert.throws(() => openStore(existing, { create: true }), (err: unknown) => err instanceof CoreError && err.code === 'conflict');

    const notADb = tempPath('text');
    fs.writeFileSync(notADb, 'This is a shopping list, not a database. '.repeat(200));
    assert.throws(
      () => openStore(notADb),
      (err: unknown) => err instanceof CoreError && err.code === 'project_unreadable' && err.message.includes(notADb),
    );
    assert.equal(fs.readFileSync(notADb, 'utf8').slice(0, 10), 'This is a ', 'a file that is not a project is left alone');
  });
});
