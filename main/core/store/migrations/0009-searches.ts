import type { Migration } from '../migrate.ts';

/**
 * Auto-tune searches. A search keeps what it started from (base config, space, seed, budget),
 * its successive-halving state after the last trial that reported (JSON; enough to resume
 * exactly), the starting settings' own score at full length (baseline), and one row per
 * trial with each rung it ran. Status 'paused' is a search stopped by the user or by Seedbed
 * closing: it resumes from `state`.
 */
export const migration0009: Migration = {
  version: 9,
  name: 'searches',
  up: `
    CREATE TABLE searches (
      id INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('running', 'paused', 'done', 'failed')),
      job_id TEXT,
      seed INTEGER NOT NULL,
      budget TEXT NOT NULL,               -- {"trials":N} or {"minutes":M}
      base TEXT NOT NULL,                 -- the full TrainConfig the trials change
      space TEXT NOT NULL,                -- the parameters varied, with their ranges
      state TEXT NOT NULL,                -- successive-halving state (JSON)
      baseline TEXT,                      -- the base config's TrialRung at the top rung
      data TEXT,                          -- images used and notes (JSON)
      fingerprint TEXT NOT NULL,          -- the splits when the search began
      seconds REAL NOT NULL DEFAULT 0,    -- wall time spent searching, over every resume
      run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
      error TEXT,
      created_at INTEGER NOT NULL,
      finished_at INTEGER
    ) STRICT;

    CREATE TABLE search_trials (
      search_id INTEGER NOT NULL REFERENCES searches(id) ON DELETE CASCADE,
      trial INTEGER NOT NULL,
      config TEXT NOT NULL,               -- the TrainConfig fields this trial changes
      rungs TEXT NOT NULL,                -- TrialRung[] (JSON), fewest epochs first
      error TEXT,
      PRIMARY KEY (search_id, trial)
    ) STRICT, WITHOUT ROWID;
  `,
};
