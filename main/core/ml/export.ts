/**
 * Export: the run's whole classifier (backbone + head in one TF.js layers model, input scaling
 * inside, so it takes 224×224 RGB pixels 0–255), labels.json (class names in output order) and
 * metadata.json (what it is, how it was trained, how good it was) and model-card.html (the
 * same for a person, with the limitations). Loads anywhere TF.js runs.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import type { ExportResult, RunSummary } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { splitFingerprint } from '../data/splits.ts';
import { CoreError } from '../errors.ts';
import { runDir, runSummary } from './runs.ts';
import { writeModelCard } from '../eval/model-card.ts';

export async function exportRun(ctx: CoreContext, runId: number, outDir: string, appVersion: string): Promise<ExportResult> {
  const store = ctx.requireStore();
  const run = runSummary(store.db, runId, splitFingerprint(store.db));
  if (run.status !== 'done') throw new CoreError('invalid_input', `${run.name} has no trained model (it is ${run.status}). Export a finished run.`);
  const modelDir = nodePath.join(runDir(store, runId), 'model');
  if (!fs.existsSync(nodePath.join(modelDir, 'model.json'))) {
    throw new CoreError('not_found', `The model files of ${run.name} are missing from ${modelDir}. Train the run again.`);
  }
  const target = nodePath.resolve(outDir);
  if (fs.existsSync(target) && !fs.statSync(target).isDirectory()) throw new CoreError('invalid_input', `${target} is a file; choose a folder to export into.`);
  fs.mkdirSync(target, { recursive: true });
  const files: string[] = [];
  for (const name of fs.readdirSync(modelDir)) {
    fs.copyFileSync(nodePath.join(modelDir, name), nodePath.join(target, name));
    files.push(name);
  }
  fs.writeFileSync(nodePath.join(target, 'labels.json'), JSON.stringify(run.classes, null, 2) + '\n');
  fs.writeFileSync(nodePath.join(target, 'metadata.json'), JSON.stringify(exportMetadata(run, appVersion), null, 2) + '\n');
  files.push('labels.json', 'metadata.json');
  // The model card travels with the model: what it is, how good, what not to trust it with.
  await writeModelCard(ctx, runId, { file: nodePath.join(target, 'model-card.html') });
  files.push('model-card.html');
  return { dir: target, files: files.sort() };
}

function exportMetadata(run: RunSummary, appVersion: string) {
  const test = run.metrics?.test ?? null;
  const val = run.metrics?.val ?? null;
  return {
    format: 'seedbed-classifier/1',
    createdBy: `Seedbed ${appVersion}`,
    run: { id: run.id, name: run.name, createdAt: new Date(run.createdAt).toISOString() },
    input: {
      width: 224,
      height: 224,
      channels: 3,
      layout: 'NHWC',
      dtype: 'float32',
      range: [0, 255],
      resize: 'scale the shorter side to 224, then crop the centre square (as Seedbed does)',
      scaling: 'inside the model (a Rescaling layer)',
    },
    output: { kind: 'probabilities', labels: 'labels.json' },
    calibration: {
      temperature: run.calibration.temperature,
      threshold: run.calibration.threshold,
      howToApply:
        'Seedbed divides the logits by the temperature before the softmax: with the probabilities p this model gives, use p_i^(1/T) / Σ_j p_j^(1/T). ' +
        'Then, when the largest probability is below the threshold, answer "not sure" instead of a class (threshold 0: always answer).',
    },
    labels: run.classes,
    backbone: run.backbone,
    fineTuned: run.fineTuned,
    backend: run.backend,
    config: run.config,
    splitCounts: run.splitCounts,
    metrics: {
      test: test && { count: test.count, accuracy: test.accuracy, macroF1: test.macroF1, perClass: test.perClass },
      val: val && { count: val.count, accuracy: val.accuracy, macroF1: val.macroF1 },
    },
  };
}
