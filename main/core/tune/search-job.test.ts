import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TrainConfig, TrialRung } from '../../../shared/contract/index.ts';
import { DEFAULT_TRAIN_CONFIG } from '../../../shared/contract/index.ts';
import { openTrashnetProject, skipReason, TEST_BACKBONE } from '../trashnet-fixture.ts';
import { openStore } from '../store/open.ts';
import { createHalving, type HalvingState } from './halving.ts';
import { searchLoop, type TrialReport } from './run-search.ts';
import { DEFAULT_HEAD_SPACE } from './space.ts';
import { recoverInterruptedSearches } from './search-job.ts';

// ---------- the loop, on a synthetic objective ----------

/** A planted optimum: learning rate 3e-3, dropout 0.2, no hidden layer; longer training helps every config a little. */
function objective(config: TrainConfig): number {
  const lr = Math.log10(config.learningRate) - Math.log10(3e-3);
  const drop = config.dropout - 0.2;
  return 1 - 0.15 * lr * lr - 0.8 * drop * drop - (config.hiddenUnits === 0 ? 0 : 0.05) - 0.3 / config.epochs;
}

function syntheticTrain(seen: TrainConfig[], failAfter = Infinity) {
  return async (config: TrainConfig): Promise<{ rung: TrialRung; error: string | null }> => {
    if (seen.length >= failAfter) throw new Error('worker stopped');
    seen.push(config);
    // Trials finish in an order that depends on their settings, as real ones do.
    await new Promise((resolve) => setTimeout(resolve, Math.floor(config.dropout * 10)));
    const score = objective(config);
    return { rung: { epochs: config.epochs, epochsUsed: config.epochs, score, valAccuracy: score, valLoss: 1 - score, seconds: 0 }, error: null };
  };
}

async function search(lanes: number, state: HalvingState, seen: TrainConfig[], reports: TrialReport[], failAfter = Infinity, base: Partial<TrainConfig> = {}) {
  return searchLoop({
    space: DEFAULT_HEAD_SPACE,
    base: { ...DEFAULT_TRAIN_CONFIG, backbone: 'b', ...base },
    seed: 3,
    state,
    lanes,
    timeLeftMs: null,
    baseline: false,
    train: syntheticTrain(seen, failAfter),
    onTrial: (r) => reports.push(r),
    onBaseline: () => undefined,
  });
}

const fresh = (trials: number) => createHalving({ budget: { trials, maxEpochs: 27 }, minEpochs: 3, eta: 3 }).state();

test('the search loop finds the planted optimum, starts from the base settings, and is the same with 1 or 3 lanes', async () => {
  const serial: TrialReport[] = [];
  const seenSerial: TrainConfig[] = [];
  assert.equal(await search(1, fresh(60), seenSerial, serial), 'budget', 'the budget ends the search');
  const parallel: TrialReport[] = [];
  await search(3, fresh(60), [], parallel);

  assert.equal(seenSerial[0]!.learningRate.toPrecision(6), DEFAULT_TRAIN_CONFIG.learningRate.toPrecision(6), 'trial 0 is the starting learning rate');
  assert.equal(seenSerial[0]!.hiddenUnits, DEFAULT_TRAIN_CONFIG.hiddenUnits, 'trial 0 is the starting head');
  const final = serial.at(-1)!.state;
  assert.equal(final.trials.length, 60, '60 configurations were tried');
  assert.deepEqual(parallel.at(-1)!.state, final, 'three lanes end in exactly the state one lane does');
  const key = (r: TrialReport) => `${r.trialId}@${r.rung.epochs}:${r.rung.score}`;
  assert.deepEqual(new Set(parallel.map(key)), new Set(serial.map(key)), 'the same trials ran for the same epochs with the same scores');

  const atTop = serial.filter((r) => r.rung.epochs === 27).sort((a, b) => b.rung.score! - a.rung.score!);
  const best = atTop[0]!;
  assert.ok(best.rung.score! > objective({ ...DEFAULT_TRAIN_CONFIG, epochs: 27 }), `the best (${best.rung.score}) beats the starting settings`);
  assert.ok(Math.abs(Math.log10(best.patch.learningRate!) - Math.log10(3e-3)) < 0.5, `the best learning rate ${best.patch.learningRate} is near 3e-3`);
  assert.ok(best.rung.score! > 0.9, `the best score ${best.rung.score} is near the optimum (0.989)`);
  const epochs = serial.reduce((a, r) => a + r.rung.epochs, 0);
  assert.ok(epochs < 60 * 27 * 0.55, `successive halving spent ${epochs} epochs, about half of what 60 full trials would (${60 * 27})`);
});

test('trial 0 trains the starting settings exactly, even those between or beyond the values the search tries', async () => {
  const seen: TrainConfig[] = [];
  const reports: TrialReport[] = [];
  await search(1, fresh(3), seen, reports, Infinity, { hiddenUnits: 100, batchSize: 16, l2: 0, dropout: 0.8, learningRate: 0.5 });
  const first = seen[0]!;
  assert.deepEqual(
    { hiddenUnits: first.hiddenUnits, batchSize: first.batchSize, l2: first.l2, dropout: first.dropout, learningRate: first.learningRate },
    { hiddenUnits: 100, batchSize: 16, l2: 0, dropout: 0.8, learningRate: 0.5 },
    'the settings as given, not their nearest point in the search space',
  );
  assert.equal(reports.find((r) => r.trialId === 0)!.patch.hiddenUnits, 100, 'and stored as such');
});

test('a search stopped mid-way resumes from its last stored state, trials in flight run again, and it ends as an uninterrupted one', async () => {
  const whole: TrialReport[] = [];
  await search(2, fresh(20), [], whole);

  const first: TrialReport[] = [];
  await assert.rejects(search(2, fresh(20), [], first, 11), /worker stopped/, 'a failing trial stops the loop with its error');
  const stored = first.at(-1)!.state;
  const inFlight = stored.trials.filter((t) => t.results.some((r) => !r.done)).length;
  assert.ok(inFlight >= 1, `the stored state has ${inFlight} trial(s) that were still training`);
  const rest: TrialReport[] = [];
  const seen: TrainConfig[] = [];
  await search(2, stored, seen, rest);
  assert.deepEqual(rest.at(-1)!.state, whole.at(-1)!.state, 'the resumed search ends exactly where the uninterrupted one did');
  assert.equal(first.length + rest.length, whole.length, 'no trial rung is run twice once reported, none is lost');
});

test('a minutes budget stops starting trials when the time is up, and lets the running ones finish', async () => {
  const reports: TrialReport[] = [];
  const ended = await searchLoop({
    space: DEFAULT_HEAD_SPACE,
    base: { ...DEFAULT_TRAIN_CONFIG, backbone: 'b' },
    seed: 1,
    state: createHalving({ budget: { maxEpochs: 27 }, minEpochs: 3, eta: 3 }).state(),
    lanes: 2,
    timeLeftMs: 0,
    baseline: true,
    train: syntheticTrain([]),
    onTrial: (r) => reports.push(r),
    onBaseline: (rung) => reports.push({ trialId: -1, patch: {}, rung, error: null, state: fresh(1) }),
  });
  assert.equal(ended, 'time', 'the loop says the time ran out');
  assert.deepEqual(reports, [], 'nothing started once the time was up');
});

// ---------- the job, on real photos ----------

test('auto-tune on real photos: trials scored on validation only, stored live, stopped and resumed, promoted to a run', { skip: skipReason }, async () => {
  const p = await openTrashnetProject('tune', { perClass: { cardboard: 10, glass: 10, metal: 10, paper: 10 } });
  try {
    const summary = await p.call('dataset.summary', {});
    const started = await p.call('tune.start', { budget: { trials: 8 }, seed: 2, base: { backbone: TEST_BACKBONE, epochs: 20 } });
    // Stop it as soon as a trial is stored: it must pause, keeping that trial.
    await new Promise<void>((resolve) => {
      const off = p.core.events.on((m) => {
        if (m.event !== 'tune.changed') return;
        void p.call('tune.get', { searchId: started.searchId }).then((d) => {
          if (d.trialCount > 0) {
            off();
            void p.call('tune.cancel', { searchId: started.searchId }).then(() => resolve());
          }
        });
      });
    });
    assert.equal((await p.job(started.jobId)).status, 'cancelled', 'the job is cancelled');
    const paused = await p.call('tune.get', { searchId: started.searchId });
    assert.equal(paused.status, 'paused', 'the search is paused, not lost');
    assert.ok(paused.trialCount >= 1, `its finished trials are kept (${paused.trialCount})`);

    const resumed = await p.call('tune.resume', { searchId: started.searchId });
    assert.equal((await p.job(resumed.jobId)).status, 'done', 'the resumed search finishes');
    const d = await p.call('tune.get', { searchId: started.searchId });
    assert.equal(d.status, 'done', 'done');
    assert.equal(d.trialCount, 8, 'every trial of the budget ran, none twice');
    assert.deepEqual({ train: d.data.train, val: d.data.val }, { train: summary.bySplit.train, val: summary.bySplit.val }, 'trials train on the training images and are judged on the validation images: test images are never used');
    assert.deepEqual(d.rungEpochs, [2, 7, 21], 'rungs of 2, 7 and 21 epochs');
    assert.equal(d.trials[0]!.values.learningRate, '0.001', 'trial 0 is the starting settings');
    assert.ok(d.baseline !== null && d.baseline >= 0 && d.baseline <= 1, `the starting settings were scored at full length (${d.baseline})`);
    for (const t of d.trials) {
      assert.ok(t.rungs.every((r) => r.score === null || (r.score >= 0 && r.score <= 1)), `trial ${t.trial}'s scores are macro-F1 values`);
    }
    // 8 trials for 2 epochs, the best third (2) for 7, the best of those for 21; trial 0 also carries the baseline's 21.
    const rungsAt = (epochs: number) => d.trials.reduce((a, t) => a + t.rungs.filter((r) => r.epochs === epochs).length, 0);
    assert.deepEqual([rungsAt(2), rungsAt(7)], [8, 2], 'each rung ran once per trial it kept, across the stop and the resume');
    assert.ok([1, 2].includes(rungsAt(21)), `one trial reached 21 epochs, plus the baseline (${rungsAt(21)})`);
    assert.ok(d.trials.some((t) => t.state === 'stopped'), 'successive halving stopped some trials early');
    assert.ok(d.best && d.bestConfig, 'a best trial and its settings');
    assert.equal(d.bestConfig!.epochs, 20, 'the best settings keep the starting epochs for a real run');
    const longest = d.trials.filter((t) => t.epochs === 21 && t.score !== null);
    assert.equal(d.best!.score, Math.max(...longest.map((t) => t.score!)), 'the best is the highest-scoring trial that trained longest');
    assert.equal(new Set(d.trials.map((t) => t.values.learningRate)).size, 8, 'every trial tried another learning rate');

    const listed = await p.call('tune.list', {});
    assert.deepEqual(listed.map((s) => s.id), [started.searchId], 'the search is listed');
    await assert.rejects(p.call('tune.resume', { searchId: started.searchId }), /finished/, 'a finished search cannot be resumed');

    const promoted = await p.call('tune.promote', { searchId: started.searchId });
    assert.equal((await p.job(promoted.jobId)).status, 'done', 'the promoted run trains');
    const run = await p.call('runs.get', { runId: promoted.runId });
    assert.equal(run.name, `${d.name} · trial ${d.best!.trial}`, 'the run is named after the search and trial');
    assert.equal(run.config.learningRate, d.bestConfig!.learningRate, 'the run trains with the best settings');
    assert.ok(run.metrics?.test, 'the run is tested on the test images, as every run is');
    assert.equal((await p.call('tune.get', { searchId: started.searchId })).runId, promoted.runId, 'the search links to its run');

    await p.call('tune.delete', { searchId: started.searchId });
    assert.deepEqual(await p.call('tune.list', {}), [], 'deleted');
    assert.equal((await p.call('runs.get', { runId: promoted.runId })).id, promoted.runId, 'the promoted run stays');
  } finally {
    await p.close();
  }
});

test('a search left running by a crash is paused when the project opens', { skip: skipReason }, async () => {
  const p = await openTrashnetProject('tune-crash', { perClass: { cardboard: 4, glass: 4 } });
  try {
    const path = (await p.call('project.current', {}))!.path;
    const store = openStore(path);
    try {
      store.db
        .prepare(`INSERT INTO searches (name, status, job_id, seed, budget, base, space, state, fingerprint, created_at) VALUES ('S', 'running', 'gone', 1, '{"trials":3}', '{}', '[]', ?, 'f', 0)`)
        .run(JSON.stringify(fresh(3)));
      assert.equal(recoverInterruptedSearches(store.db), 1, 'one search recovered');
      const row = store.db.prepare('SELECT status, error FROM searches').get() as { status: string; error: string };
      assert.equal(row.status, 'paused', 'paused, to be resumed');
      assert.match(row.error, /closed during this search/, 'and says why');
    } finally {
      store.close();
    }
  } finally {
    await p.close();
  }
});
