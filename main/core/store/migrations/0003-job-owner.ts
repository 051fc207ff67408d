import type { Migration } from '../migrate.ts';

/**
 * Which process runs a job: two processes may have one project open at once (`seedbed serve`
 * importing while `seedbed info` reads the same file), so a 'running' job is only left behind
 * by a crash when its owner is gone. Jobs recorded before this migration have no owner.
 */
export const migration0003: Migration = {
  version: 3,
  name: 'job-owner',
  up: `
    ALTER TABLE jobs ADD COLUMN owner_pid INTEGER;   -- process id of the Seedbed that runs the job
    ALTER TABLE jobs ADD COLUMN owner_host TEXT;     -- os.hostname() of its machine
  `,
};
