import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../ml/train/prng.ts';
import { DEFAULT_HEAD_SPACE, dimensionsOf, patchToPoint, pointToPatch, validateSpace, withRunChoices, type SearchSpace } from './space.ts';
import { createQuasiRandomSampler, createTpeSampler, ScrambledHalton, type Observation, type SearchSampler } from './sampler.ts';
import { createHalving, modelObservations, restoreHalving, rungEpochs, type Halving, type HalvingState } from './halving.ts';
import { AUGMENT_PRESETS } from '../../../shared/domain/augment-presets.ts';
import { NO_AUGMENT } from '../../../shared/contract/augment.ts';

// ---------- space ----------

test('points map to valid configs and back to the same values', () => {
  validateSpace(DEFAULT_HEAD_SPACE);
  const space = withRunChoices(DEFAULT_HEAD_SPACE, {
    backbones: ['mobilenet_v1_0.25_224', 'mobilenet_v2_0.35_224'],
    augment: [NO_AUGMENT, { policy: AUGMENT_PRESETS.natural, views: 2 }],
  });
  assert.equal(space.length, DEFAULT_HEAD_SPACE.length + 2, 'backbone and augment are added as choices');
  const halton = new ScrambledHalton(space.length, 7);
  for (let i = 0; i < 200; i++) {
    const patch = pointToPatch(space, halton.point(i));
    assert.ok(patch.learningRate! >= 1e-4 && patch.learningRate! <= 1e-1, `learning rate ${patch.learningRate} within its range`);
    assert.ok(patch.dropout! >= 0 && patch.dropout! < 0.7, `dropout ${patch.dropout} within its range`);
    assert.ok([0, 64, 128, 256, 512].includes(patch.hiddenUnits!), `hidden units ${patch.hiddenUnits} from the list`);
    assert.ok(['none', 'weights'].includes(patch.balance!.strategy), `balance ${JSON.stringify(patch.balance)} is a whole value`);
    const back = pointToPatch(space, patchToPoint(space, patch).map((u) => u ?? Number.NaN));
    for (const param of space) {
      const a = (patch as Record<string, unknown>)[param.key];
      const b = (back as Record<string, unknown>)[param.key];
      if (typeof a === 'number') assert.ok(Math.abs(a - (b as number)) <= 1e-9 * Math.max(1, Math.abs(a)), `${param.key} survives point → patch → point (${a} vs ${b})`);
      else assert.deepEqual(b, a, `${param.key} survives point → patch → point`);
    }
  }
  // Key order of a whole value must not matter when mapping back.
  const point = patchToPoint(space, { balance: { strategy: 'weights' }, augment: { views: 2, policy: AUGMENT_PRESETS.natural } });
  assert.equal(point[space.findIndex((p) => p.key === 'balance')], 0.75, 'balanced weighting maps back to its bin centre');
  assert.equal(point[space.findIndex((p) => p.key === 'augment')], 0.75, 'augment with keys in another order maps back');
  assert.equal(point[0], null, 'a field the patch lacks gives null');
  assert.deepEqual(dimensionsOf(space).map((d) => d.kind).slice(3, 5), ['numeric', 'numeric'], 'hidden units and batch size are ordered scales');
  assert.deepEqual(dimensionsOf(space).at(-1), { kind: 'categorical', size: 2 }, 'augment is a category');
  assert.throws(() => validateSpace([{ kind: 'log', key: 'l2', low: 0, high: 1 }]), /log scale/, 'a log range from 0 is refused');
});

// ---------- quasi-random sequence ----------

function cellCounts(points: number[][], grid: number): number[] {
  const counts = new Array<number>(grid * grid).fill(0);
  for (const [x, y] of points) counts[Math.floor(x! * grid) * grid + Math.floor(y! * grid)]!++;
  return counts;
}

test('scrambled Halton points in 2-D fill a 4×4 grid far more evenly than random points', () => {
  let haltonError = 0;
  let randomError = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const halton = new ScrambledHalton(2, seed);
    const points = Array.from({ length: 16 }, (_v, i) => halton.point(i));
    for (const p of points) assert.ok(p.every((u) => u >= 0 && u < 1), `seed ${seed}: point ${p} in [0,1)²`);
    const counts = cellCounts(points, 4);
    assert.ok(Math.max(...counts) <= 3, `seed ${seed}: every cell of 16 gets 1 ± 2 of 16 points (${counts})`);
    // Base 2 on x: 16 points from index 0 put exactly 4 in each quarter.
    for (let q = 0; q < 4; q++) assert.equal(points.filter(([x]) => Math.floor(x! * 4) === q).length, 4, `seed ${seed}: x quarter ${q} has 4 points`);
    haltonError += counts.reduce((sum, c) => sum + (c - 1) ** 2, 0);
    const random = new SeededRandom(seed);
    const randomCounts = cellCounts(Array.from({ length: 16 }, () => [random.next(), random.next()]), 4);
    randomError += randomCounts.reduce((sum, c) => sum + (c - 1) ** 2, 0);
  }
  assert.ok(haltonError < 0.5 * randomError, `Halton squared cell error ${haltonError} is under half of random's ${randomError}`);
  const a = new ScrambledHalton(5, 3);
  const b = new ScrambledHalton(5, 3);
  const c = new ScrambledHalton(5, 4);
  assert.deepEqual(a.point(17), b.point(17), 'the same seed gives the same points');
  assert.notDeepEqual(a.point(17), c.point(17), 'another seed scrambles differently');
});

// ---------- TPE on a planted optimum ----------

const PLANTED_SPACE: SearchSpace = [
  { kind: 'log', key: 'learningRate', low: 1e-4, high: 1e-1 },
  { kind: 'float', key: 'dropout', low: 0, high: 0.7 },
  { kind: 'choice', key: 'hiddenUnits', values: [0, 64, 128, 256, 512], ordered: true },
  { kind: 'choice', key: 'balance', values: [{ strategy: 'none' }, { strategy: 'weights' }], ordered: false },
];

/** Peak 1 at log10 lr = −2.5, dropout 0.3, 256 hidden units, balanced weighting. */
function planted(point: readonly number[]): number {
  const patch = pointToPatch(PLANTED_SPACE, point);
  const lr = (Math.log10(patch.learningRate!) + 2.5) / 3;
  const dropout = (patch.dropout! - 0.3) / 0.7;
  const hidden = ([0, 64, 128, 256, 512].indexOf(patch.hiddenUnits!) - 3) / 4;
  const balance = patch.balance!.strategy === 'weights' ? 0 : 0.3;
  return 1 - 4 * lr * lr - 2 * dropout * dropout - hidden * hidden - balance;
}

function distanceToPeak(point: readonly number[]): number {
  const patch = pointToPatch(PLANTED_SPACE, point);
  return Math.hypot((Math.log10(patch.learningRate!) + 2.5) / 3, (patch.dropout! - 0.3) / 0.7);
}

function runSearch(sampler: SearchSampler, trials: number): Observation[] {
  const observations: Observation[] = [];
  for (let i = 0; i < trials; i++) {
    const point = sampler.suggest(observations, i);
    observations.push({ point, score: planted(point) });
  }
  return observations;
}

const bestOf = (obs: Observation[]) => obs.reduce((a, b) => (b.score > a.score ? b : a));

test('TPE finds a planted optimum and beats quasi-random search over 5 seeds', () => {
  const dims = dimensionsOf(PLANTED_SPACE);
  let tpeTotal = 0;
  let quasiTotal = 0;
  for (let seed = 1; seed <= 5; seed++) {
    const tpe = bestOf(runSearch(createTpeSampler(dims, { seed }), 60));
    const quasi = bestOf(runSearch(createQuasiRandomSampler(dims, seed), 60));
    const patch = pointToPatch(PLANTED_SPACE, tpe.point);
    assert.equal(patch.hiddenUnits, 256, `seed ${seed}: TPE's best has the planted 256 hidden units`);
    assert.equal(patch.balance?.strategy, 'weights', `seed ${seed}: TPE's best has the planted weighting`);
    assert.ok(distanceToPeak(tpe.point) < 0.1, `seed ${seed}: TPE's best is within 0.1 of the peak (${distanceToPeak(tpe.point).toFixed(3)})`);
    tpeTotal += tpe.score;
    quasiTotal += quasi.score;
  }
  assert.ok(tpeTotal / 5 > quasiTotal / 5, `TPE's mean best ${(tpeTotal / 5).toFixed(4)} beats quasi-random's ${(quasiTotal / 5).toFixed(4)}`);
});

test('TPE is deterministic for a seed and uses the quasi-random sequence until enough trials exist', () => {
  const dims = dimensionsOf(PLANTED_SPACE);
  const a = runSearch(createTpeSampler(dims, { seed: 9 }), 25);
  const b = runSearch(createTpeSampler(dims, { seed: 9 }), 25);
  assert.deepEqual(a, b, 'the same seed gives the same trials');
  const c = runSearch(createTpeSampler(dims, { seed: 10 }), 25);
  assert.notDeepEqual(a.slice(10), c.slice(10), 'another seed gives other trials');
  const halton = new ScrambledHalton(dims.length, 9);
  for (let i = 0; i < 10; i++) assert.deepEqual(a[i]!.point, halton.point(i), `startup trial ${i} is Halton point ${i}`);
  // Stateless: a fresh sampler given the history proposes what the running one did.
  const fresh = createTpeSampler(dims, { seed: 9 });
  assert.deepEqual(fresh.suggest(a.slice(0, 20), 20), a[20]!.point, 'a sampler rebuilt after a restart proposes the same point');
  const diverged = fresh.suggest([...a.slice(0, 12), { point: a[12]!.point, score: Number.NaN }], 13);
  assert.ok(diverged.every((u) => u >= 0 && u < 1), 'a diverged (NaN) trial does not break proposals');
});

// ---------- successive halving ----------

/** Runs a search to the end with a fixed score per trial id; records every ask. */
function drive(search: Halving, scoreOf: (id: number) => number, limit = 10_000) {
  const asks = [];
  for (let i = 0; i < limit; i++) {
    const ask = search.next(({ trialIndex }) => [trialIndex / 100]);
    if (!ask) break;
    asks.push(ask);
    search.report(ask.trialId, scoreOf(ask.trialId));
  }
  return asks;
}

test('rungs go from the fewest to the most epochs by eta', () => {
  assert.deepEqual(rungEpochs(81, 1, 3), [1, 3, 9, 27, 81], 'eta 3 from 1 to 81');
  assert.deepEqual(rungEpochs(60, 2, 3), [2, 7, 20, 60], 'eta 3 from 2 to 60, rounded');
  assert.deepEqual(rungEpochs(5, 5, 3), [5], 'one rung when min = max');
});

test('successive halving promotes exactly the top 1/eta of each rung and the best reaches the top', () => {
  // Scores chosen so the ranking is not the trial order: a scrambled permutation.
  const scoreOf = (id: number) => ((id * 17) % 27) / 27;
  const search = createHalving({ budget: { trials: 27, maxEpochs: 27 }, minEpochs: 1, eta: 3, brackets: 'single' });
  const asks = drive(search, scoreOf);
  assert.ok(search.done, 'the search is done when its budget is spent');
  const atRung = (r: number) => asks.filter((a) => a.rung === r).map((a) => a.trialId);
  assert.deepEqual([0, 1, 2, 3].map((r) => atRung(r).length), [27, 9, 3, 1], '27 → 9 → 3 → 1 trials per rung');
  for (let r = 1; r <= 3; r++) {
    const below = atRung(r - 1);
    const expected = [...below].sort((a, b) => scoreOf(b) - scoreOf(a)).slice(0, below.length / 3);
    assert.deepEqual([...atRung(r)].sort((a, b) => a - b), expected.sort((a, b) => a - b), `rung ${r} runs exactly the top third of rung ${r - 1}`);
  }
  const bestId = Array.from({ length: 27 }, (_v, i) => i).reduce((a, b) => (scoreOf(b) > scoreOf(a) ? b : a));
  assert.deepEqual(atRung(3), [bestId], 'the best trial reaches the top rung');
  assert.deepEqual(asks.filter((a) => a.rung === 3).map((a) => [a.epochs, a.previousEpochs]), [[27, 9]], 'the top rung trains 27 epochs after 9');
  assert.equal(search.best()?.trialId, bestId, 'best() is the trial at the top rung');
  assert.deepEqual(search.best()?.point, [bestId / 100], 'best() keeps the proposed point');
  assert.equal(search.next(), null, 'a finished search asks for nothing');
});

test('a rung waits for every report, diverged trials rank last, and Hyperband brackets cycle', () => {
  const search = createHalving({ budget: { trials: 3, maxEpochs: 9 }, minEpochs: 1, eta: 3, brackets: 'single' });
  const a = search.next()!;
  const b = search.next()!;
  const c = search.next()!;
  assert.equal(search.next(), null, 'nothing to run while the rung waits for reports');
  assert.equal(a.point, undefined, 'no point without a proposer');
  search.report(a.trialId, Number.NaN);
  search.report(c.trialId, 0.1);
  assert.equal(search.next(), null, 'still waiting for the last report');
  search.report(b.trialId, Number.NaN);
  assert.equal(search.next()?.trialId, c.trialId, 'the one finite score is promoted over diverged trials');
  assert.throws(() => search.report(a.trialId, 1), /not asked|reported/, 'a second report for a rung is refused');

  const hyperband = createHalving({ budget: { trials: 40, maxEpochs: 9 }, minEpochs: 1, eta: 3 });
  const asks = drive(hyperband, (id) => id % 7);
  const starts = new Map<number, number>();
  for (const ask of asks) if (!starts.has(ask.bracket)) starts.set(ask.bracket, ask.rung);
  assert.deepEqual([...starts.values()].slice(0, 4), [0, 1, 2, 0], 'brackets start at rungs 0, 1, 2 and then cycle');
  assert.deepEqual(
    [...starts.keys()].map((b) => new Set(asks.filter((x) => x.bracket === b && x.rung === starts.get(b)).map((x) => x.trialId)).size),
    [9, 5, 3, 9, 5, 3, 6],
    'bracket sizes follow Hyperband (9, 5, 3 per cycle), the last cut to the budget',
  );
  assert.equal(new Set(asks.map((x) => x.trialId)).size, 40, 'exactly the trial budget of new trials');
  assert.ok(hyperband.done, 'hyperband search done after its budget');
});

test('a search stored mid-way and restored continues exactly as an uninterrupted one', () => {
  const options = { budget: { trials: 30, maxEpochs: 27 }, minEpochs: 1, eta: 3 };
  const space = PLANTED_SPACE;
  const sampler = createTpeSampler(dimensionsOf(space), { seed: 4, startupTrials: 6 });
  const propose = ({ trialIndex }: { trialIndex: number }, state: HalvingState) => sampler.suggest(modelObservations(state, 6), trialIndex);
  const score = (point: number[] | undefined, epochs: number) => planted(point!) - 1 / epochs;

  const run = (search: Halving, steps: number) => {
    const log: string[] = [];
    for (let i = 0; i < steps; i++) {
      const ask = search.next((ctx) => propose(ctx, search.state()));
      if (!ask) break;
      log.push(JSON.stringify(ask));
      search.report(ask.trialId, score(ask.point, ask.epochs));
    }
    return log;
  };

  const whole = createHalving(options);
  const uninterrupted = run(whole, 10_000);
  assert.ok(uninterrupted.length > 30, 'the search promotes as well as starts trials');

  const first = createHalving(options);
  const before = run(first, 17);
  const stored = JSON.parse(JSON.stringify(first.state())) as HalvingState;
  const resumed = restoreHalving(stored);
  const after = run(resumed, 10_000);
  assert.deepEqual([...before, ...after], uninterrupted, 'stored and resumed, the search asks exactly the same');
  assert.deepEqual(resumed.best(), whole.best(), 'and finds the same best trial');
  assert.deepEqual(resumed.state(), whole.state(), 'and ends in the same state');
  assert.throws(() => restoreHalving({ ...stored, version: 2 } as unknown as HalvingState), /version/, 'a state from another version is refused');
});
