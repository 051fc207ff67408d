import type { Migration } from '../migrate.ts';

/** The foundation: images and their paths, classes, labels with history, tags, splits, jobs, undo. */
export const migration0001: Migration = {
  version: 1,
  name: 'initial',
  up: `
    CREATE TABLE meta (
      key TEXT PRIMARY KEY,
      value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE images (
      id INTEGER PRIMARY KEY,
      path TEXT NOT NULL,                 -- first path this content was imported from
      sha256 TEXT NOT NULL UNIQUE,
      width INTEGER NOT NULL,             -- after EXIF orientation
      height INTEGER NOT NULL,
      format TEXT NOT NULL,               -- jpeg, png, webp, gif, tiff, avif
      bytes INTEGER NOT NULL,
      status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'excluded')),
      orientation INTEGER NOT NULL DEFAULT 1,
      thumb TEXT,                         -- relative to the project's data folder
      added_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX images_path ON images(path);
    CREATE INDEX images_status ON images(status);

    -- every path where an image's content was found; re-imports match on path + size + mtime
    CREATE TABLE image_paths (
      path TEXT PRIMARY KEY,
      image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
      size INTEGER NOT NULL,
      mtime_ms INTEGER NOT NULL,
      added_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX image_paths_image ON image_paths(image_id);

    CREATE TABLE classes (
      id INTEGER PRIMARY KEY,
      name TEXT NOT NULL UNIQUE COLLATE NOCASE,
      colour TEXT NOT NULL,
      hotkey INTEGER UNIQUE CHECK (hotkey BETWEEN 1 AND 9),
      position INTEGER NOT NULL,
      created_at INTEGER NOT NULL
    ) STRICT;

    -- the current label of each labelled image
    CREATE TABLE labels (
      image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
      class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
      source TEXT NOT NULL CHECK (source IN ('human', 'imported', 'pseudo')),
      updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX labels_class ON labels(class_id);

    -- every label change, kept when classes are renamed or deleted (class_name is a snapshot)
    CREATE TABLE label_history (
      id INTEGER PRIMARY KEY,
      image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
      class_id INTEGER REFERENCES classes(id) ON DELETE SET NULL,
      class_name TEXT,                    -- null: label removed
      source TEXT NOT NULL CHECK (source IN ('human', 'imported', 'pseudo')),
      at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX label_history_image ON label_history(image_id);

    CREATE TABLE tags (
      image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
      key TEXT NOT NULL,
      value TEXT NOT NULL,
      PRIMARY KEY (image_id, key)
    ) STRICT;
    CREATE INDEX tags_key_value ON tags(key, value);

    CREATE TABLE splits (
      image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
      split TEXT NOT NULL CHECK (split IN ('train', 'val', 'test')),
      source TEXT NOT NULL CHECK (source IN ('imported', 'assigned', 'manual')),
      updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX splits_split ON splits(split);

    CREATE TABLE jobs (
      id TEXT PRIMARY KEY,
      kind TEXT NOT NULL,
      title TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
      params TEXT NOT NULL,               -- JSON
      done INTEGER NOT NULL DEFAULT 0,
      total INTEGER NOT NULL DEFAULT 0,
      result TEXT,                        -- JSON
      error TEXT,
      started_at INTEGER NOT NULL,
      finished_at INTEGER
    ) STRICT;

    -- files an import could not take, with a reason a person understands
    CREATE TABLE import_skips (
      id INTEGER PRIMARY KEY,
      job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
      path TEXT NOT NULL,
      reason TEXT NOT NULL
    ) STRICT;
    CREATE INDEX import_skips_job ON import_skips(job_id);

    -- the undo stack: each action stores JSON for undo and redo; state 'undone' rows form the redo stack
    CREATE TABLE history (
      id INTEGER PRIMARY KEY,
      description TEXT NOT NULL,
      undo TEXT NOT NULL,
      redo TEXT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('done', 'undone')),
      at INTEGER NOT NULL
    ) STRICT;
  `,
};
