import type { EpochMetrics, RunDetail, RunPhase, RunStatus, RunSummary } from '../../../../shared/contract/index.ts';
import type { ChartMarker, ChartPoint } from '../../components/LineChart.svelte';
import { formatDuration } from '../../lib/format.ts';

/**
 * One x axis for both phases: head epochs are 1…H, fine-tuning epochs follow as H+1…, so the
 * second phase continues the curves to the right of a divider.
 */
export interface EpochAxis {
  /** Head epochs run (the fine-tuning phase starts after them). */
  headEpochs: number;
  x(phase: RunPhase, epoch: number): number;
  describe(x: number): string;
  /** Where the fine-tuning phase starts, when it has. */
  divider: ChartMarker | null;
}

export function epochAxis(epochs: EpochMetrics[]): EpochAxis {
  const head = epochs.filter((e) => e.phase === 'head');
  const headEpochs = head.reduce((m, e) => Math.max(m, e.epoch), 0);
  const fineTuned = epochs.some((e) => e.phase === 'finetune');
  return {
    headEpochs,
    x: (phase, epoch) => (phase === 'head' ? epoch : headEpochs + epoch),
    describe: (x) => (fineTuned && x > headEpochs ? `Epoch ${x} (fine-tuning ${x - headEpochs})` : `Epoch ${x}`),
    divider: fineTuned ? { x: headEpochs + 0.5, label: 'fine-tuning' } : null,
  };
}

export function pointsOf(epochs: EpochMetrics[], axis: EpochAxis, value: (e: EpochMetrics) => number | null): ChartPoint[] {
  return epochs.map((e) => ({ x: axis.x(e.phase, e.epoch), y: value(e) }));
}

export function bestMarker(run: RunSummary, axis: EpochAxis): ChartMarker[] {
  return run.bestEpoch ? [{ x: axis.x(run.bestEpoch.phase, run.bestEpoch.epoch), label: 'best' }] : [];
}

/** Where the x axis should reach while a run trains: the epochs it plans, both phases. */
export function plannedXMax(run: RunDetail, axis: EpochAxis, planned: Partial<Record<RunPhase, number>>): number | undefined {
  if (run.status !== 'running') return undefined;
  const inFineTune = run.epochs.some((e) => e.phase === 'finetune');
  const head = inFineTune ? axis.headEpochs : (planned.head ?? run.config.epochs);
  const fine = run.config.fineTuneBlocks > 0 ? (planned.finetune ?? run.config.fineTuneEpochs) : 0;
  return head + fine;
}

export function percent(x: number, digits = 1): string {
  return `${(x * 100).toFixed(digits)}%`;
}

/** "0.8 s", "12 s", "2 min 05 s". */
export function seconds(s: number): string {
  return s < 10 ? `${s.toFixed(1)} s` : formatDuration(s);
}

export const STATUS_WORDS: Record<RunStatus, string> = {
  running: 'training',
  done: 'done',
  failed: 'failed',
  cancelled: 'cancelled',
};

/** "loss fell from 1.10 to 0.21" for one series, for a chart's spoken summary. */
export function trend(name: string, values: (number | null)[], format: (v: number) => string): string | null {
  const known = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (known.length === 0) return null;
  if (known.length === 1) return `${name} ${format(known[0]!)}`;
  const first = known[0]!;
  const last = known[known.length - 1]!;
  return `${name} ${last < first ? 'fell' : last > first ? 'rose' : 'stayed'} from ${format(first)} to ${format(last)}`;
}
