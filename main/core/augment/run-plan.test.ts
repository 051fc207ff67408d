/**
 * planRun: what a run trains on after rebalancing and augmentation, per image and per class,
 * without pixels or a database.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NO_AUGMENT } from '../../../shared/contract/augment.ts';
import { AUGMENT_PRESETS } from '../../../shared/domain/augment-presets.ts';
import { restoreUndersample } from './balance.ts';
import { planRun, runAugmentation, runPlanOf, type PlanImage } from './run-plan.ts';

function images(counts: Record<string, number>): PlanImage[] {
  const out: PlanImage[] = [];
  let id = 1;
  for (const [className, n] of Object.entries(counts)) {
    for (let i = 0; i < n; i++, id++) out.push({ imageId: id, sha256: id.toString(16).padStart(64, '0'), className, derived: false });
  }
  return out;
}

const CLASSES = ['big', 'mid', 'small'];
const SET = images({ big: 20, mid: 10, small: 4 });

test('K views for every image: each trains as 1 + K examples, and nothing is rebalanced', () => {
  const run = planRun(SET, CLASSES, { balance: { strategy: 'none' }, augment: { policy: AUGMENT_PRESETS.natural, views: 3 }, seed: 1 });
  assert.equal(run.kept.length, 34);
  assert.ok(SET.every((i) => run.viewsOf.get(i.imageId) === 3), 'every image has 3 views');
  assert.deepEqual(run.perClass, { big: 80, mid: 40, small: 16 });
  assert.equal(run.totalViews, 102);
  assert.match(run.plan.notes.join(' '), /Every training image also trains as 3 augmented views \(natural\); validation and test images never do\./);
});

test('oversampling adds copies to the small classes up to the largest, each copy a view; with K views each copy is 1 + K examples', () => {
  const plain = planRun(SET, CLASSES, { balance: { strategy: 'oversample' }, augment: NO_AUGMENT, seed: 1 });
  assert.deepEqual(plain.perClass, { big: 20, mid: 20, small: 20 });
  assert.equal(plain.augmentation.policy?.name, 'natural', 'oversampling without a policy uses the natural preset');
  assert.match(plain.plan.notes[0]!, /natural-photos augmentation, since none is chosen/);
  const smallViews = SET.filter((i) => i.className === 'small').map((i) => plain.viewsOf.get(i.imageId));
  assert.deepEqual(smallViews.sort(), [4, 4, 4, 4], '16 extra views spread evenly over 4 images');
  assert.ok(SET.filter((i) => i.className === 'big').every((i) => !plain.viewsOf.has(i.imageId)), 'the largest class gets no views');

  const withViews = planRun(SET, CLASSES, { balance: { strategy: 'oversample' }, augment: { policy: AUGMENT_PRESETS.microscopy, views: 1 }, seed: 1 });
  assert.deepEqual(withViews.perClass, { big: 40, mid: 40, small: 40 });
  assert.equal(withViews.viewsOf.get(SET.find((i) => i.className === 'small')!.imageId), (1 + 4) * 2 - 1);
  assert.equal(withViews.augmentation.policy?.name, 'microscopy');
});

test('undersampling keeps the dataset, leaves out exactly the planned images, and the same seed leaves out the same ones', () => {
  const run = planRun(SET, CLASSES, { balance: { strategy: 'undersample' }, augment: NO_AUGMENT, seed: 4 });
  assert.equal(run.plan.target, 10, 'median class');
  assert.deepEqual(run.perClass, { big: 10, mid: 10, small: 4 });
  assert.equal(run.dropped.length, 10);
  const all = SET.map((i) => i.imageId);
  assert.deepEqual(restoreUndersample(run.kept.map((i) => i.imageId), run.dropped), all, 'kept + dropped is every image');
  assert.deepEqual(planRun(SET, CLASSES, { balance: { strategy: 'undersample' }, augment: NO_AUGMENT, seed: 4 }).dropped, run.dropped);
  assert.notDeepEqual(planRun(SET, CLASSES, { balance: { strategy: 'undersample' }, augment: NO_AUGMENT, seed: 5 }).dropped, run.dropped, 'another seed, other images');
  const stored = runPlanOf(run);
  assert.deepEqual(stored.examples, { total: 24, images: 24, views: 0, dropped: 10, derived: 0 });
  assert.deepEqual(stored.droppedImageIds, run.dropped);
});

test('a policy with 0 views does nothing unless oversampling, and says so', () => {
  const idle = runAugmentation({ policy: AUGMENT_PRESETS.xray, views: 0 }, { strategy: 'weights' });
  assert.equal(idle.policy, null);
  assert.match(idle.notes.join(' '), /xray augmentation is chosen with 0 views per image, so no image is augmented/);
  const over = runAugmentation({ policy: AUGMENT_PRESETS.xray, views: 0 }, { strategy: 'oversample+weights' });
  assert.equal(over.policy?.name, 'xray', 'oversampling uses the chosen policy');
  assert.deepEqual(over.notes, []);
});
