/**
 * `npm run bench`: speed, memory and accuracy figures.
 *   - import throughput (images/s) on ../shared/data/trashnet, cold (decode + thumbnail) and
 *     re-import (nothing changed);
 *   - gallery page query latency (p50/p95) on a project of 50,000 synthetic rows;
 *   - transfer learning: embeddings/s per backbone with 1 worker and all; import → embed →
 *     train on all of TrashNet with the default settings (test accuracy, seconds); head
 *     training alone on cached embeddings;
 *   - cleaning: TrashNet with injected problems (flips, near-duplicates, blur, dark, strays):
 *     precision and recall per detector, and the time of all detectors on cached embeddings;
 *   - augmentation and rebalancing: K augmented views versus K × one view; with "trash" cut to
 *     30 training images, macro-F1 and trash recall per strategy (augment-bench.ts);
 *   - auto-tune: three 50-trial searches (seeds 1–3) against the default settings on test
 *     macro-F1, and a learning rate of 10 against the NaN guard (tune-bench.ts);
 *   - peak RSS of the whole process (worker threads included).
 * Options: --data DIR (default ../shared/data/trashnet), --rows N (default 50000), --json FILE,
 * --only foundation|learning|cleaning|augment|tune, --outliers DIR (default ../shared/data/chest_xray), --models DIR (default SEEDBED_MODELS_DIR or ../shared/models).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { EvaluationResult, GalleryFilter, ImportReport, JobInfo, Result } from '../../shared/contract/index.ts';
import type { CrossValidationReport, RobustnessReport, RunDetail } from '../../shared/contract/index.ts';
import { Core } from '../core/core.ts';
import { jobEnded, unwrap } from '../core/core-calls.ts';
import { benchCleaning, printCleaning } from './clean-bench.ts';
import { benchEmbeddings } from './embed-bench.ts';
import { benchAugment, printAugment } from './augment-bench.ts';
import { benchTune, printTune } from './tune-bench.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const argv = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : fallback;
};
const dataDir = path.resolve(option('data', path.join(root, '..', 'shared', 'data', 'trashnet')));
const rows = Number(option('rows', '50000'));
const jsonOut = argv.includes('--json') ? option('json', 'bench-results/bench.json') : null;
const only = option('only', 'all');
const modelsDir = path.resolve(option('models', process.env.SEEDBED_MODELS_DIR || path.join(root, '..', 'shared', 'models')));
process.env.SEEDBED_MODELS_DIR = modelsDir;

function newCore(dir: string): Core {
  return new Core({
    host: { kind: 'cli', appVersion: 'bench', nativeDialogs: false, uploads: false, platform: process.platform },
    stateDir: path.join(dir, 'state'),
    sampleDir: path.join(root, 'resources', 'sample'),
  });
}

async function importAndWait(core: Core, paths: string[]): Promise<{ report: ImportReport; seconds: number }> {
  const started = performance.now();
  const done = new Promise<JobInfo>((resolve) => {
    const off = core.events.on((m) => {
      if (m.event === 'job.done') {
        off();
        resolve(m.data as JobInfo);
      }
    });
  });
  const { jobId } = unwrap<{ jobId: string }>(await core.dispatch('import.start', { paths, split: 'auto' }));
  await done;
  const seconds = (performance.now() - started) / 1000;
  return { report: unwrap<ImportReport>(await core.dispatch('import.report', { jobId })), seconds };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function benchImport(dir: string) {
  const core = newCore(dir);
  unwrap(await core.dispatch('project.create', { path: path.join(dir, 'import.seedbed') }));
  const cold = await importAndWait(core, [dataDir]);
  const again = await importAndWait(core, [dataDir]);
  await core.close();
  return {
    images: cold.report.imported,
    skipped: cold.report.skipped.length,
    coldSeconds: cold.seconds,
    coldImagesPerSecond: cold.report.imported / cold.seconds,
    reimportSeconds: again.seconds,
    reimportUnchanged: again.report.unchanged,
    reimportImported: again.report.imported,
    workers: os.availableParallelism(),
  };
}

async function benchGallery(dir: string) {
  const core = newCore(dir);
  unwrap(await core.dispatch('project.create', { path: path.join(dir, 'gallery.seedbed') }));
  const db = core.requireStore().db;
  const classNames = ['cardboard', 'glass', 'metal', 'paper', 'plastic', 'trash'];
  const classIds: number[] = [];
  for (const name of classNames) {
    classIds.push(unwrap<{ id: number }>(await core.dispatch('classes.create', { name })).id);
  }
  const insertImage = db.prepare(
    `INSERT INTO images (path, sha256, width, height, format, bytes, status, added_at)
     VALUES (@path, @sha, 320, 240, 'jpeg', 20000, @status, @at)`,
  );
  const insertPath = db.prepare(
    'INSERT INTO image_paths (path, image_id, size, mtime_ms, added_at) VALUES (@path, @id, 20000, 0, @at)',
  );
  const insertLabel = db.prepare(
    "INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (@id, @classId, 'imported', @at)",
  );
  const insertSplit = db.prepare(
    "INSERT INTO splits (image_id, split, source, updated_at) VALUES (@id, @split, 'imported', @at)",
  );
  const at = Date.now();
  const seedStarted = performance.now();
  db.transaction(() => {
    for (let i = 0; i < rows; i++) {
      const folder = classNames[i % classNames.length]!;
      const p = `/data/synthetic/${folder}/img_${String(i).padStart(6, '0')}.jpg`;
      const info = insertImage.run({ path: p, sha: i.toString(16).padStart(64, '0'), status: i % 50 === 0 ? 'excluded' : 'active', at });
      const id = Number(info.lastInsertRowid);
      insertPath.run({ path: p, id, at });
      if (i % 7 !== 0) insertLabel.run({ id, classId: classIds[i % classIds.length]!, at });
      insertSplit.run({ id, split: i % 10 < 7 ? 'train' : i % 10 < 9 ? 'val' : 'test', at });
    }
  })();
  const seedSeconds = (performance.now() - seedStarted) / 1000;

  const filters: Record<string, GalleryFilter> = {
    all: {},
    class: { classIds: [classIds[2]!] },
    unlabeled: { unlabeled: true },
    split: { splits: ['val'] },
    search: { search: 'img_04' },
    excluded: { status: 'excluded' },
  };
  const perFilter: Record<string, { p50: number; p95: number }> = {};
  const all: number[] = [];
  for (const [name, filter] of Object.entries(filters)) {
    const times: number[] = [];
    const total = unwrap<{ total: number }>(await core.dispatch('images.query', { filter, offset: 0, limit: 1 })).total;
    for (let i = 0; i < 200; i++) {
      const offset = Math.floor(Math.random() * Math.max(1, total - 200));
      const t = performance.now();
      unwrap(await core.dispatch('images.query', { filter, offset, limit: 200 }));
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    perFilter[name] = { p50: percentile(times, 50), p95: percentile(times, 95) };
    all.push(...times);
  }
  all.sort((a, b) => a - b);
  // Queries are cached until the data changes: measure the first query after a label change too.
  const coldQuery: number[] = [];
  const coldSummary: number[] = [];
  const coldLabel: number[] = [];
  for (let i = 0; i < 20; i++) {
    const imageId = 1 + Math.floor(Math.random() * rows);
    let t = performance.now();
    unwrap(await core.dispatch('labels.set', { imageIds: [imageId], classId: classIds[i % classIds.length]! }));
    coldLabel.push(performance.now() - t);
    t = performance.now();
    unwrap(await core.dispatch('images.query', { filter: {}, offset: Math.floor(rows / 2), limit: 200 }));
    coldQuery.push(performance.now() - t);
    t = performance.now();
    unwrap(await core.dispatch('dataset.summary', {}));
    coldSummary.push(performance.now() - t);
  }
  for (const list of [coldQuery, coldSummary, coldLabel]) list.sort((a, b) => a - b);
  await core.close();
  return {
    rows,
    seedSeconds,
    pageSize: 200,
    p50: percentile(all, 50),
    p95: percentile(all, 95),
    perFilter,
    afterChange: {
      labelP50: percentile(coldLabel, 50),
      queryP50: percentile(coldQuery, 50),
      queryP95: percentile(coldQuery, 95),
      summaryP50: percentile(coldSummary, 50),
      summaryP95: percentile(coldSummary, 95),
    },
  };
}

/** Import + embed + train on the whole dataset with the default settings, as a user would. */
async function benchLearning(dir: string) {
  const core = newCore(dir);
  try {
    unwrap(await core.dispatch('project.create', { path: path.join(dir, 'learning.seedbed') }));
    const started = performance.now();
    const imported = await importAndWait(core, [dataDir]);
    const trainStarted = performance.now();
    const { jobId, runId } = unwrap<{ jobId: string; runId: number }>(await core.dispatch('train.start', { config: {} }));
    const job = await jobEnded(core, jobId);
    if (job.status !== 'done') throw new Error(`Training ${job.status}: ${job.error}`);
    const totalSeconds = (performance.now() - started) / 1000;
    const run = unwrap<RunDetail>(await core.dispatch('runs.get', { runId }));
    // The same run again: every embedding is cached now, so this is head training alone.
    const again = performance.now();
    const second = unwrap<{ jobId: string; runId: number }>(await core.dispatch('train.start', { config: {} }));
    await jobEnded(core, second.jobId);
    const cachedSeconds = (performance.now() - again) / 1000;
    const rerun = unwrap<RunDetail>(await core.dispatch('runs.get', { runId: second.runId }));
    // Evaluation of the run on its test split, embeddings cached: every metric, intervals, curves, calibration.
    const evalStarted = performance.now();
    const evaluation = unwrap<EvaluationResult>(await core.dispatch('eval.run', { runId }));
    const evalSeconds = (performance.now() - evalStarted) / 1000;
    // Robustness (15 corrupted views of every test image embedded, then FGSM) and 5-fold cross-validation of the same run.
    const robustnessStarted = performance.now();
    const robustnessJob = await jobEnded(core, unwrap<{ jobId: string }>(await core.dispatch('robustness.start', { runId })).jobId);
    if (robustnessJob.status !== 'done') throw new Error(`Robustness ${robustnessJob.status}: ${robustnessJob.error}`);
    const robustnessSeconds = (performance.now() - robustnessStarted) / 1000;
    const robustness = unwrap<RobustnessReport>(await core.dispatch('robustness.get', { runId }));
    const crossvalStarted = performance.now();
    const crossvalJob = await jobEnded(core, unwrap<{ jobId: string }>(await core.dispatch('crossval.start', { runId, folds: 5 })).jobId);
    if (crossvalJob.status !== 'done') throw new Error(`Cross-validation ${crossvalJob.status}: ${crossvalJob.error}`);
    const crossvalSeconds = (performance.now() - crossvalStarted) / 1000;
    const crossval = unwrap<CrossValidationReport>(await core.dispatch('crossval.get', { runId }));
    return {
      images: imported.report.imported,
      importSeconds: imported.seconds,
      embedSeconds: run.seconds!.embed,
      trainSeconds: run.seconds!.train,
      trainJobSeconds: (performance.now() - trainStarted) / 1000 - cachedSeconds,
      totalSeconds,
      epochs: run.epochs.length,
      bestEpoch: run.bestEpoch,
      backbone: run.backbone,
      backend: run.backend,
      workers: run.workers,
      test: { accuracy: run.metrics!.test!.accuracy, macroF1: run.metrics!.test!.macroF1, count: run.metrics!.test!.count },
      val: { accuracy: run.metrics!.val!.accuracy },
      cachedRunSeconds: cachedSeconds,
      cachedRunTrainSeconds: rerun.seconds!.train,
      reproducible: rerun.metrics!.test!.accuracy === run.metrics!.test!.accuracy,
      evaluation: {
        seconds: evalSeconds,
        images: evaluation.count,
        accuracy: evaluation.headline.accuracy,
        macroF1: evaluation.headline.macroF1,
        ece: evaluation.calibration.ece,
        eceAfterTemperature: evaluation.temperature?.after.ece ?? null,
        temperature: evaluation.temperature?.value ?? null,
      },
      robustness: {
        seconds: robustnessSeconds,
        images: robustness.count,
        clean: robustness.cleanAccuracy,
        corruptions: Object.fromEntries(robustness.corruptions.map((c) => [c.corruption, c.accuracy])),
        fgsm: robustness.fgsm,
        fgsmNote: robustness.fgsmNote,
      },
      crossval: { seconds: crossvalSeconds, folds: crossval.folds, images: crossval.images, mean: crossval.mean, std: crossval.std },
    };
  } finally {
    await core.close();
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'seedbed-bench-'));
try {
  console.log(`Seedbed benchmark — ${os.cpus().length} cores, node ${process.version}`);
  if (!fs.existsSync(dataDir)) throw new Error(`No dataset at ${dataDir} (use --data DIR).`);
  const results: Record<string, unknown> = {};
  if (only === 'all' || only === 'learning') {
    console.log(`\nEmbeddings per second (backbones in ${modelsDir}; decode included)`);
    results.embeddings = await benchEmbeddings(dataDir, modelsDir);
    console.log(`\nImport + embed + train on all of ${path.basename(dataDir)} with the default settings (stratified 70/15/15, seed 1)`);
    const l = await benchLearning(dir);
    results.learning = l;
    console.log(`  ${l.images} images · ${l.backbone} · ${l.backend} · ${l.workers} workers`);
    console.log(`  import ${l.importSeconds.toFixed(1)} s + embed ${l.embedSeconds.toFixed(1)} s + train ${l.trainSeconds.toFixed(1)} s = ${l.totalSeconds.toFixed(1)} s total (target < 180 s)`);
    console.log(`  test accuracy ${l.test.accuracy.toFixed(3)} (target ≥ 0.85), macro-F1 ${l.test.macroF1.toFixed(3)} on ${l.test.count} test images; val accuracy ${l.val.accuracy.toFixed(3)}; ${l.epochs} epochs (best ${l.bestEpoch?.epoch})`);
    console.log(`  the same run again on cached embeddings: ${l.cachedRunSeconds.toFixed(1)} s (head training ${l.cachedRunTrainSeconds.toFixed(1)} s); same test accuracy: ${l.reproducible ? 'yes' : 'NO'}`);
    const ev = l.evaluation;
    console.log(
      `  evaluation of the run on ${ev.images} test images (all metrics, 1,000 bootstrap resamples, curves, calibration): ${ev.seconds.toFixed(2)} s (target < 5 s); ` +
        `accuracy ${ev.accuracy.value.toFixed(3)} [${ev.accuracy.low.toFixed(3)}, ${ev.accuracy.high.toFixed(3)}], macro-F1 ${ev.macroF1.value.toFixed(3)} [${ev.macroF1.low.toFixed(3)}, ${ev.macroF1.high.toFixed(3)}], ` +
        `ECE ${ev.ece.toFixed(3)}${ev.eceAfterTemperature !== null ? ` → ${ev.eceAfterTemperature.toFixed(3)} at T = ${ev.temperature!.toFixed(2)}` : ''}`,
    );
    const rb = l.robustness;
    console.log(
      `  robustness on ${rb.images} test images: ${rb.seconds.toFixed(1)} s; clean ${rb.clean.toFixed(3)}; ` +
        Object.entries(rb.corruptions).map(([name, a]) => `${name} ${a.map((v) => v.toFixed(2)).join('/')}`).join(', ') +
        `; FGSM ${rb.fgsm ? rb.fgsm.map((f) => `ε ${f.epsilon}: ${f.accuracy.toFixed(2)}`).join(', ') : `not run (${rb.fgsmNote})`}`,
    );
    const cv = l.crossval;
    console.log(
      `  ${cv.folds}-fold cross-validation on ${cv.images} train + val images: ${cv.seconds.toFixed(1)} s; accuracy ${cv.mean.accuracy.toFixed(3)} ± ${cv.std.accuracy.toFixed(3)}, ` +
        `macro-F1 ${cv.mean.macroF1.toFixed(3)} ± ${cv.std.macroF1.toFixed(3)}, balanced accuracy ${cv.mean.balancedAccuracy.toFixed(3)} ± ${cv.std.balancedAccuracy.toFixed(3)}`,
    );
  }
  if (only === 'all' || only === 'cleaning') {
    console.log(`\nCleaning: TrashNet with known problems injected (seed 1), every detector scored`);
    const c = await benchCleaning(dir, {
      trashnet: dataDir,
      chestXray: path.resolve(option('outliers', path.join(root, '..', 'shared', 'data', 'chest_xray'))),
      sampleDir: path.join(root, 'resources', 'sample'),
    });
    results.cleaning = c;
    printCleaning(c);
  }
  if (only === 'all' || only === 'augment') {
    console.log(`\nAugmentation and rebalancing on ${path.basename(dataDir)} (seed 1)`);
    const a = await benchAugment(dir, { trashnet: dataDir, sampleDir: path.join(root, 'resources', 'sample') });
    results.augment = a;
    printAugment(a);
  }
  if (only === 'all' || only === 'tune') {
    console.log(`\nAuto-tune on ${path.basename(dataDir)}: 50-trial searches against the default settings, and a learning rate of 10`);
    const t = await benchTune(dir, { trashnet: dataDir, sampleDir: path.join(root, 'resources', 'sample') });
    results.tune = t;
    printTune(t);
  }
  if (only === 'learning' || only === 'cleaning' || only === 'augment' || only === 'tune') {
    const peakRssMb = process.resourceUsage().maxRSS / 1024;
    console.log(`\nPeak RSS: ${peakRssMb.toFixed(0)} MB`);
    if (jsonOut) {
      fs.mkdirSync(path.dirname(path.resolve(jsonOut)), { recursive: true });
      fs.writeFileSync(jsonOut, JSON.stringify({ ...results, peakRssMb }, null, 2));
    }
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  }
  console.log(`\nImport of ${dataDir}`);
  const imp = await benchImport(dir);
  console.log(`  ${imp.images} images in ${imp.coldSeconds.toFixed(1)} s = ${imp.coldImagesPerSecond.toFixed(0)} images/s (${imp.workers} decode workers; ${imp.skipped} skipped)`);
  console.log(`  re-import: ${imp.reimportSeconds.toFixed(2)} s, ${imp.reimportUnchanged} unchanged, ${imp.reimportImported} new`);
  console.log(`\nGallery page queries, ${rows.toLocaleString('en')} rows, 200 per page, random offsets`);
  const gal = await benchGallery(dir);
  console.log(`  seeded in ${gal.seedSeconds.toFixed(1)} s`);
  for (const [name, t] of Object.entries(gal.perFilter)) {
    console.log(`  ${name.padEnd(10)} p50 ${t.p50.toFixed(2)} ms   p95 ${t.p95.toFixed(2)} ms`);
  }
  console.log(`  overall    p50 ${gal.p50.toFixed(2)} ms   p95 ${gal.p95.toFixed(2)} ms`);
  const c = gal.afterChange;
  console.log(`  first query after a label change: p50 ${c.queryP50.toFixed(1)} ms  p95 ${c.queryP95.toFixed(1)} ms (label write p50 ${c.labelP50.toFixed(1)} ms)`);
  console.log(`  dataset summary after a change:   p50 ${c.summaryP50.toFixed(1)} ms  p95 ${c.summaryP95.toFixed(1)} ms`);
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(`\nPeak RSS: ${peakRssMb.toFixed(0)} MB`);
  if (jsonOut) {
    fs.mkdirSync(path.dirname(path.resolve(jsonOut)), { recursive: true });
    fs.writeFileSync(jsonOut, JSON.stringify({ ...results, import: imp, gallery: gal, peakRssMb }, null, 2));
    console.log(`Figures written to ${jsonOut}`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
