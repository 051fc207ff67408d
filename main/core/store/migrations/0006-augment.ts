import type { Migration } from '../migrate.ts';

/**
 * Augmentation and rebalancing:
 * - runs.plan: what a run trained on after rebalancing and augmentation (RunPlan as JSON):
 *   the balance plan, the views per image, the images undersampling left out.
 * - images.derivation: for a derived image (images.derived_from set by materialising an
 *   augmented copy), how it was made: the policy, seed and view number, as JSON.
 * Augmented views themselves are rows of `embeddings` whose view is `aug:<policy>:<seed>:<n>`.
 */
export const migration0006: Migration = {
  version: 6,
  name: 'augment',
  up: `
    ALTER TABLE runs ADD COLUMN plan TEXT;
    ALTER TABLE images ADD COLUMN derivation TEXT;
  `,
};
