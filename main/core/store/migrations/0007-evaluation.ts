import type { Migration } from '../migrate.ts';

/**
 * Evaluation stored with a run (JSON): its calibration (temperature, abstention threshold)
 * used by predict and export, its robustness report and its cross-validation report.
 * Explanations are cached as files in the run's folder, not here.
 */
export const migration0007: Migration = {
  version: 7,
  name: 'evaluation',
  up: `
    ALTER TABLE runs ADD COLUMN calibration TEXT;
    ALTER TABLE runs ADD COLUMN robustness TEXT;
    ALTER TABLE runs ADD COLUMN crossval TEXT;
  `,
};
