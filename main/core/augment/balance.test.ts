/**
 * The rebalancing planner on TrashNet-like training counts: each strategy's per-class counts
 * worked out by hand, weights equal to scikit-learn's 'balanced', the oversampling cap and its
 * note, and the seeded choices: undersampling drops exactly what the plan says, independent
 * of input order, and is undone exactly; views are spread evenly.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { balanceConfigSchema, type BalancePlan } from '../../../shared/contract/balance.ts';
import { CoreError } from '../errors.ts';
import { assignViews, chooseUndersample, planBalance, restoreUndersample, type BalanceItem } from './balance.ts';

const TRASHNET = [
  { name: 'cardboard', train: 282 },
  { name: 'glass', train: 351 },
  { name: 'metal', train: 287 },
  { name: 'paper', train: 416 },
  { name: 'plastic', train: 337 },
  { name: 'trash', train: 30 },
];
const TOTAL = 1703;

function byName(plan: BalancePlan): Record<string, BalancePlan['classes'][number]> {
  return Object.fromEntries(plan.classes.map((c) => [c.name, c]));
}

function column(plan: BalancePlan, field: 'planned' | 'augmentedViews' | 'dropped'): Record<string, number> {
  return Object.fromEntries(plan.classes.map((c) => [c.name, c[field]]));
}

/** Fake training images whose hashes are real sha256 digests of distinct contents. */
function itemsFor(counts: readonly { name: string; train: number }[]): BalanceItem[] {
  const items: BalanceItem[] = [];
  let id = 1;
  for (const c of counts) {
    for (let i = 0; i < c.train; i++) {
      items.push({ imageId: id++, className: c.name, sha256: createHash('sha256').update(`${c.name}/${i}.jpg`).digest('hex') });
    }
  }
  return items;
}

/** A seeded Fisher–Yates shuffle, so the "shuffled input" really is in another order. */
function shuffled<T>(values: readonly T[], seed: number): T[] {
  const out = [...values];
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: expected ${expected}, got ${actual}`);
}

test("'none' is the identity: every class keeps its count, weight 1", () => {
  const plan = planBalance(TRASHNET, { strategy: 'none' }, 1);
  for (const c of plan.classes) {
    const have = TRASHNET.find((t) => t.name === c.name)!.train;
    assert.ok(
      c.have === have && c.planned === have && c.augmentedViews === 0 && c.dropped === 0 && c.weight === 1,
      `${c.name} should be untouched, got ${JSON.stringify(c)}`,
    );
  }
  assert.deepEqual(plan.classes.map((c) => c.name), TRASHNET.map((c) => c.name), 'classes stay in the given order');
});

test('oversample to the largest class, with the per-image view cap and its note', () => {
  const plan = planBalance(TRASHNET, { strategy: 'oversample' }, 1);
  assert.equal(plan.target, 416, 'default oversampling target is the largest class (paper 416)');
  assert.deepEqual(
    column(plan, 'augmentedViews'),
    { cardboard: 134, glass: 65, metal: 129, paper: 0, plastic: 79, trash: 240 },
    'views fill each class up to 416, trash capped at 30 × 8',
  );
  assert.deepEqual(
    column(plan, 'planned'),
    { cardboard: 416, glass: 416, metal: 416, paper: 416, plastic: 416, trash: 270 },
    'planned = have + views',
  );
  assert.ok(plan.classes.every((c) => c.dropped === 0 && c.weight === 1), 'oversampling alone neither drops nor weighs');
  assert.ok(
    plan.notes.includes('trash has 30 images; 8 views each give at most 270, short of 416.'),
    `the cap note names trash, got ${JSON.stringify(plan.notes)}`,
  );
  assert.ok(!plan.notes.some((n) => n.startsWith('cardboard has')), 'no cap note where the cap does not bind');
});

test('a larger view cap lets the minority class reach the target, and the note goes', () => {
  const plan = planBalance(TRASHNET, { strategy: 'oversample', maxViewsPerImage: 20 }, 1);
  const trash = byName(plan).trash!;
  assert.ok(trash.augmentedViews === 386 && trash.planned === 416, `trash gets 386 views to reach 416, got ${JSON.stringify(trash)}`);
  assert.ok(!plan.notes.some((n) => n.includes('short of')), `no cap note, got ${JSON.stringify(plan.notes)}`);
});

test('undersample to the median class: majority classes cut to it, nothing added', () => {
  const plan = planBalance(TRASHNET, { strategy: 'undersample' }, 1);
  // Sorted: 30 282 287 337 351 416; median (287 + 337) / 2 = 312.
  assert.equal(plan.target, 312, 'default undersampling target is the median class');
  assert.deepEqual(
    column(plan, 'dropped'),
    { cardboard: 0, glass: 39, metal: 0, paper: 104, plastic: 25, trash: 0 },
    'only classes above 312 lose images',
  );
  assert.deepEqual(
    column(plan, 'planned'),
    { cardboard: 282, glass: 312, metal: 287, paper: 312, plastic: 312, trash: 30 },
    'planned = have − dropped',
  );
  assert.ok(plan.classes.every((c) => c.augmentedViews === 0 && c.weight === 1), 'undersampling neither adds nor weighs');
  assert.ok(plan.notes.some((n) => n.includes('trash (30)') && n.includes('never adds')), `a note says trash stays small: ${JSON.stringify(plan.notes)}`);
});

test("weights equal scikit-learn's 'balanced': n_total / (k × n_class)", () => {
  const plan = planBalance(TRASHNET, { strategy: 'weights' }, 1);
  const w = byName(plan);
  // By hand: 1703 / (6 × 282) = 1703 / 1692; 1703 / (6 × 30) = 1703 / 180; 1703 / (6 × 416) = 1703 / 2496.
  close(w.cardboard!.weight, 1.0065011820330969, 'cardboard weight');
  close(w.trash!.weight, 9.461111111111111, 'trash weight');
  close(w.paper!.weight, 0.6822916666666666, 'paper weight');
  for (const c of plan.classes) close(c.weight, TOTAL / (6 * c.have), `${c.name} weight`);
  // Balanced weights make every class weigh n_total / k in the loss.
  for (const c of plan.classes) close(c.weight * c.planned, TOTAL / 6, `${c.name} weighted count`);
  assert.ok(plan.classes.every((c) => c.planned === c.have && c.augmentedViews === 0 && c.dropped === 0), 'weights change no counts');
});

test('oversample+weights: weights are computed on the counts after oversampling', () => {
  const plan = planBalance(TRASHNET, { strategy: 'oversample+weights' }, 1);
  const w = byName(plan);
  // After oversampling: five classes at 416 and trash at 270, total 2350.
  assert.deepEqual(column(plan, 'planned'), { cardboard: 416, glass: 416, metal: 416, paper: 416, plastic: 416, trash: 270 }, 'oversampled counts');
  close(w.paper!.weight, 2350 / 2496, 'paper weight after oversampling');
  close(w.cardboard!.weight, 2350 / 2496, 'cardboard weight is that of the class it now equals');
  close(w.trash!.weight, 2350 / 1620, 'trash weight after oversampling');
  assert.ok(w.trash!.weight < 9, `trash needs far less weight once oversampled, got ${w.trash!.weight}`);
});

test('a target given as a number; mean target', () => {
  const over = planBalance(TRASHNET, { strategy: 'oversample', target: 300 }, 1);
  assert.equal(over.target, 300, 'numeric target used as is');
  assert.deepEqual(
    column(over, 'planned'),
    { cardboard: 300, glass: 351, metal: 300, paper: 416, plastic: 337, trash: 270 },
    'oversampling to 300 raises only the classes below it and never cuts',
  );
  assert.ok(over.notes.includes('trash has 30 images; 8 views each give at most 270, short of 300.'), `cap note: ${JSON.stringify(over.notes)}`);

  const under = planBalance(TRASHNET, { strategy: 'undersample', target: 300 }, 1);
  assert.deepEqual(column(under, 'dropped'), { cardboard: 0, glass: 51, metal: 0, paper: 116, plastic: 37, trash: 0 }, 'undersampling to 300');

  const mean = planBalance(TRASHNET, { strategy: 'undersample', target: 'mean' }, 1);
  assert.equal(mean.target, 284, 'mean of the six classes, 1703 / 6 = 283.8, rounds to 284');

  const none = planBalance(TRASHNET, { strategy: 'undersample', target: 1000 }, 1);
  assert.ok(none.classes.every((c) => c.dropped === 0), 'a target above every class drops nothing');
});

test('a class with no training images: planned 0, a note, and it does not skew the target or weights', () => {
  const counts = [...TRASHNET, { name: 'compost', train: 0 }];
  for (const strategy of ['oversample', 'undersample', 'weights', 'oversample+weights'] as const) {
    const plan = planBalance(counts, { strategy }, 1);
    const compost = byName(plan).compost!;
    assert.ok(compost.planned === 0 && compost.augmentedViews === 0 && compost.dropped === 0, `${strategy}: compost stays at 0`);
    assert.ok(plan.notes.some((n) => n.startsWith('compost has no training images')), `${strategy}: note about compost, got ${JSON.stringify(plan.notes)}`);
  }
  assert.equal(planBalance(counts, { strategy: 'undersample' }, 1).target, 312, 'the median ignores the empty class');
  const weights = planBalance(counts, { strategy: 'weights' }, 1);
  close(byName(weights).trash!.weight, TOTAL / (6 * 30), 'k counts only classes with images');
});

test('the schema and planner refuse bad settings in words', () => {
  for (const bad of [
    { strategy: 'oversample', target: 0 },
    { strategy: 'oversample', target: 1.5 },
    { strategy: 'oversample', target: 'min' },
    { strategy: 'oversample', maxViewsPerImage: 33 },
    { strategy: 'smote' },
    { strategy: 'weights', extra: true },
  ]) {
    assert.ok(!balanceConfigSchema.safeParse(bad).success, `schema refuses ${JSON.stringify(bad)}`);
  }
  assert.ok(balanceConfigSchema.safeParse({ strategy: 'oversample', target: 1 }).success, 'target 1 is allowed');
  assert.throws(
    () => planBalance(TRASHNET, { strategy: 'oversample', target: 0 }, 1),
    (e: unknown) => e instanceof CoreError && e.code === 'invalid_input' && /target/.test(e.message),
    'planBalance refuses a target of 0',
  );
  assert.throws(
    () => planBalance([{ name: 'a', train: 3 }, { name: 'a', train: 4 }], { strategy: 'none' }, 1),
    (e: unknown) => e instanceof CoreError && /twice/.test(e.message),
    'duplicate class names are refused',
  );
});

test('undersampling is deterministic, order-independent, exact, and undone exactly', () => {
  const items = itemsFor(TRASHNET);
  const plan = planBalance(TRASHNET, { strategy: 'undersample' }, 7);
  const first = chooseUndersample(items, plan, 7);
  assert.deepEqual(chooseUndersample(items, plan, 7), first, 'same seed, same choice');
  assert.deepEqual(chooseUndersample(shuffled(items, 3), plan, 7), first, 'shuffled input, same choice');
  const other = chooseUndersample(items, plan, 8);
  assert.notDeepEqual(other.drop, first.drop, 'another seed drops other images');
  assert.equal(other.drop.length, first.drop.length, 'another seed drops as many');

  const classOf = new Map(items.map((i) => [i.imageId, i.className]));
  for (const c of plan.classes) {
    const dropped = first.drop.filter((id) => classOf.get(id) === c.name).length;
    assert.equal(dropped, c.dropped, `${c.name}: exactly plan.dropped images dropped`);
  }
  const keep = new Set(first.keep);
  assert.ok(first.drop.every((id) => !keep.has(id)), 'keep and drop are disjoint');
  const allIds = items.map((i) => i.imageId).sort((a, b) => a - b);
  assert.deepEqual([...first.keep, ...first.drop].sort((a, b) => a - b), allIds, 'keep ∪ drop is the input');
  assert.deepEqual(restoreUndersample(first.keep, first.drop), allIds, 'restoring from the drop list gives back the identical set');
});

test('undersampling refuses items that do not match the plan', () => {
  const items = itemsFor(TRASHNET);
  const plan = planBalance(TRASHNET, { strategy: 'undersample' }, 1);
  assert.throws(
    () => chooseUndersample(items.slice(1), plan, 1),
    (e: unknown) => e instanceof CoreError && /plan again/.test(e.message),
    'one image fewer than planned is refused',
  );
  assert.throws(
    () => chooseUndersample([...items, { imageId: 99999, sha256: 'x', className: 'compost' }], plan, 1),
    (e: unknown) => e instanceof CoreError && /compost/.test(e.message),
    'an unknown class is refused',
  );
});

test('views are spread evenly over a seeded order, add up to the plan, and are deterministic', () => {
  const items = itemsFor(TRASHNET);
  const plan = planBalance(TRASHNET, { strategy: 'oversample' }, 5);
  const views = assignViews(items, plan, 5);
  assert.deepEqual(assignViews(shuffled(items, 11), plan, 5), views, 'shuffled input, same assignment');
  assert.notDeepEqual(assignViews(items, plan, 6), views, 'another seed spreads the odd views differently');

  const perImage = new Map(views.map((v) => [v.imageId, v.views]));
  for (const c of plan.classes) {
    const counts = items.filter((i) => i.className === c.name).map((i) => perImage.get(i.imageId) ?? 0);
    const total = counts.reduce((a, b) => a + b, 0);
    assert.equal(total, c.augmentedViews, `${c.name}: views add up to the plan`);
    const spread = Math.max(...counts) - Math.min(...counts);
    assert.ok(spread <= 1, `${c.name}: views per image differ by at most 1, got a spread of ${spread}`);
    assert.ok(Math.max(...counts) <= 8, `${c.name}: no image gets more than 8 views`);
  }
  const trashViews = items.filter((i) => i.className === 'trash').map((i) => perImage.get(i.imageId));
  assert.ok(trashViews.every((v) => v === 8), 'every trash image gets exactly 8 views at the cap');
  assert.ok(views.every((v) => v.views >= 1 && v.className !== 'paper'), 'only images with views are listed; paper gets none');
});
