import type { Migration } from '../migrate.ts';

/**
 * Gallery order within a status: pages of the default (active) gallery walk one covering
 * index in path order instead of visiting every table row. It makes `images_status` redundant.
 */
export const migration0002: Migration = {
  version: 2,
  name: 'gallery-indexes',
  up: `
    CREATE INDEX images_status_path ON images(status, path);
    DROP INDEX images_status;
  `,
};
