/** The contract's evaluation methods: metrics, explanations, neighbours, robustness, cross-validation, calibration, model card. */
import type { Handlers } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { setRunCalibration } from './run-calibration.ts';
import { evaluateRun } from './evaluate.ts';
import { explainImage, nearestTrainingImages } from './explain.ts';
import { writeModelCard } from './model-card.ts';
import { getCrossValidation, startCrossValidation } from './crossval.ts';
import { getRobustness, startRobustness } from './robustness.ts';

export type EvalMethods =
  | 'eval.run'
  | 'explain.image'
  | 'eval.neighbours'
  | 'robustness.start'
  | 'robustness.get'
  | 'crossval.start'
  | 'crossval.get'
  | 'runs.setCalibration'
  | 'report.write';

export function evalHandlers(ctx: CoreContext): Pick<Handlers, EvalMethods> {
  const db = () => ctx.requireStore().db;
  return {
    'eval.run': ({ runId, split, dir }) => evaluateRun(ctx, runId, dir ? { dir } : { split: split ?? 'test' }),
    'explain.image': ({ runId, imageId, method, className }) => explainImage(ctx, runId, imageId, method ?? 'gradcam', className),
    'eval.neighbours': ({ runId, imageId, count }) => nearestTrainingImages(ctx, runId, imageId, count ?? 8),
    'robustness.start': ({ runId }) => ({ jobId: startRobustness(ctx, runId).id }),
    'robustness.get': ({ runId }) => getRobustness(db(), runId),
    'crossval.start': ({ runId, folds }) => ({ jobId: startCrossValidation(ctx, runId, folds ?? 5).id }),
    'crossval.get': ({ runId }) => getCrossValidation(db(), runId),
    'runs.setCalibration': ({ runId, temperature, threshold }) => {
      const calibration = setRunCalibration(db(), runId, { temperature, threshold });
      ctx.events.emit('runs.changed', { runId });
      return calibration;
    },
    'report.write': ({ runId, dir, file }) => writeModelCard(ctx, runId, file ? { file } : { dir: dir! }),
  };
}
