import type { SearchStatus, TrialState, TuneBudget, TuneParamInfo, TuneSummary, TuneTrial } from '../../../../shared/contract/index.ts';
import { formatDuration, plural } from '../../lib/format.ts';

export const SEARCH_STATUS_WORDS: Record<SearchStatus, string> = {
  running: 'running',
  paused: 'paused',
  done: 'done',
  failed: 'failed',
};

export const TRIAL_STATE_WORDS: Record<TrialState, string> = {
  finished: 'finished',
  stopped: 'stopped early',
  pending: 'waiting',
  diverged: 'diverged',
};

/** Macro-F1 as the tables and callouts show it: three decimals, or a dash when there is none. */
export function score(value: number | null | undefined): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(3);
}

/** "23 of 50 trials · 1 min 40 s" or "23 trials · 1 min 40 s of 5 min". */
export function searchProgress(search: Pick<TuneSummary, 'budget' | 'trialCount' | 'seconds'>): string {
  const { budget, trialCount, seconds } = search;
  if ('trials' in budget) return `${trialCount} of ${plural(budget.trials, 'trial')} · ${formatDuration(seconds)}`;
  return `${plural(trialCount, 'trial')} · ${formatDuration(seconds)} of ${budgetText(budget)}`;
}

export function budgetText(budget: TuneBudget): string {
  if ('trials' in budget) return plural(budget.trials, 'trial');
  return budget.minutes >= 1 ? `${budget.minutes} min` : `${Math.round(budget.minutes * 60)} s`;
}

/** The last rung a trial ran, or null before its first ended. */
export function lastRung(trial: TuneTrial): TuneTrial['rungs'][number] | null {
  return trial.rungs.at(-1) ?? null;
}

/**
 * Best first, the way the search judges: a trial that trained longer outranks one that was
 * stopped after a short rung (scores after 3 epochs do not compare with scores after 27),
 * then the higher validation macro-F1; trials without a score go last.
 */
export function byRank(a: TuneTrial, b: TuneTrial): number {
  const sa = a.score ?? -Infinity;
  const sb = b.score ?? -Infinity;
  if ((a.score === null) !== (b.score === null)) return a.score === null ? 1 : -1;
  if (a.epochs !== b.epochs) return b.epochs - a.epochs;
  return sb - sa || a.trial - b.trial;
}

/** A number on a log axis: plain decimals down to 0.001 ("0.003"), powers of ten below ("1e-5"). */
export function logTick(value: number): string {
  if (value >= 0.001) return String(Number(value.toPrecision(2)));
  return value.toExponential(0);
}

/**
 * A varied setting's value in a trial, the same in the table and the plot: two significant
 * digits, tiny log-scale numbers as "7.2e-4" (not "0.000717"), choices by their names.
 */
export function paramText(param: TuneParamInfo, trial: TuneTrial): string {
  const value = trial.numbers[param.key];
  if ((param.kind === 'log' || param.kind === 'float') && value !== undefined && Number.isFinite(value)) {
    if (param.kind === 'log' && value > 0 && value < 0.001) return value.toExponential(1);
    return String(Number(value.toPrecision(2)));
  }
  return trial.values[param.key] ?? '—';
}
