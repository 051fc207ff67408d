/**
 * A run's stored epochs keep their health measurements, and its diagnosis and health
 * findings read the right things: a warning about left-out files is not instability, the
 * non-finite guard's message is.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, test } from 'node:test';
import { DEFAULT_TRAIN_CONFIG, type EpochMetrics } from '../../../shared/contract/index.ts';
import { TestProject } from '../data/test-project.ts';
import { createRun, finishRun, getRun, nonFiniteError, recordEpoch } from './runs.ts';

const project = new TestProject();
after(() => {
  project.store.close();
  fs.rmSync(project.dir, { recursive: true, force: true });
});

function epoch(n: number, over: Partial<EpochMetrics> = {}): EpochMetrics {
  return {
    phase: 'head',
    epoch: n,
    trainLoss: 1.2 / n,
    trainAccuracy: 0.5 + n * 0.04,
    valLoss: 1.3 / n,
    valAccuracy: 0.45 + n * 0.04,
    learningRate: 1e-3,
    seconds: 0.5,
    health: { gradNorms: { hidden1: 0.5 / n, output: 0.8 / n }, updateRatios: { hidden1: 0.05, output: 0.04 }, deadRelu: 0.1, nonFinite: false },
    ...over,
  };
}

function run(error: string | null, epochs: EpochMetrics[]): number {
  const db = project.db;
  const id = createRun(db, {
    jobId: null,
    backbone: 'mobilenet_v1_0.25_224',
    config: DEFAULT_TRAIN_CONFIG,
    classes: [{ id: 1, name: 'a' }, { id: 2, name: 'b' }],
    fingerprint: 'f',
    splitCounts: { a: { train: 60, val: 30, test: 10 }, b: { train: 60, val: 30, test: 10 } },
  });
  epochs.forEach((e, i) => recordEpoch(db, id, e, { phase: 'head', epoch: i + 1 }));
  finishRun(db, id, {
    metrics: { val: null, test: null },
    bestEpoch: { phase: 'head', epoch: epochs.length },
    seconds: { embed: 1, train: 1, total: 2 },
    modelDir: 'runs/x',
    fineTuned: false,
    warning: error,
  });
  return id;
}

test('epochs keep their health measurements; an overflowed one comes back as not a number', () => {
  const id = run(null, [epoch(1), epoch(2, { health: { gradNorms: { hidden1: NaN, output: 0.4 }, updateRatios: { hidden1: Infinity, output: 0.1 }, deadRelu: null, nonFinite: true } })]);
  const detail = getRun(project.db, id, 'f');
  assert.deepEqual(detail.epochs[0]!.health, epoch(1).health, 'stored and read back');
  assert.ok(Number.isNaN(detail.epochs[1]!.health!.gradNorms.hidden1!), 'NaN survives as NaN, not 0');
  assert.ok(Number.isNaN(detail.epochs[1]!.health!.updateRatios.hidden1!), 'Infinity is read back as not a number');
  assert.equal(detail.epochs[1]!.health!.deadRelu, null);
  assert.ok(detail.health.some((f) => f.kind === 'non_finite'), `the overflow is a finding: ${JSON.stringify(detail.health.map((f) => f.kind))}`);
});

test('a warning about left-out files is not instability; the non-finite guard is', () => {
  const calm = run('Left out /photos/a.jpg: the file is no longer there.', [1, 2, 3, 4, 5, 6].map((n) => epoch(n)));
  const detail = getRun(project.db, calm, 'f');
  assert.notEqual(detail.diagnosis?.kind, 'unstable', `diagnosis: ${detail.diagnosis?.message}`);
  assert.ok(!detail.health.some((f) => f.kind === 'unstable' || f.kind === 'non_finite'), 'no instability finding');

  const stopped = 'Training stopped in epoch 3: the loss became infinite or not a number, which usually means the learning rate (1e+1) is too high for this data.';
  assert.equal(nonFiniteError(`${stopped} Left out /x.jpg: gone.`), `${stopped} Left out /x.jpg: gone.`);
  assert.equal(nonFiniteError('The project has no validation images: 12 training images were held out to decide when to stop.'), null);
  const blown = getRun(project.db, run(stopped, [epoch(1), epoch(2)]), 'f');
  assert.equal(blown.diagnosis?.kind, 'unstable');
  assert.ok(blown.health.some((f) => f.remedy), 'a remedy is offered');
});
