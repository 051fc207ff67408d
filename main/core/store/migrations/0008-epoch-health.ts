import type { Migration } from '../migrate.ts';

/**
 * Training health per epoch (EpochMetrics.health as JSON): gradient norms and update ratios
 * per layer, the share of dead ReLUs, whether anything overflowed. Null for epochs recorded
 * before it was measured.
 */
export const migration0008: Migration = {
  version: 8,
  name: 'epoch-health',
  up: `
    ALTER TABLE run_epochs ADD COLUMN health TEXT;
  `,
};
