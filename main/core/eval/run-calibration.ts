/**
 * A run's calibration: the temperature its logits are divided by and the confidence below
 * which it abstains ("not sure"), used by predict and export. Stored in runs.calibration.
 */
import type { Database } from 'better-sqlite3';
import type { RunCalibration } from '../../../shared/contract/evaluation.ts';
import { CoreError } from '../errors.ts';

export const UNCALIBRATED: RunCalibration = { temperature: 1, threshold: 0 };

export function runCalibration(db: Database, runId: number): RunCalibration {
  const row = db.prepare('SELECT calibration FROM runs WHERE id = ?').get(runId) as { calibration: string | null } | undefined;
  if (!row) throw new CoreError('not_found', `There is no run ${runId} in this project.`);
  return row.calibration ? { ...UNCALIBRATED, ...(JSON.parse(row.calibration) as Partial<RunCalibration>) } : { ...UNCALIBRATED };
}

export function setRunCalibration(db: Database, runId: number, change: Partial<RunCalibration>): RunCalibration {
  const next = { ...runCalibration(db, runId) };
  if (change.temperature !== undefined) next.temperature = change.temperature;
  if (change.threshold !== undefined) next.threshold = change.threshold;
  db.prepare('UPDATE runs SET calibration = ? WHERE id = ?').run(JSON.stringify(next), runId);
  return next;
}
