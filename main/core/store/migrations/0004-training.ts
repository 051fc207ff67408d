import type { Migration } from '../migrate.ts';

/**
 * Transfer learning: cached embeddings, training runs with their per-epoch curves, and the
 * predictions a run makes. Also:
 * - images.derived_from: an image made from another one (an augmented copy, a crop) stays on
 *   its source's side of every split;
 * - a 'model' label source: a label the user accepted from a model's prediction
 *   (model-assisted). SQLite cannot alter a CHECK constraint, so labels and label_history
 *   are rebuilt with the wider one; their rows are copied unchanged.
 */
export const migration0004: Migration = {
  version: 4,
  name: 'training',
  up: `
    ALTER TABLE images ADD COLUMN derived_from INTEGER REFERENCES images(id) ON DELETE CASCADE;
    CREATE INDEX images_derived_from ON images(derived_from) WHERE derived_from IS NOT NULL;

    CREATE TABLE labels_new (
      image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
      class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
      source TEXT NOT NULL CHECK (source IN ('human', 'imported', 'pseudo', 'model')),
      updated_at INTEGER NOT NULL
    ) STRICT;
    INSERT INTO labels_new SELECT image_id, class_id, source, updated_at FROM labels;
    DROP TABLE labels;
    ALTER TABLE labels_new RENAME TO labels;
    CREATE INDEX labels_class ON labels(class_id);

    CREATE TABLE label_history_new (
      id INTEGER PRIMARY KEY,
      image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
      class_id INTEGER REFERENCES classes(id) ON DELETE SET NULL,
      class_name TEXT,
      source TEXT NOT NULL CHECK (source IN ('human', 'imported', 'pseudo', 'model')),
      at INTEGER NOT NULL
    ) STRICT;
    INSERT INTO label_history_new SELECT id, image_id, class_id, class_name, source, at FROM label_history;
    DROP TABLE label_history;
    ALTER TABLE label_history_new RENAME TO label_history;
    CREATE INDEX label_history_image ON label_history(image_id);

    -- one vector per (image content, backbone, view); 'center' is the plain centre crop
    CREATE TABLE embeddings (
      sha256 TEXT NOT NULL,
      backbone TEXT NOT NULL,
      view TEXT NOT NULL,
      dims INTEGER NOT NULL,
      vector BLOB NOT NULL,               -- little-endian float32 × dims
      created_at INTEGER NOT NULL,
      PRIMARY KEY (sha256, backbone, view)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE runs (
      id INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
      job_id TEXT,
      backbone TEXT NOT NULL,
      backend TEXT,                       -- what actually ran, e.g. "wasm (SIMD)"
      workers INTEGER,
      config TEXT NOT NULL,               -- JSON TrainConfig
      classes TEXT NOT NULL,              -- JSON [{id, name}] in output order
      fingerprint TEXT NOT NULL,          -- the labelled, split dataset the run saw
      split_counts TEXT NOT NULL,         -- JSON {train, val, test} per class name
      best_epoch INTEGER,
      metrics TEXT,                       -- JSON {val, test}
      seconds TEXT,                       -- JSON {embed, train, total}
      model_dir TEXT,                     -- relative to the project's data folder
      fine_tuned INTEGER NOT NULL DEFAULT 0,
      error TEXT,
      created_at INTEGER NOT NULL,
      finished_at INTEGER
    ) STRICT;

    CREATE TABLE run_epochs (
      run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      phase TEXT NOT NULL CHECK (phase IN ('head', 'finetune')),
      epoch INTEGER NOT NULL,             -- 1-based within its phase
      train_loss REAL NOT NULL,
      train_accuracy REAL NOT NULL,
      val_loss REAL,
      val_accuracy REAL,
      learning_rate REAL NOT NULL,
      seconds REAL NOT NULL,
      PRIMARY KEY (run_id, phase, epoch)
    ) STRICT;

    CREATE TABLE predictions (
      run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
      class_index INTEGER NOT NULL,       -- into runs.classes
      confidence REAL NOT NULL,
      probabilities BLOB NOT NULL,        -- float32 × classes
      created_at INTEGER NOT NULL,
      PRIMARY KEY (run_id, image_id)
    ) STRICT;
    CREATE INDEX predictions_image ON predictions(image_id);
  `,
};
