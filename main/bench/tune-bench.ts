/**
 * The auto-tune and training-health benchmark (issue 8):
 *   1. On all of TrashNet (splits 70/15/15, seed 1; embeddings computed first and not counted):
 *      for seeds 1, 2 and 3, a 50-trial search (wall time, best validation macro-F1), then a
 *      run with the best settings and a run with the default settings, both judged on the
 *      same test images: tuned against default test macro-F1.
 *   2. Runs with a learning rate of 10, with Adam (steps bounded by the rate: the weights jump
 *      by their own size each epoch, the exploding-gradient flag) and with plain SGD (steps
 *      scaled by the gradient: the loss overflows in epoch 1, the NaN guard): what the guard
 *      and the health checks say.
 */
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { EventMessage, JobInfo, RunDetail, TrainConfigPatch } from '../../shared/contract/index.ts';
import { Core } from '../core/core.ts';
import { callCore, jobEnded } from '../core/core-calls.ts';
import { ensureEmbeddings } from '../core/ml/embeddings.ts';
import { chooseDefaultBackbone, featureKey, modelDirFor } from '../core/ml/models.ts';
import { embedPool } from '../core/ml/training.ts';

export const TUNE_SEEDS = [1, 2, 3];
export const TUNE_TRIALS = 50;

export interface SeedFigures {
  seed: number;
  searchSeconds: number;
  trials: number;
  lanes: number;
  bestTrial: number;
  bestVal: number;
  /** The starting (default) settings' validation macro-F1 at the search's full length. */
  baselineVal: number | null;
  tunedTest: number;
  defaultTest: number;
  tunedVal: number;
  defaultVal: number;
  bestSettings: Record<string, string>;
}

export interface TuneFigures {
  images: number;
  backbone: string;
  embedSeconds: number;
  seeds: SeedFigures[];
  hugeLearningRate: HugeRateFigures[];
}

export interface HugeRateFigures {
  optimizer: 'adam' | 'sgd';
  status: string;
  error: string | null;
  epochs: number;
  findings: { kind: string; message: string; remedy: string | null }[];
  maxGradNorm: number | null;
  testAccuracy: number | null;
}

async function finished(core: Core, jobId: string, seen: EventMessage[]): Promise<JobInfo> {
  const job = await jobEnded(core, jobId, seen);
  if (job.status !== 'done') throw new Error(`${job.title} ${job.status}: ${job.error}`);
  return job;
}

async function train(core: Core, seen: EventMessage[], config: TrainConfigPatch): Promise<RunDetail> {
  const { jobId, runId } = await callCore(core, 'train.start', { config });
  await jobEnded(core, jobId, seen);
  return callCore(core, 'runs.get', { runId });
}

export async function benchTune(dir: string, o: { trashnet: string; sampleDir: string }): Promise<TuneFigures> {
  const core = new Core({
    host: { kind: 'cli', appVersion: 'bench', nativeDialogs: false, uploads: false, platform: process.platform },
    stateDir: path.join(dir, 'tune-state'),
    sampleDir: o.sampleDir,
  });
  const seen: EventMessage[] = [];
  const off = core.events.on((m) => seen.push(m));
  try {
    await callCore(core, 'project.create', { path: path.join(dir, 'tune.seedbed') });
    const imported = await callCore(core, 'import.start', { paths: [o.trashnet], split: 'auto' });
    await finished(core, imported.jobId, seen);
    await callCore(core, 'splits.assign', { seed: 1 });
    const db = core.requireStore().db;
    const images = db.prepare(`SELECT i.id AS imageId, i.sha256, i.path FROM images i WHERE i.status = 'active'`).all() as { imageId: number; sha256: string; path: string }[];
    const backbone = chooseDefaultBackbone(core);
    let started = performance.now();
    await ensureEmbeddings(db, embedPool(core), { backbone, featureKey: featureKey(backbone), modelDir: modelDirFor(core, backbone), view: 'center', targets: images });
    const embedSeconds = (performance.now() - started) / 1000;

    const seeds: SeedFigures[] = [];
    for (const seed of TUNE_SEEDS) {
      started = performance.now();
      const search = await callCore(core, 'tune.start', { budget: { trials: TUNE_TRIALS }, seed, base: { backbone } });
      await finished(core, search.jobId, seen);
      const searchSeconds = (performance.now() - started) / 1000;
      const d = await callCore(core, 'tune.get', { searchId: search.searchId });
      const promoted = await callCore(core, 'tune.promote', { searchId: search.searchId });
      await finished(core, promoted.jobId, seen);
      const tuned = await callCore(core, 'runs.get', { runId: promoted.runId });
      const plain = await train(core, seen, { backbone, seed });
      const best = d.trials.find((t) => t.trial === d.best!.trial)!;
      seeds.push({
        seed,
        searchSeconds,
        trials: d.trialCount,
        lanes: Math.max(1, Math.min(4, os.availableParallelism())),
        bestTrial: best.trial,
        bestVal: d.best!.score ?? 0,
        baselineVal: d.baseline,
        tunedTest: tuned.metrics!.test!.macroF1,
        defaultTest: plain.metrics!.test!.macroF1,
        tunedVal: tuned.metrics!.val!.macroF1,
        defaultVal: plain.metrics!.val!.macroF1,
        bestSettings: best.values,
      });
    }

    const hugeLearningRate: HugeRateFigures[] = [];
    for (const optimizer of ['adam', 'sgd'] as const) {
      const huge = await train(core, seen, { backbone, seed: 1, learningRate: 10, optimizer });
      const norms = huge.epochs.flatMap((e) => Object.values(e.health?.gradNorms ?? {})).filter((v) => Number.isFinite(v));
      hugeLearningRate.push({
        optimizer,
        status: huge.status,
        error: huge.error,
        epochs: huge.epochs.length,
        findings: huge.health.map((f) => ({ kind: f.kind, message: f.message, remedy: f.remedy?.label ?? null })),
        maxGradNorm: norms.length ? Math.max(...norms) : null,
        testAccuracy: huge.metrics?.test?.accuracy ?? null,
      });
    }
    return { images: images.length, backbone, embedSeconds, seeds, hugeLearningRate };
  } finally {
    off();
    await core.close();
  }
}

export function printTune(t: TuneFigures): void {
  const pct = (x: number | null) => (x === null ? '–' : (x * 100).toFixed(1));
  console.log(`  ${t.images} images · ${t.backbone} · embeddings first: ${t.embedSeconds.toFixed(1)} s (not counted below)`);
  console.log(`  macro-F1 in %: "search" columns are the search's own trials (head only, 21 epochs at most); "run" columns are the runs trained afterwards (60 epochs, early stopping)`);
  console.log(`  seed  search s  trials  lanes  search best val  search default val  run tuned val  run default val  run tuned test  run default test`);
  for (const s of t.seeds) {
    console.log(
      `  ${String(s.seed).padStart(4)}  ${s.searchSeconds.toFixed(1).padStart(8)}  ${String(s.trials).padStart(6)}  ${String(s.lanes).padStart(5)}  ${pct(s.bestVal).padStart(15)}  ${pct(s.baselineVal).padStart(18)}  ${pct(s.tunedVal).padStart(13)}  ${pct(s.defaultVal).padStart(15)}  ${pct(s.tunedTest).padStart(14)}  ${pct(s.defaultTest).padStart(16)}`,
    );
  }
  const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
  const tuned = mean(t.seeds.map((s) => s.tunedTest));
  const plain = mean(t.seeds.map((s) => s.defaultTest));
  const slowest = Math.max(...t.seeds.map((s) => s.searchSeconds));
  console.log(`  search time: slowest ${slowest.toFixed(1)} s for ${TUNE_TRIALS} trials (target < 300 s)`);
  console.log(`  test macro-F1 over ${t.seeds.length} seeds: tuned ${pct(tuned)} vs default ${pct(plain)} (target: tuned ≥ default); tuned won ${t.seeds.filter((s) => s.tunedTest >= s.defaultTest).length} of ${t.seeds.length}`);
  for (const s of t.seeds) console.log(`  seed ${s.seed} best settings (trial ${s.bestTrial}): ${Object.entries(s.bestSettings).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  for (const h of t.hugeLearningRate) {
    console.log(`  learning rate 10 with ${h.optimizer}: run ${h.status} after ${h.epochs} epoch(s); largest gradient norm ${h.maxGradNorm?.toExponential(2) ?? '–'}; test accuracy ${pct(h.testAccuracy)}`);
    if (h.error) console.log(`    guard: ${h.error}`);
    for (const f of h.findings) console.log(`    finding ${f.kind}: ${f.message}${f.remedy ? ` [remedy: ${f.remedy}]` : ''}`);
  }
}
