/**
 * Training runs in the project: their config, what they saw, their per-epoch curves, final
 * metrics, model files and predictions. A run's files live in `<dataDir>/runs/<id>/`.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import type { Database } from 'better-sqlite3';
import {
  DEFAULT_TRAIN_CONFIG,
  type EpochHealth,
  type EpochMetrics,
  type RunDetail,
  type RunStatus,
  type RunSummary,
  type SplitMetrics,
  type RunCalibration,
  type RunPlan,
  type TrainConfig,
} from '../../../shared/contract/index.ts';
import { CoreError } from '../errors.ts';
import type { Store } from '../store/open.ts';
import { diagnose, isNonFiniteStop } from './train/diagnosis.ts';
import { detectHealth } from './train/health.ts';

interface RunRow {
  id: number;
  name: string;
  status: RunStatus;
  job_id: string | null;
  backbone: string;
  backend: string | null;
  workers: number | null;
  config: string;
  classes: string;
  fingerprint: string;
  split_counts: string;
  best_epoch: number | null;
  metrics: string | null;
  seconds: string | null;
  model_dir: string | null;
  fine_tuned: number;
  error: string | null;
  created_at: number;
  finished_at: number | null;
  predictions: number;
  plan: string | null;
  calibration: string | null;
}

/** A stored config with today's fields: runs from before rebalancing weighed classes as classWeights said. */
function storedConfig(json: string): TrainConfig {
  const stored = JSON.parse(json) as Partial<TrainConfig>;
  const classWeights = stored.classWeights ?? DEFAULT_TRAIN_CONFIG.classWeights;
  return {
    ...DEFAULT_TRAIN_CONFIG,
    balance: { strategy: classWeights === 'balanced' ? 'weights' : 'none' },
    ...stored,
  };
}

export interface RunClass {
  id: number;
  name: string;
}

export function runDir(store: Store, runId: number): string {
  return nodePath.join(store.dataDir, 'runs', String(runId));
}

export function createRun(
  db: Database,
  run: { jobId: string | null; backbone: string; config: TrainConfig; classes: RunClass[]; fingerprint: string; splitCounts: Record<string, { train: number; val: number; test: number }> },
): number {
  const n = (db.prepare('SELECT COUNT(*) FROM runs').pluck().get() as number) + 1;
  const info = db
    .prepare(
      `INSERT INTO runs (name, status, job_id, backbone, config, classes, fingerprint, split_counts, created_at)
       VALUES (@name, 'running', @jobId, @backbone, @config, @classes, @fingerprint, @splitCounts, @at)`,
    )
    .run({
      name: `Run ${n}`,
      jobId: run.jobId,
      backbone: run.backbone,
      config: JSON.stringify(run.config),
      classes: JSON.stringify(run.classes),
      fingerprint: run.fingerprint,
      splitCounts: JSON.stringify(run.splitCounts),
      at: Date.now(),
    });
  return Number(info.lastInsertRowid);
}

/** The best epoch is stored as one number: head epochs count 1…, fine-tuning epochs 1001…. */
const FINETUNE_OFFSET = 1000;
function encodeBest(best: { phase: 'head' | 'finetune'; epoch: number } | null): number | null {
  return best ? best.epoch + (best.phase === 'finetune' ? FINETUNE_OFFSET : 0) : null;
}
function decodeBest(value: number | null): { phase: 'head' | 'finetune'; epoch: number } | null {
  if (value === null) return null;
  return value > FINETUNE_OFFSET ? { phase: 'finetune', epoch: value - FINETUNE_OFFSET } : { phase: 'head', epoch: value };
}

export function recordEpoch(db: Database, runId: number, m: EpochMetrics, best: { phase: 'head' | 'finetune'; epoch: number } | null): void {
  db.transaction(() => {
    db.prepare(
      `INSERT OR REPLACE INTO run_epochs (run_id, phase, epoch, train_loss, train_accuracy, val_loss, val_accuracy, learning_rate, seconds, health)
       VALUES (@runId, @phase, @epoch, @trainLoss, @trainAccuracy, @valLoss, @valAccuracy, @learningRate, @seconds, @health)`,
    ).run({
      runId,
      phase: m.phase,
      epoch: m.epoch,
      trainLoss: m.trainLoss,
      trainAccuracy: m.trainAccuracy,
      valLoss: m.valLoss,
      valAccuracy: m.valAccuracy,
      learningRate: m.learningRate,
      seconds: m.seconds,
      // JSON has no NaN or Infinity: an overflowed measurement is stored as null (health.nonFinite says so).
      health: m.health ? JSON.stringify(m.health) : null,
    });
    db.prepare('UPDATE runs SET best_epoch = ? WHERE id = ?').run(encodeBest(best), runId);
  })();
}

export function setRunRuntime(db: Database, runId: number, backend: string, workers: number): void {
  db.prepare('UPDATE runs SET backend = ?, workers = ? WHERE id = ?').run(backend, workers, runId);
}

export function finishRun(
  db: Database,
  runId: number,
  done: {
    metrics: { val: SplitMetrics | null; test: SplitMetrics | null };
    bestEpoch: { phase: 'head' | 'finetune'; epoch: number } | null;
    seconds: { embed: number; train: number; total: number };
    modelDir: string;
    fineTuned: boolean;
    warning: string | null;
  },
): void {
  db.prepare(
    `UPDATE runs SET status = 'done', metrics = @metrics, best_epoch = @best, seconds = @seconds, model_dir = @modelDir,
       fine_tuned = @fineTuned, error = @warning, finished_at = @at WHERE id = @runId`,
  ).run({
    runId,
    metrics: JSON.stringify(done.metrics),
    best: encodeBest(done.bestEpoch),
    seconds: JSON.stringify(done.seconds),
    modelDir: done.modelDir,
    fineTuned: done.fineTuned ? 1 : 0,
    warning: done.warning,
    at: Date.now(),
  });
}

/** A run that did not finish keeps its curves so far; its partial model files are removed. */
export function endRun(store: Store, runId: number, status: 'failed' | 'cancelled', error: string | null): void {
  store.db.prepare(`UPDATE runs SET status = @status, error = @error, finished_at = @at WHERE id = @runId AND status = 'running'`).run({
    runId,
    status,
    error,
    at: Date.now(),
  });
  fs.rmSync(runDir(store, runId), { recursive: true, force: true });
}

/** Runs left 'running' by a Seedbed that crashed or was closed mid-training. */
export function recoverInterruptedRuns(store: Store): number {
  const ids = store.db
    .prepare(
      `SELECT r.id FROM runs r LEFT JOIN jobs j ON j.id = r.job_id WHERE r.status = 'running' AND (j.id IS NULL OR j.status != 'running')`,
    )
    .pluck()
    .all() as number[];
  for (const id of ids) endRun(store, id, 'failed', 'Seedbed closed before this run finished.');
  return ids.length;
}

const SELECT_RUNS = `SELECT r.*, (SELECT COUNT(*) FROM predictions p WHERE p.run_id = r.id) AS predictions FROM runs r`;

function toSummary(row: RunRow, currentFingerprint: string): RunSummary {
  const metrics = row.metrics ? (JSON.parse(row.metrics) as RunSummary['metrics']) : null;
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    jobId: row.job_id,
    backbone: row.backbone,
    backend: row.backend,
    workers: row.workers,
    config: storedConfig(row.config),
    classes: (JSON.parse(row.classes) as RunClass[]).map((c) => c.name),
    splitCounts: JSON.parse(row.split_counts) as RunSummary['splitCounts'],
    stale: row.fingerprint !== currentFingerprint,
    bestEpoch: decodeBest(row.best_epoch),
    fineTuned: row.fine_tuned === 1,
    metrics,
    seconds: row.seconds ? (JSON.parse(row.seconds) as RunSummary['seconds']) : null,
    predictions: row.predictions,
    error: row.error,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
    plan: row.plan ? (JSON.parse(row.plan) as RunPlan) : null,
    calibration: row.calibration ? (JSON.parse(row.calibration) as RunCalibration) : { temperature: 1, threshold: 0 },
  };
}

export function listRuns(db: Database, currentFingerprint: string): RunSummary[] {
  return (db.prepare(`${SELECT_RUNS} ORDER BY r.id DESC`).all() as RunRow[]).map((r) => toSummary(r, currentFingerprint));
}

export function runSummary(db: Database, runId: number, currentFingerprint: string): RunSummary {
  return toSummary(getRunRow(db, runId), currentFingerprint);
}

export function runClasses(db: Database, runId: number): RunClass[] {
  const row = db.prepare('SELECT classes FROM runs WHERE id = ?').get(runId) as { classes: string } | undefined;
  if (!row) throw new CoreError('not_found', `There is no run ${runId} in this project.`);
  return JSON.parse(row.classes) as RunClass[];
}

export function getRunRow(db: Database, runId: number): RunRow {
  const row = db.prepare(`${SELECT_RUNS} WHERE r.id = ?`).get(runId) as RunRow | undefined;
  if (!row) throw new CoreError('not_found', `There is no run ${runId} in this project.`);
  return row;
}

export function runEpochs(db: Database, runId: number): EpochMetrics[] {
  const rows = db
    .prepare(
      `SELECT phase, epoch, train_loss AS trainLoss, train_accuracy AS trainAccuracy, val_loss AS valLoss, val_accuracy AS valAccuracy,
              learning_rate AS learningRate, seconds, health
       FROM run_epochs WHERE run_id = ? ORDER BY phase = 'finetune', epoch`,
    )
    .all(runId) as (Omit<EpochMetrics, 'health'> & { health: string | null })[];
  return rows.map(({ health, ...e }) => (health ? { ...e, health: parseHealth(health) } : e));
}

/** Stored health back as measured: JSON turned overflowed numbers into null, they were NaN or Infinity. */
function parseHealth(json: string): EpochHealth {
  const h = JSON.parse(json) as EpochHealth;
  const numbers = (r: Record<string, number | null>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v ?? NaN]));
  return { ...h, gradNorms: numbers(h.gradNorms), updateRatios: numbers(h.updateRatios) };
}

/**
 * The run's error when training stopped on a value that was not a number (the trainer's
 * non-finite guard); a finished run's other warnings (files left out, validation images held
 * out) are not instability.
 */
export function nonFiniteError(error: string | null): string | null {
  return isNonFiniteStop(error) ? error : null;
}

export function getRun(db: Database, runId: number, currentFingerprint: string): RunDetail {
  const summary = runSummary(db, runId, currentFingerprint);
  const epochs = runEpochs(db, runId);
  const counts = Object.values(summary.splitCounts).reduce((a, c) => ({ train: a.train + c.train, val: a.val + c.val }), { train: 0, val: 0 });
  const head = epochs.filter((e) => e.phase === 'head');
  const best = summary.bestEpoch?.phase === 'head' ? summary.bestEpoch.epoch : head.length ? head[head.length - 1]!.epoch : null;
  const trainingError = nonFiniteError(summary.error);
  const diagnosis = head.length ? diagnose(head, best, { ...counts, classes: summary.classes.length, optimizer: summary.config.optimizer }, trainingError) : null;
  const health = summary.status === 'done' || summary.status === 'failed' ? detectHealth({ epochs, config: summary.config, diagnosis, trainingError }) : [];
  return { ...summary, epochs, diagnosis, health };
}

export function renameRun(db: Database, runId: number, name: string): void {
  const changed = db.prepare('UPDATE runs SET name = ? WHERE id = ?').run(name, runId).changes;
  if (!changed) throw new CoreError('not_found', `There is no run ${runId} in this project.`);
}

export function deleteRun(store: Store, runId: number): void {
  const row = getRunRow(store.db, runId);
  if (row.status === 'running') throw new CoreError('busy', `${row.name} is still training. Cancel it first.`);
  store.db.prepare('DELETE FROM runs WHERE id = ?').run(runId);
  fs.rmSync(runDir(store, runId), { recursive: true, force: true });
}

/** Stores what the run trains on after rebalancing and augmentation (shown in its summary). */
export function setRunPlan(db: Database, runId: number, plan: RunPlan): void {
  db.prepare('UPDATE runs SET plan = ? WHERE id = ?').run(JSON.stringify(plan), runId);
}
