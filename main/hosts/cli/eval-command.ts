/** `seedbed evaluate`: how good a run is, with error bars, per-class curves, calibration and slices. */
import nodePath from 'node:path';
import type { EvaluationResult, MetricInterval } from '../../../shared/contract/index.ts';
import { UsageError, type ParsedArgs } from './args.ts';
import { latestRun, percent } from './ml-commands.ts';
import { call, count, createCore, openProject, plural, writeFully } from './session.ts';

/** What `seedbed evaluate --json` prints. */
export interface EvaluateSummary {
  runId: number;
  split: 'test' | 'val' | 'folder';
  count: number;
  accuracy: MetricInterval;
  balancedAccuracy: MetricInterval;
  macroF1: MetricInterval;
  weightedF1: MetricInterval;
  /** Expected calibration error (15 bins), and after temperature scaling fitted on validation. */
  ece: number;
  temperature: number | null;
  eceAfterTemperature: number | null;
  perClass: Record<string, { precision: number; recall: number; f1: number; support: number; auc: number | null; averagePrecision: number | null }>;
  confusion: number[][];
  /** What to keep in mind reading the numbers (left-out files, folder images seen in training). */
  warnings: string[];
  /** Tag values whose images do significantly worse than the rest. */
  worseSlices: { key: string; value: string; count: number; accuracy: number; restAccuracy: number; adjustedP: number }[];
}

export function evaluateSummary(e: EvaluationResult): EvaluateSummary {
  return {
    runId: e.runId,
    split: e.source,
    count: e.count,
    ...e.headline,
    ece: e.calibration.ece,
    temperature: e.temperature?.value ?? null,
    eceAfterTemperature: e.temperature?.after.ece ?? null,
    perClass: Object.fromEntries(
      e.classes.map((name) => [name, { ...e.perClass[name]!, auc: e.curves[name]!.auc, averagePrecision: e.curves[name]!.averagePrecision }]),
    ),
    confusion: e.confusion,
    warnings: e.warnings,
    worseSlices: e.slices
      .filter((s) => s.worse)
      .map((s) => ({ key: s.key, value: s.value, count: s.count, accuracy: s.accuracy, restAccuracy: s.restAccuracy, adjustedP: s.adjustedP })),
  };
}

const interval = (m: MetricInterval) => `${percent(m.value)} (95% interval ${percent(m.low)}–${percent(m.high)})`;
const decimal = (x: number | null) => (x === null ? '–' : x.toFixed(3));

function describe(e: EvaluationResult, s: EvaluateSummary): string {
  const where = s.split === 'test' ? 'test images (never used in training)' : s.split === 'val' ? 'validation images' : 'images of the folder';
  const lines = [
    `Run ${s.runId} on ${count(s.count)} ${where}:`,
    `  accuracy           ${interval(s.accuracy)}`,
    `  balanced accuracy  ${interval(s.balancedAccuracy)}`,
    `  macro-F1           ${interval(s.macroF1)}`,
    `  weighted F1        ${interval(s.weightedF1)}`,
    '',
  ];
  if (e.warnings.length) lines.push(...e.warnings.map((w) => `Note: ${w}`), '');
  const names = e.classes;
  const width = Math.max(5, ...names.map((n) => n.length));
  lines.push(`  ${'class'.padEnd(width)}  precision  recall     F1    AUC     AP  images`);
  for (const name of names) {
    const c = s.perClass[name]!;
    lines.push(
      `  ${name.padEnd(width)}  ${percent(c.precision).padStart(9)}  ${percent(c.recall).padStart(6)}  ${percent(c.f1).padStart(6)}  ${decimal(c.auc).padStart(5)}  ${decimal(c.averagePrecision).padStart(5)}  ${count(c.support).padStart(6)}`,
    );
  }
  lines.push('', `Calibration: expected calibration error ${percent(s.ece)} (how far the model's confidence is from how often it is right).`);
  if (s.temperature !== null && s.eceAfterTemperature !== null) {
    lines.push(`Temperature scaling fitted on the validation images (T = ${s.temperature.toFixed(2)}) brings it to ${percent(s.eceAfterTemperature)}.`);
  }
  if (s.worseSlices.length) {
    lines.push('', 'Groups of images that do significantly worse than the rest:');
    for (const w of s.worseSlices) lines.push(`  ${w.key}=${w.value}: ${percent(w.accuracy)} right on ${plural(w.count, 'image')}, against ${percent(w.restAccuracy)} for the rest (adjusted p = ${w.adjustedP.toPrecision(2)})`);
  } else if (e.slices.length) {
    lines.push('', `No tag value does significantly worse than the rest (${plural(e.slices.length, 'group')} checked).`);
  }
  return `${lines.join('\n')}\n`;
}

export async function runEvaluate(args: ParsedArgs): Promise<number> {
  const split = args.values.split ?? 'test';
  if (split !== 'test' && split !== 'val') throw new UsageError(`--split must be test or val, not "${split}".`, 'evaluate');
  const json = args.flags.has('json');
  const core = await createCore('cli');
  try {
    await openProject(core, args.values.project!, false);
    const runId = await latestRun(core, args.values.run);
    const dir = args.values.dir;
    const result = await call(core, 'eval.run', dir !== undefined ? { runId, dir: nodePath.resolve(dir) } : { runId, split });
    const summary = evaluateSummary(result);
    await writeFully(process.stdout, json ? `${JSON.stringify(summary)}\n` : describe(result, summary));
    return 0;
  } finally {
    await core.close();
  }
}

export async function runReport(args: ParsedArgs): Promise<number> {
  const out = args.values.out!;
  if (!/\.html?$/i.test(out)) throw new UsageError(`--out must be an .html file, not "${out}".`, 'report');
  const core = await createCore('cli');
  try {
    await openProject(core, args.values.project!, false);
    const runId = await latestRun(core, args.values.run);
    const written = await call(core, 'report.write', { runId, file: nodePath.resolve(out) });
    await writeFully(process.stdout, `Model card of run ${runId} written to ${written.path} (${count(Math.round(written.bytes / 1024))} KB).\n`);
    return 0;
  } finally {
    await core.close();
  }
}
