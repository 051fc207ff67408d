import type { Migration } from '../migrate.ts';

/**
 * Data cleaning: what the detectors find (a finding is about one image or a group of them),
 * and the per-content image statistics they reuse. A finding's key is its kind plus the
 * sorted content hashes of its images (or, for files that could not be imported, their
 * sorted paths), so a finding the user dismissed is recognised, and
 * stays dismissed, when its detector runs again.
 */
export const migration0005: Migration = {
  version: 5,
  name: 'findings',
  up: `
    CREATE TABLE findings (
      id INTEGER PRIMARY KEY,
      kind TEXT NOT NULL CHECK (kind IN ('exact_duplicate', 'near_duplicate', 'corrupt', 'blurry', 'dark', 'bright',
        'low_information', 'too_small', 'odd_aspect', 'grayscale', 'outlier', 'label_issue', 'class_overlap')),
      key TEXT NOT NULL,
      score REAL NOT NULL,
      explanation TEXT NOT NULL,
      suggestion TEXT,                    -- JSON: what to do about it (exclude, relabel to a class, keep one of a group)
      files TEXT,                         -- JSON paths, for findings about files that never became images (corrupt ones)
      state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'fixed', 'dismissed')),
      detected_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      UNIQUE (kind, key)
    ) STRICT;
    CREATE INDEX findings_state_kind ON findings(state, kind);

    CREATE TABLE finding_images (
      finding_id INTEGER NOT NULL REFERENCES findings(id) ON DELETE CASCADE,
      image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
      position INTEGER NOT NULL,
      PRIMARY KEY (finding_id, image_id)
    ) STRICT;
    CREATE INDEX finding_images_image ON finding_images(image_id);

    -- sharpness, brightness, hashes… of one content (image-stats.ts), computed once
    CREATE TABLE image_stats (
      sha256 TEXT PRIMARY KEY,
      stats TEXT NOT NULL,                -- JSON ImageStats
      computed_at INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
  `,
};
