/**
 * The augmentation and rebalancing benchmark (issue 6):
 *   1. Cost of augmented views: all of TrashNet's training split embedded once as the plain
 *      image, then as K = 4 augmented views (natural preset); the views should cost no more
 *      than K × the single view, since each file is decoded once and its views are batched.
 *   2. Benefit: "trash" cut to 30 training images (seeded; its validation and test images
 *      are kept), then one run per strategy — nothing, class weights, oversampling with
 *      augmentation, augmentation of every class, oversampling + weights — on the same
 *      splits with the same seed. Printed side by side: macro-F1 and trash recall on test.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { EventMessage, JobInfo, RunDetail, TrainConfigPatch } from '../../shared/contract/index.ts';
import { AUGMENT_PRESETS } from '../../shared/domain/augment-presets.ts';
import { Core } from '../core/core.ts';
import { callCore, jobEnded } from '../core/core-calls.ts';
import { ensureEmbeddings, ensureViewEmbeddings } from '../core/ml/embeddings.ts';
import { chooseDefaultBackbone, featureKey, modelDirFor } from '../core/ml/models.ts';
import { embedPool } from '../core/ml/training.ts';

export const MINORITY = 'trash';
export const MINORITY_TRAIN = 30;
const K = 4;

export interface StrategyFigures {
  name: string;
  macroF1: number;
  accuracy: number;
  minorityRecall: number;
  minoritySupport: number;
  examples: number;
  views: number;
  embedSeconds: number;
  trainSeconds: number;
}

export interface AugmentFigures {
  images: number;
  trainImages: number;
  backbone: string;
  workers: number;
  views: { singleSeconds: number; kViewsSeconds: number; k: number; ratioToK: number; viewsPerSecond: number; imagesPerSecond: number };
  minority: { name: string; keptTrain: number; cutTrain: number; val: number; test: number };
  strategies: StrategyFigures[];
}

async function runJob(core: Core, jobId: string, seen: EventMessage[]): Promise<JobInfo> {
  const job = await jobEnded(core, jobId, seen);
  if (job.status !== 'done') throw new Error(`${job.title} ${job.status}: ${job.error}`);
  return job;
}

export async function benchAugment(dir: string, o: { trashnet: string; sampleDir: string }): Promise<AugmentFigures> {
  const core = new Core({
    host: { kind: 'cli', appVersion: 'bench', nativeDialogs: false, uploads: false, platform: process.platform },
    stateDir: path.join(dir, 'augment-state'),
    sampleDir: o.sampleDir,
  });
  const seen: EventMessage[] = [];
  const off = core.events.on((m) => seen.push(m));
  try {
    await callCore(core, 'project.create', { path: path.join(dir, 'augment.seedbed') });
    const imported = await callCore(core, 'import.start', { paths: [o.trashnet], split: 'auto' });
    await runJob(core, imported.jobId, seen);
    await callCore(core, 'splits.assign', { seed: 1 });
    const db = core.requireStore().db;
    const images = db.prepare(`SELECT COUNT(*) FROM images WHERE status = 'active'`).pluck().get() as number;

    // 1. Views cost: the training split, plain then K augmented views, both cold.
    const train = db
      .prepare(`SELECT i.id AS imageId, i.sha256 FROM images i JOIN splits s ON s.image_id = i.id WHERE s.split = 'train' AND i.status = 'active' ORDER BY i.id`)
      .all() as { imageId: number; sha256: string }[];
    const backbone = chooseDefaultBackbone(core);
    const modelDir = modelDirFor(core, backbone);
    const key = featureKey(backbone);
    const pool = embedPool(core);
    let started = performance.now();
    await ensureEmbeddings(db, pool, { backbone, featureKey: key, modelDir, view: 'center', targets: train });
    const singleSeconds = (performance.now() - started) / 1000;
    started = performance.now();
    await ensureViewEmbeddings(db, pool, { backbone, featureKey: key, modelDir, policy: AUGMENT_PRESETS.natural, seed: 1, targets: train.map((t) => ({ ...t, views: K })) });
    const kViewsSeconds = (performance.now() - started) / 1000;

    // 2. Cut the minority class's training images to 30, chosen by a seeded hash of their content.
    const minorityTrain = db
      .prepare(
        `SELECT i.id, i.sha256 FROM images i JOIN labels l ON l.image_id = i.id JOIN classes c ON c.id = l.class_id JOIN splits s ON s.image_id = i.id
         WHERE c.name = ? AND s.split = 'train' AND i.status = 'active'`,
      )
      .all(MINORITY) as { id: number; sha256: string }[];
    const order = minorityTrain
      .map((r) => ({ id: r.id, key: createHash('sha256').update(`1:${r.sha256}`).digest('hex') }))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    const cut = order.slice(MINORITY_TRAIN).map((r) => r.id);
    await callCore(core, 'images.exclude', { imageIds: cut });
    const heldOut = db
      .prepare(
        `SELECT s.split, COUNT(*) AS n FROM images i JOIN labels l ON l.image_id = i.id JOIN classes c ON c.id = l.class_id JOIN splits s ON s.image_id = i.id
         WHERE c.name = ? AND i.status = 'active' GROUP BY s.split`,
      )
      .all(MINORITY) as { split: string; n: number }[];
    const inSplit = (s: string) => heldOut.find((r) => r.split === s)?.n ?? 0;

    const strategies: [string, TrainConfigPatch][] = [
      ['nothing', { balance: { strategy: 'none' } }],
      ['class weights', { balance: { strategy: 'weights' } }],
      ['oversample (augmented)', { balance: { strategy: 'oversample' }, augment: { policy: AUGMENT_PRESETS.natural, views: 0 } }],
      [`augment all (K=${K})`, { balance: { strategy: 'none' }, augment: { policy: AUGMENT_PRESETS.natural, views: K } }],
      [`augment all + weights`, { balance: { strategy: 'weights' }, augment: { policy: AUGMENT_PRESETS.natural, views: K } }],
      ['oversample + weights', { balance: { strategy: 'oversample+weights' }, augment: { policy: AUGMENT_PRESETS.natural, views: 0 } }],
    ];
    const figures: StrategyFigures[] = [];
    for (const [name, config] of strategies) {
      const { jobId, runId } = await callCore(core, 'train.start', { config: { ...config, seed: 1 } });
      await runJob(core, jobId, seen);
      const run: RunDetail = await callCore(core, 'runs.get', { runId });
      const test = run.metrics!.test!;
      const minority = test.perClass[MINORITY]!;
      figures.push({
        name,
        macroF1: test.macroF1,
        accuracy: test.accuracy,
        minorityRecall: minority.recall,
        minoritySupport: minority.support,
        examples: run.plan?.examples.total ?? 0,
        views: run.plan?.examples.views ?? 0,
        embedSeconds: run.seconds!.embed,
        trainSeconds: run.seconds!.train,
      });
    }
    return {
      images,
      trainImages: train.length,
      backbone,
      workers: pool.size,
      views: {
        singleSeconds,
        kViewsSeconds,
        k: K,
        ratioToK: kViewsSeconds / (K * singleSeconds),
        viewsPerSecond: (train.length * K) / kViewsSeconds,
        imagesPerSecond: train.length / singleSeconds,
      },
      minority: { name: MINORITY, keptTrain: MINORITY_TRAIN, cutTrain: cut.length, val: inSplit('val'), test: inSplit('test') },
      strategies: figures,
    };
  } finally {
    off();
    await core.close();
  }
}

export function printAugment(f: AugmentFigures): void {
  const pct = (x: number) => `${(x * 100).toFixed(1)}`.padStart(5);
  console.log(`  ${f.images} images, ${f.trainImages} in training · ${f.backbone} · ${f.workers} workers`);
  console.log(
    `  training split as plain images: ${f.views.singleSeconds.toFixed(1)} s (${f.views.imagesPerSecond.toFixed(1)} images/s); ` +
      `as K=${f.views.k} augmented views: ${f.views.kViewsSeconds.toFixed(1)} s (${f.views.viewsPerSecond.toFixed(1)} views/s) ` +
      `= ${f.views.ratioToK.toFixed(2)} × K × single (target ≤ 1.00)`,
  );
  console.log(`\n  "${f.minority.name}" cut to ${f.minority.keptTrain} training images (${f.minority.cutTrain} excluded, seeded); its ${f.minority.val} validation and ${f.minority.test} test images kept`);
  console.log(`  ${'strategy'.padEnd(24)} macro-F1  ${f.minority.name} recall  accuracy  examples   views  embed s  train s`);
  const base = f.strategies[0]!;
  for (const s of f.strategies) {
    const gain = s === base ? '' : ` (${s.minorityRecall - base.minorityRecall >= 0 ? '+' : ''}${((s.minorityRecall - base.minorityRecall) * 100).toFixed(1)})`;
    console.log(
      `  ${s.name.padEnd(24)} ${pct(s.macroF1)}   ${`${pct(s.minorityRecall)}${gain}`.padEnd(14)} ${pct(s.accuracy)}   ${String(s.examples).padStart(8)}  ${String(s.views).padStart(6)}  ${s.embedSeconds.toFixed(1).padStart(7)}  ${s.trainSeconds.toFixed(1).padStart(7)}`,
    );
  }
  const best = [...f.strategies.slice(1)].filter((s) => s.macroF1 >= base.macroF1).sort((a, b) => b.minorityRecall - a.minorityRecall)[0];
  console.log(
    best
      ? `  best without lowering macro-F1: ${best.name}, ${f.minority.name} recall +${((best.minorityRecall - base.minorityRecall) * 100).toFixed(1)} points (target ≥ +10)`
      : `  no strategy kept macro-F1 at or above doing nothing (${pct(base.macroF1)})`,
  );
}
