/** `seedbed tune`: a hyperparameter search, printed as a table of trials and the best settings. */
import fs from 'node:fs';
import nodePath from 'node:path';
import type { TrainConfig, TuneBudget, TuneDetail, TuneStartParams, TuneTrial } from '../../../shared/contract/index.ts';
import type { Core } from '../../core/core.ts';
import { UsageError, type ParsedArgs } from './args.ts';
import { EXIT_INTERRUPTED } from './import-command.ts';
import { followJob, readAugmentPolicy, readConfigFile, wholeNumber } from './ml-commands.ts';
import { duration } from './progress.ts';
import { call, CliFailure, createCore, openProject, plural, writeFully } from './session.ts';

/** What `seedbed tune --json` prints. */
export interface TuneCliSummary {
  searchId: number;
  status: TuneDetail['status'];
  seconds: number;
  trials: { trial: number; state: TuneTrial['state']; epochs: number; score: number | null; valAccuracy: number | null; seconds: number; values: Record<string, string> }[];
  best: TuneDetail['best'];
  /** The starting settings' validation macro-F1 at full length. */
  baseline: number | null;
  /** The best trial's settings in full, for `seedbed train --config`. */
  bestConfig: TrainConfig | null;
  /** The run trained with them (--train). */
  runId: number | null;
}

function budgetOf(args: ParsedArgs): TuneBudget | undefined {
  const trials = wholeNumber(args, 'trials', 'tune', 1, 1000);
  const minutesRaw = args.values.minutes;
  if (trials !== undefined && minutesRaw !== undefined) throw new UsageError('Give --trials or --minutes, not both.', 'tune');
  if (minutesRaw !== undefined) {
    const minutes = Number(minutesRaw);
    if (!Number.isFinite(minutes) || minutes < 0.1 || minutes > 1440) throw new UsageError(`--minutes must be a number from 0.1 to 1440, not "${minutesRaw}".`, 'tune');
    return { minutes };
  }
  return trials !== undefined ? { trials } : undefined;
}

function pct(x: number | null): string {
  return x === null ? '–' : `${(x * 100).toFixed(1)}%`;
}

/** The settings a search varied, without the ones it left as they were. */
function changedSettings(d: TuneDetail): Record<string, unknown> {
  if (!d.bestConfig) return {};
  return Object.fromEntries(d.params.map((p) => [p.key, d.bestConfig![p.key]]));
}

function describe(d: TuneDetail, runId: number | null): string {
  const width = Object.fromEntries(d.params.map((p) => [p.key, Math.max(p.label.length, ...d.trials.map((t) => (t.values[p.key] ?? '').length))]));
  const header = ['trial', ...d.params.map((p) => p.label.padStart(width[p.key]!)), 'epochs', 'val F1', 'seconds', 'state'];
  const ordered = [...d.trials].sort((a, b) => b.epochs - a.epochs || (b.score ?? -1) - (a.score ?? -1) || a.trial - b.trial);
  const lines = [
    `${d.name}: ${plural(d.trialCount, 'trial')} in ${duration(d.seconds)}, judged on ${plural(d.data.val, 'validation image')} (trained on ${plural(d.data.train, 'image')}).`,
    ...d.data.notes,
    '',
    `  ${header.join('  ')}`,
    ...ordered.map((t) =>
      `  ${String(t.trial).padStart(5)}  ${d.params.map((p) => (t.values[p.key] ?? '').padStart(width[p.key]!)).join('  ')}  ${String(t.epochs).padStart(6)}  ${pct(t.score).padStart(6)}  ${t.seconds.toFixed(1).padStart(7)}  ${t.state}${t.trial === d.best?.trial ? ' (best)' : ''}${t.trial === 0 ? ' (your settings)' : ''}`,
    ),
    '',
  ];
  if (d.best) {
    lines.push(
      `Best: trial ${d.best.trial}, validation macro-F1 ${pct(d.best.score)} after ${d.best.epochs} epochs${d.baseline !== null ? `; the settings it started from: ${pct(d.baseline)}` : ''}.`,
      `Best settings: ${JSON.stringify(changedSettings(d))}`,
    );
  }
  if (runId !== null) lines.push(`Trained run ${runId} with them: see \`seedbed evaluate --project … --run ${runId}\`.`);
  else if (d.best) lines.push('Save them with --save best.json and train with `seedbed train --config best.json`, or add --train.');
  return `${lines.join('\n')}\n`;
}

async function trainBest(core: Core, searchId: number): Promise<number | 'interrupted'> {
  let runId = 0;
  const { job, interrupted } = await followJob(
    core,
    async () => {
      const started = await call(core, 'tune.promote', { searchId });
      runId = started.runId;
      return started.jobId;
    },
    (j) => (j.total > 0 ? `Training with the best settings: ${j.done} / ${j.total}` : 'Training with the best settings…'),
  );
  if (job.status === 'cancelled' || (interrupted && job.status !== 'done')) return 'interrupted';
  if (job.status !== 'done') throw new CliFailure(job.error ?? `Run ${runId}, with the best settings, did not finish.`);
  return runId;
}

export async function runTune(args: ParsedArgs): Promise<number> {
  const budget = budgetOf(args);
  const seed = wholeNumber(args, 'seed', 'tune', 0, 2 ** 31 - 1);
  const resume = wholeNumber(args, 'resume', 'tune', 1, Number.MAX_SAFE_INTEGER);
  const views = wholeNumber(args, 'views', 'tune', 1, 16);
  const policy = readAugmentPolicy(args.values.augment, 'tune');
  if (views !== undefined && !policy) throw new UsageError('--views needs --augment (a preset such as natural, or a policy file).', 'tune');
  if (resume !== undefined && (budget || seed !== undefined || policy || args.values.backbone !== undefined || args.values.config !== undefined)) {
    throw new UsageError('--resume goes on with a search as it was started: leave out --trials, --minutes, --seed, --backbone, --augment and --config.', 'tune');
  }
  const base = args.values.config !== undefined ? readConfigFile(args.values.config) : undefined;
  const params: TuneStartParams = {};
  if (budget) params.budget = budget;
  if (seed !== undefined) params.seed = seed;
  if (base) params.base = base;
  if (policy) params.augment = [{ policy, views: views ?? 2 }];
  if (args.values.backbone !== undefined) {
    const [first, ...more] = args.values.backbone.split(',').map((b) => b.trim()).filter(Boolean);
    if (!first) throw new UsageError('--backbone needs at least one backbone id.', 'tune');
    params.base = { ...params.base, backbone: first };
    if (more.length) params.backbones = more;
  }
  const save = args.values.save;
  if (save !== undefined && !save.toLowerCase().endsWith('.json')) throw new UsageError(`--save must name a .json file, not "${save}".`, 'tune');
  const json = args.flags.has('json');

  const core = await createCore('cli');
  try {
    const project = await openProject(core, args.values.project!, false);
    let searchId = resume ?? 0;
    const { job, interrupted } = await followJob(
      core,
      async () => {
        if (resume !== undefined) return (await call(core, 'tune.resume', { searchId: resume })).jobId;
        const started = await call(core, 'tune.start', params);
        searchId = started.searchId;
        return started.jobId;
      },
      (j) => {
        if (j.total <= 0) return 'Preparing…';
        return `Searching: ${j.done} / ${j.total}${j.etaSeconds !== null ? ` · about ${duration(j.etaSeconds)} left` : ''}`;
      },
    );
    if (job.status === 'cancelled' || (interrupted && job.status !== 'done')) {
      const d = await call(core, 'tune.get', { searchId });
      await writeFully(
        process.stderr,
        `Search ${searchId} stopped after ${plural(d.trialCount, 'trial')}; its trials are kept. Go on with: seedbed tune --project ${JSON.stringify(project.path)} --resume ${searchId}\n`,
      );
      return EXIT_INTERRUPTED;
    }
    if (job.status === 'failed') throw new CliFailure(job.error ?? 'The search failed.');
    let detail = await call(core, 'tune.get', { searchId });
    if ((save !== undefined || args.flags.has('train')) && !detail.bestConfig) {
      throw new CliFailure(`${detail.name} ended without a trial that trained to the end without diverging, so there are no best settings to ${save !== undefined ? 'save' : 'train'}.`);
    }
    if (save !== undefined && detail.bestConfig) {
      const file = nodePath.resolve(save);
      try {
        fs.writeFileSync(file, `${JSON.stringify(detail.bestConfig, null, 2)}\n`);
      } catch (err) {
        throw new CliFailure(`Seedbed could not write the best settings to ${file}: ${(err as Error).message}`);
      }
    }
    const trained = args.flags.has('train') ? await trainBest(core, searchId) : null;
    if (trained === 'interrupted') {
      await writeFully(process.stderr, 'Training with the best settings was cancelled; the search and its trials are kept.\n');
      return EXIT_INTERRUPTED;
    }
    const runId = trained;
    if (runId !== null) detail = await call(core, 'tune.get', { searchId });
    if (json) {
      const summary: TuneCliSummary = {
        searchId,
        status: detail.status,
        seconds: detail.seconds,
        trials: detail.trials.map((t) => ({ trial: t.trial, state: t.state, epochs: t.epochs, score: t.score, valAccuracy: t.rungs[t.rungs.length - 1]?.valAccuracy ?? null, seconds: t.seconds, values: t.values })),
        best: detail.best,
        baseline: detail.baseline,
        bestConfig: detail.bestConfig,
        runId,
      };
      await writeFully(process.stdout, `${JSON.stringify(summary)}\n`);
      return 0;
    }
    await writeFully(process.stdout, describe(detail, runId) + (save !== undefined && detail.bestConfig ? `Best settings written to ${nodePath.resolve(save)}.\n` : ''));
    return 0;
  } finally {
    await core.close();
  }
}
