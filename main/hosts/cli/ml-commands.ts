/** `seedbed train`, `seedbed predict` and `seedbed export`. */
import fs from 'node:fs';
import nodePath from 'node:path';
import {
  AUGMENT_PRESET_NAMES,
  augmentPolicySchema,
  BALANCE_STRATEGIES,
  MAX_AUGMENT_VIEWS,
  type AugmentPolicy,
  type AugmentPresetName,
  type BalanceStrategy,
  type JobInfo,
  type RunPlan,
  type RunSummary,
  type SplitMetrics,
  type TrainConfigPatch,
  trainConfigPatchSchema,
} from '../../../shared/contract/index.ts';
import { AUGMENT_PRESETS } from '../../../shared/domain/augment-presets.ts';
import type { Core } from '../../core/core.ts';
import { UsageError, type ParsedArgs } from './args.ts';
import { EXIT_INTERRUPTED, JobWatcher } from './import-command.ts';
import { duration } from './progress.ts';
import { call, CliFailure, count, createCore, openProject, plural, writeFully } from './session.ts';

/** What `seedbed train --json` prints. */
export interface TrainSummary {
  runId: number;
  backbone: string;
  backend: string | null;
  workers: number | null;
  seconds: { embed: number; train: number; total: number };
  metrics: { val: SplitMetrics | null; test: SplitMetrics | null };
  /** What it trained on after rebalancing and augmentation. */
  plan: RunPlan | null;
}

export function wholeNumber(args: ParsedArgs, name: string, command: string, min: number, max: number): number | undefined {
  const raw = args.values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${raw}".`, command);
  return n;
}

/** One status line on stderr, rewritten in place on a terminal. */
class StageLine {
  #shown = false;
  constructor(private readonly stream: NodeJS.WriteStream) {}
  show(text: string): void {
    if (this.stream.isTTY !== true) return;
    this.stream.write(`\r\x1b[2K${text.slice(0, (this.stream.columns || 80) - 1)}`);
    this.#shown = true;
  }
  clear(): void {
    if (this.#shown) this.stream.write('\r\x1b[2K');
    this.#shown = false;
  }
}

/** Runs a job to its end with Ctrl+C cancelling it; resolves with the finished job. */
export async function followJob(core: Core, start: () => Promise<string>, describe: (job: JobInfo) => string | null): Promise<{ job: JobInfo; interrupted: boolean }> {
  const line = new StageLine(process.stderr);
  let interrupted = false;
  let jobId: string | null = null;
  const onInterrupt = () => {
    if (interrupted) process.exit(EXIT_INTERRUPTED);
    interrupted = true;
    line.show('Cancelling… (press Ctrl+C again to quit at once)');
    if (jobId) void core.dispatch('jobs.cancel', { jobId });
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  const watcher = new JobWatcher(core, (job) => {
    if (job.id !== jobId || interrupted) return;
    const text = describe(job);
    if (text) line.show(text);
  });
  try {
    jobId = await start();
    if (interrupted) void core.dispatch('jobs.cancel', { jobId });
    const job = await watcher.waitDone(jobId);
    return { job, interrupted };
  } finally {
    watcher.stop();
    line.clear();
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
  }
}

export function percent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function metricsTable(m: SplitMetrics): string[] {
  const names = Object.keys(m.perClass);
  const width = Math.max(5, ...names.map((n) => n.length));
  const lines = [`  ${'class'.padEnd(width)}  precision  recall     F1  images`];
  for (const name of names) {
    const c = m.perClass[name]!;
    lines.push(`  ${name.padEnd(width)}  ${percent(c.precision).padStart(9)}  ${percent(c.recall).padStart(6)}  ${percent(c.f1).padStart(6)}  ${count(c.support).padStart(6)}`);
  }
  return lines;
}

/** --augment: none, a preset name, or a policy JSON file (checked with the contract's schema). */
export function readAugmentPolicy(value: string | undefined, command = 'train'): AugmentPolicy | null {
  if (value === undefined || value === 'none') return null;
  if ((AUGMENT_PRESET_NAMES as readonly string[]).includes(value)) return AUGMENT_PRESETS[value as AugmentPresetName];
  if (!value.toLowerCase().endsWith('.json')) {
    throw new UsageError(`--augment takes none, one of ${AUGMENT_PRESET_NAMES.join(', ')}, or a .json policy file, not "${value}".`, command);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(value, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'there is no such file' : err instanceof SyntaxError ? `it is not valid JSON (${err.message})` : (err as Error).message;
    throw new CliFailure(`Seedbed cannot use the augmentation policy ${value}: ${why}.`);
  }
  const parsed = augmentPolicySchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
    throw new CliFailure(`The augmentation policy in ${value} does not work: ${problems}`);
  }
  return parsed.data;
}

/** --config: training settings from a JSON file, checked with the contract's schema. */
export function readConfigFile(file: string): TrainConfigPatch {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'there is no such file' : err instanceof SyntaxError ? `it is not valid JSON (${err.message})` : (err as Error).message;
    throw new CliFailure(`Seedbed cannot use the training settings in ${file}: ${why}.`);
  }
  const parsed = trainConfigPatchSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
    throw new CliFailure(`The training settings in ${file} do not work: ${problems}`);
  }
  return parsed.data;
}

export async function runTrain(args: ParsedArgs): Promise<number> {
  const config: TrainConfigPatch = args.values.config !== undefined ? readConfigFile(args.values.config) : {};
  const clip = args.values['clip-norm'];
  if (clip !== undefined) {
    const x = Number(clip);
    if (!Number.isFinite(x) || x < 0) throw new UsageError(`--clip-norm must be a number, 0 or more (0 turns clipping off), not "${clip}".`, 'train');
    config.clipNorm = x;
  }
  if (args.values.backbone !== undefined) config.backbone = args.values.backbone;
  const epochs = wholeNumber(args, 'epochs', 'train', 1, 1000);
  if (epochs !== undefined) config.epochs = epochs;
  const fineTune = wholeNumber(args, 'fine-tune', 'train', 0, 17);
  if (fineTune !== undefined) config.fineTuneBlocks = fineTune;
  const seed = wholeNumber(args, 'seed', 'train', 0, 2 ** 31 - 1);
  if (seed !== undefined) config.seed = seed;
  const views = wholeNumber(args, 'views', 'train', 0, MAX_AUGMENT_VIEWS);
  const policy = readAugmentPolicy(args.values.augment);
  if (views !== undefined && views > 0 && !policy) throw new UsageError('--views needs an augmentation: add --augment natural (or another preset, or a policy file).', 'train');
  if (policy) config.augment = { policy, views: views ?? 4 };
  const balance = args.values.balance;
  if (balance !== undefined) {
    if (!(BALANCE_STRATEGIES as readonly string[]).includes(balance)) {
      throw new UsageError(`--balance must be one of ${BALANCE_STRATEGIES.join(', ')}, not "${balance}".`, 'train');
    }
    config.balance = { strategy: balance as BalanceStrategy };
  }
  const json = args.flags.has('json');

  const core = await createCore('cli');
  try {
    await openProject(core, args.values.project!, false);
    let runId = 0;
    let epochText = '';
    const offEpochs = core.events.on((message) => {
      if (message.event !== 'run.epoch' || message.data.runId !== runId) return;
      const e = message.data.epoch;
      const phase = e.phase === 'finetune' ? 'Fine-tuning' : 'Training';
      epochText = `${phase}: epoch ${e.epoch} of at most ${message.data.plannedEpochs} · validation accuracy ${e.valAccuracy === null ? '–' : percent(e.valAccuracy)}`;
    });
    const { job, interrupted } = await followJob(
      core,
      async () => {
        const started = await call(core, 'train.start', { config });
        runId = started.runId;
        return started.jobId;
      },
      (j) => epochText || (j.total > 0 ? `Summarising images with the backbone: ${count(j.done)} / ${count(j.total)}${j.rate > 0 ? ` · ${Math.round(j.rate)} images/s` : ''}${j.etaSeconds !== null ? ` · about ${duration(j.etaSeconds)} left` : ''}` : 'Preparing…'),
    );
    offEpochs();
    if (job.status === 'cancelled' || interrupted) {
      await writeFully(process.stderr, `Training was cancelled. The project is as it was; run ${runId} is kept as cancelled with its curves so far.\n`);
      return EXIT_INTERRUPTED;
    }
    if (job.status === 'failed') throw new CliFailure(job.error ?? 'Training failed.');
    const run = await call(core, 'runs.get', { runId });
    const summary: TrainSummary = {
      runId,
      backbone: run.backbone,
      backend: run.backend,
      workers: run.workers,
      seconds: run.seconds ?? { embed: 0, train: 0, total: 0 },
      metrics: { val: run.metrics?.val ?? null, test: run.metrics?.test ?? null },
      plan: run.plan,
    };
    if (json) {
      await writeFully(process.stdout, `${JSON.stringify(summary)}\n`);
      return 0;
    }
    await writeFully(process.stdout, describeRun(run, summary));
    return 0;
  } finally {
    await core.close();
  }
}

function describeRun(run: RunSummary & { diagnosis?: { message: string } | null }, s: TrainSummary): string {
  const lines = [
    `Run ${s.runId} trained on ${s.backbone} with TensorFlow.js ${s.backend ?? '?'} on ${plural(s.workers ?? 1, 'worker')} in ${duration(s.seconds.total)} (summarising images ${duration(s.seconds.embed)}, training ${duration(s.seconds.train)}).`,
  ];
  const plan = run.plan;
  if (plan) {
    const views = plan.viewsPerImage > 0 ? `, ${plural(plan.viewsPerImage, 'augmented view')} of each (${plan.policyName})` : '';
    lines.push(
      `Trained on ${plural(plan.examples.total, 'example')}: ${plural(plan.examples.images, 'image')}${views}${plan.examples.views && !plan.viewsPerImage ? `, ${plural(plan.examples.views, 'augmented view')} (${plan.policyName})` : ''}${plan.examples.dropped ? `; ${plural(plan.examples.dropped, 'image')} left out by undersampling` : ''}.`,
      `Rebalancing: ${plan.balance.notes.join(' ')}`,
    );
  }
  const best = run.bestEpoch;
  if (best) lines.push(`Best epoch: ${best.epoch}${best.phase === 'finetune' ? ' of fine-tuning' : ''}.`);
  const test = s.metrics.test;
  if (test) {
    lines.push('', `Test images (never used in training): ${count(test.count)}. Accuracy ${percent(test.accuracy)}, macro-F1 ${percent(test.macroF1)}.`, ...metricsTable(test));
  } else {
    lines.push('', 'The project has no test images, so there is no test accuracy.');
  }
  if (s.metrics.val) lines.push('', `Validation accuracy ${percent(s.metrics.val.accuracy)} on ${plural(s.metrics.val.count, 'image')}.`);
  if (run.diagnosis) lines.push('', run.diagnosis.message);
  if (run.error) lines.push('', run.error);
  lines.push('', `Use it: seedbed predict FOLDER --project … --run ${s.runId}, or seedbed export --run ${s.runId} --out FOLDER --project ….`);
  return `${lines.join('\n')}\n`;
}

export async function latestRun(core: Core, arg: string | undefined): Promise<number> {
  if (arg !== undefined) {
    const n = Number(arg);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--run takes a run number such as 3, not "${arg}".`);
    return n;
  }
  const runs = await call(core, 'runs.list', {});
  const done = runs.find((r) => r.status === 'done');
  if (!done) throw new CliFailure('This project has no trained run yet. Train one first: seedbed train --project ….');
  return done.id;
}

export async function runPredict(args: ParsedArgs): Promise<number> {
  const folder = args.positionals[0];
  const unlabeled = args.flags.has('unlabeled');
  if ((folder === undefined) === !unlabeled) throw new UsageError('Give either a FOLDER of images or --unlabeled (not both).', 'predict');
  const json = args.flags.has('json');
  const core = await createCore('cli');
  try {
    await openProject(core, args.values.project!, false);
    const runId = await latestRun(core, args.values.run);
    if (folder !== undefined) {
      const result = await call(core, 'predict.folder', { runId, dir: nodePath.resolve(folder) });
      if (json) {
        await writeFully(process.stdout, `${JSON.stringify(result)}\n`);
        return 0;
      }
      const width = Math.max(8, ...result.rows.map((r) => (r.className ?? '').length));
      const lines = [`${plural(result.rows.length, 'image')} classified with run ${runId} (TensorFlow.js ${result.backend ?? '–'} on ${plural(result.workers, 'worker')}):`];
      for (const r of result.rows) {
        if (r.error) lines.push(`  ${'?'.padEnd(width)}         ${r.path}  (${r.error})`);
        else lines.push(`  ${(r.abstained ? 'not sure' : r.className!).padEnd(width)}  ${percent(r.confidence!).padStart(6)}  ${r.path}`);
      }
      await writeFully(process.stdout, `${lines.join('\n')}\n`);
      return result.rows.some((r) => r.error) ? 1 : 0;
    }
    const { job, interrupted } = await followJob(
      core,
      async () => (await call(core, 'predict.start', { runId, scope: 'unlabeled' })).jobId,
      (j) => `Predicting ${count(j.done)} / ${count(j.total)} images`,
    );
    if (interrupted || job.status === 'cancelled') return EXIT_INTERRUPTED;
    if (job.status === 'failed') throw new CliFailure(job.error ?? 'Prediction failed.');
    const page = await call(core, 'images.query', { filter: { unlabeled: true, sort: 'confidence-asc' }, offset: 0, limit: 2000 });
    const runtime = await call(core, 'ml.runtime', {});
    const rows = page.rows.filter((r) => r.prediction);
    if (json) {
      await writeFully(
        process.stdout,
        `${JSON.stringify({ runId, backend: runtime.backend, workers: runtime.workers, predictions: rows.map((r) => ({ path: r.path, className: r.prediction!.className, confidence: r.prediction!.confidence })) })}\n`,
      );
      return 0;
    }
    const width = Math.max(5, ...rows.map((r) => r.prediction!.className.length));
    const lines = [
      `${plural(rows.length, 'unlabelled image')} predicted with run ${runId} on TensorFlow.js ${runtime.backend ?? '–'} (${plural(runtime.workers, 'worker')}), least sure first; the studio shows them in the gallery:`,
    ];
    for (const r of rows) lines.push(`  ${r.prediction!.className.padEnd(width)}  ${percent(r.prediction!.confidence).padStart(6)}  ${r.path}`);
    await writeFully(process.stdout, `${lines.join('\n')}\n`);
    return 0;
  } finally {
    await core.close();
  }
}

export async function runExport(args: ParsedArgs): Promise<number> {
  const core = await createCore('cli');
  try {
    await openProject(core, args.values.project!, false);
    const runId = await latestRun(core, args.values.run);
    const result = await call(core, 'export.run', { runId, dir: nodePath.resolve(args.values.out!) });
    await writeFully(process.stdout, `Exported run ${runId} to ${result.dir}: ${result.files.join(', ')}.\n`);
    return 0;
  } finally {
    await core.close();
  }
}
