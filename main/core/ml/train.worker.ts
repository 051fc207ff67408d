/**
 * The training worker: one per run (or prediction), so cancelling is terminating it. Trains
 * the head on cached embeddings, optionally fine-tunes the top backbone blocks on cached
 * activations, evaluates, and writes the run's model files. Built to dist/main/train.worker.js.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { EpochMetrics, RunPhase } from '../../../shared/contract/index.ts';
import { applyAbove, assembleClassifier, loadCanonicalBackbone, splitTop, type CanonicalBackbone, type FeatureTap } from './canonical.ts';
import { featureTaps, tapWidths } from './features.ts';
import { loadLayersModelFrom, saveLayersModel } from './model-files.ts';
import { decodeBatch, MODEL_INPUT_SIZE } from './pixels.ts';
import { chooseBackend } from './runtime.ts';
import { checkGpu } from './webgpu.ts';
import { memoryLimits, trainingBatchSize } from './train/batch-memory.ts';
import { evaluate } from './train/metrics.ts';
import { predictProbabilities, trainClassifier, type Examples } from './train/trainer.ts';
import { analyse } from '../clean/analyse.ts';
import { explainInWorker } from '../eval/explain-compute.ts';
import { runTrial, type TrialOutcome, type TrialRequest } from '../tune/run-search.ts';
import { crossValidate, fgsmAccuracy, type CrossValidationOutcome, type CrossValidationRequest, type FgsmOutcome, type FgsmRequest } from '../eval/eval-worker.ts';
import type { AnalyseOutcome, AnalyseRequest, ExampleSet, PredictOutcome, PredictRequest, TrainOutcome, TrainRequest, WorkerMessage, WorkerRequest } from './train-protocol.ts';

sharp.concurrency(1);
sharp.cache(false);

const port = parentPort;
if (!port) throw new Error('train.worker runs inside a worker thread only.');
const post = (m: WorkerMessage) => port.postMessage(m);

const examples = (s: ExampleSet): Examples => ({ x: s.x, n: s.n, shape: [s.dims], y: s.y });
const BATCH = 16;

/**
 * Takes columns [start, start + width) of a flat example row: the fine-tuning trunk reads the
 * frozen features and the cached activation from one row. Used only while training, never saved.
 */
class ColumnSlice extends tfl.layers.Layer {
  static className = 'SeedbedColumnSlice';
  constructor(readonly start: number, readonly width: number) {
    super({});
  }
  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [shape[0]!, this.width];
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return tf.slice(x, [0, this.start], [-1, this.width]);
  }
}

/**
 * The trainable part for fine-tuning: flat row [frozen features | activation at the cut] →
 * the same pooled features the head was trained on, with the top blocks recomputed (and
 * trainable). Taps below the cut come from the frozen part unchanged.
 */
function fineTuneTrunk(b: CanonicalBackbone, taps: FeatureTap[], topBlocks: number) {
  const layers = b.model.layers;
  const blocks = Math.min(topBlocks, b.blockEnds.length);
  // splitTop's lower model computes the activation at the cut, cached once per image.
  const { lower, cutLayer } = splitTop(b, blocks);
  const cutIndex = layers.indexOf(b.model.getLayer(cutLayer));
  // The backbone's own tensors (node 0): applying its layers again below adds nodes to them.
  const original = (name: string) => b.model.getLayer(name).getOutputAt(0) as tfl.SymbolicTensor;
  const widths = tapWidths(b, taps);
  const frozenTaps = taps.filter((t) => layers.indexOf(b.model.getLayer(t.layer)) <= cutIndex);
  const frozenDims = widths.slice(0, frozenTaps.length).reduce((a, w) => a + w, 0);
  const cutShape = original(cutLayer).shape.slice(1) as number[];
  const activationSize = cutShape.reduce((a, d) => a * d, 1);
  const tapTensors = taps.slice(frozenTaps.length).map((t) => original(t.layer));

  const input = tfl.input({ shape: [frozenDims + activationSize] });
  const activation = tfl.layers.reshape({ targetShape: cutShape }).apply(new ColumnSlice(frozenDims, activationSize).apply(input)) as tfl.SymbolicTensor;
  const above = applyAbove(b, cutLayer, activation);
  const parts: tfl.SymbolicTensor[] = [];
  if (frozenDims) parts.push(new ColumnSlice(0, frozenDims).apply(input) as tfl.SymbolicTensor);
  for (const [i, tap] of taps.slice(frozenTaps.length).entries()) {
    const out = above(tapTensors[i]!);
    parts.push(tfl.layers.globalAveragePooling2d({}).apply(out) as tfl.SymbolicTensor);
    if (tap.pooling === 'avg+max') parts.push(tfl.layers.globalMaxPooling2d({}).apply(out) as tfl.SymbolicTensor);
  }
  const features = parts.length === 1 ? parts[0]! : (tfl.layers.concatenate({}).apply(parts) as tfl.SymbolicTensor);
  const trunk = tfl.model({ inputs: input, outputs: features });
  // Only the blocks above the cut train.
  layers.forEach((layer, i) => (layer.trainable = i > cutIndex));
  return { lower, trunk, frozenDims, activationSize, cutLayer, blocks };
}

/** Rows [frozen features | activation at the cut] for fine-tuning, from the images and their embeddings. */
async function fineTuneRows(
  lower: tfl.LayersModel,
  set: ExampleSet,
  files: string[],
  frozenDims: number,
  activationSize: number,
  onBatch: (n: number) => void,
): Promise<Examples> {
  const width = frozenDims + activationSize;
  const x = new Float32Array(set.n * width);
  for (let i = 0; i < set.n; i += BATCH) {
    const paths = files.slice(i, i + BATCH);
    const { pixels } = await decodeBatch(paths);
    const out = tf.tidy(() => lower.predict(tf.tensor4d(pixels, [paths.length, MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3])) as tf.Tensor);
    const act = (await out.data()) as Float32Array;
    out.dispose();
    checkGpu('preparing fine-tuning');
    for (let j = 0; j < paths.length; j++) {
      const row = (i + j) * width;
      x.set(set.x.subarray((i + j) * set.dims, (i + j) * set.dims + frozenDims), row);
      x.set(act.subarray(j * activationSize, (j + 1) * activationSize), row + frozenDims);
    }
    onBatch(paths.length);
  }
  return { x, n: set.n, shape: [width], y: set.y };
}

/** The first `n` rows of a set (the images before their augmented views); all of it when n is not given. */
function originalRows(set: ExampleSet, n: number | undefined): ExampleSet {
  if (n === undefined || n >= set.n) return set;
  return { x: set.x.slice(0, n * set.dims), n, dims: set.dims, y: set.y.slice(0, n) };
}

async function train(req: TrainRequest): Promise<TrainOutcome> {
  const choice = await chooseBackend();
  const started = performance.now();
  const numClasses = req.classes.length;
  const val = req.val.n ? examples(req.val) : null;
  const allEpochs: EpochMetrics[] = [];
  let best: { phase: RunPhase; epoch: number } | null = null;
  const onEpoch = (phase: RunPhase, planned: number) => (m: EpochMetrics, bestEpoch: number | null) => {
    allEpochs.push(m);
    best = bestEpoch === null ? best : { phase, epoch: bestEpoch };
    post({ type: 'epoch', epoch: m, plannedEpochs: planned, bestEpoch: best });
  };

  const phase1 = await trainClassifier({
    train: examples(req.train),
    val,
    numClasses,
    config: req.config,
    phase: 'head',
    onEpoch: onEpoch('head', req.config.epochs),
  });
  if (phase1.error && !phase1.epochs.length) throw new Error(phase1.error);
  let warning = phase1.error ?? null;
  let head = phase1.head;
  let stoppedEarly = phase1.stoppedEarly;

  const b = await loadCanonicalBackbone(req.backbone.id, req.backbone.modelDir);
  const taps = featureTaps(b);
  let classify = (set: ExampleSet): Promise<Float32Array> => predictProbabilities(head, examples(set));
  let fineTuned = false;

  if (req.config.fineTuneBlocks > 0 && req.files) {
    // Fine-tuning decodes the image files again, so it trains on the images, not their augmented views.
    const originals = originalRows(req.train, req.originals);
    const ft = fineTuneTrunk(b, taps, req.config.fineTuneBlocks);
    const total = originals.n + req.val.n + req.test.n;
    let done = 0;
    const tick = (n: number) => post({ type: 'progress', stage: 'Preparing fine-tuning', done: (done += n), total });
    const rows = {
      train: await fineTuneRows(ft.lower, originals, req.files.train, ft.frozenDims, ft.activationSize, tick),
      val: await fineTuneRows(ft.lower, req.val, req.files.val, ft.frozenDims, ft.activationSize, tick),
      test: await fineTuneRows(ft.lower, req.test, req.files.test, ft.frozenDims, ft.activationSize, tick),
    };
    // The step holds the trainable blocks' activations for a whole batch: fit it to the backend's memory.
    const fitted = trainingBatchSize(req.config.batchSize, ft.trunk, memoryLimits(choice.backend));
    const phase2 = await trainClassifier({
      train: rows.train,
      val: rows.val.n ? rows.val : null,
      numClasses,
      config: { ...req.config, batchSize: fitted.batchSize },
      phase: 'finetune',
      trunk: ft.trunk,
      trunkFeatures: examples(originals),
      initialHead: head,
      onEpoch: onEpoch('finetune', req.config.fineTuneEpochs),
    });
    if (fitted.reason) warning = warning ? `${warning} ${fitted.reason}` : fitted.reason;
    if (phase2.epochs.length && !phase2.error) {
      head.dispose();
      head = phase2.head;
      fineTuned = true;
      stoppedEarly ||= phase2.stoppedEarly;
      const combined = tfl.model({ inputs: ft.trunk.inputs, outputs: head.apply(ft.trunk.outputs[0]!) as tfl.SymbolicTensor });
      const rowsOf = new Map<ExampleSet, Examples>([[req.val, rows.val], [req.test, rows.test]]);
      classify = (set) => predictProbabilities(combined, rowsOf.get(set)!);
    } else {
      warning = phase2.error ?? warning;
      phase2.head.dispose();
    }
  }

  const valMetrics = req.val.n ? evaluate(await classify(req.val), req.val.y, req.classes) : null;
  const testMetrics = req.test.n ? evaluate(await classify(req.test), req.test.y, req.classes) : null;

  fs.mkdirSync(req.outDir, { recursive: true });
  await saveLayersModel(head, nodePath.join(req.outDir, 'head'));
  const classifier = assembleClassifier(b, taps, head);
  await saveLayersModel(classifier, nodePath.join(req.outDir, 'model'));
  fs.writeFileSync(nodePath.join(req.outDir, 'run.json'), JSON.stringify({ backbone: b.id, taps, classes: req.classes, fineTuned }, null, 2));

  return {
    epochs: allEpochs,
    bestEpoch: best,
    stoppedEarly,
    metrics: { val: valMetrics, test: testMetrics },
    fineTuned,
    backend: choice.backend,
    backendDetail: choice.detail,
    seconds: { train: (performance.now() - started) / 1000 },
    warning,
  };
}

async function predict(req: PredictRequest): Promise<PredictOutcome> {
  const choice = await chooseBackend();
  if (req.embeddings) {
    const head = await loadLayersModelFrom(nodePath.join(req.runDir, 'head'));
    const k = (head.outputs[0]!.shape[1] as number) ?? 0;
    const probabilities = new Float32Array(
      await predictProbabilities(head, { x: req.embeddings.x, n: req.embeddings.n, shape: [req.embeddings.dims], y: new Int32Array(req.embeddings.n) }),
    );
    head.dispose();
    return { probabilities, numClasses: k, errors: new Array(req.embeddings.n).fill(null), backend: choice.detail };
  }
  const files = req.files ?? [];
  const model = await loadLayersModelFrom(nodePath.join(req.runDir, 'model'));
  const k = model.outputs[0]!.shape[1] as number;
  const probabilities = new Float32Array(files.length * k);
  const errors: (string | null)[] = [];
  for (let i = 0; i < files.length; i += BATCH) {
    const paths = files.slice(i, i + BATCH);
    const { pixels, errors: batchErrors } = await decodeBatch(paths);
    const out = tf.tidy(() => model.predict(tf.tensor4d(pixels, [paths.length, MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3])) as tf.Tensor);
    probabilities.set((await out.data()) as Float32Array, i * k);
    out.dispose();
    errors.push(...batchErrors);
    post({ type: 'progress', stage: 'Predicting', done: Math.min(files.length, i + BATCH), total: files.length });
  }
  model.dispose();
  return { probabilities, numClasses: k, errors, backend: choice.detail };
}

async function analyseRequest(req: AnalyseRequest): Promise<AnalyseOutcome & { backend: string }> {
  const choice = await chooseBackend();
  const outcome = await analyse(req, (stage, done, total) => post({ type: 'progress', stage, done, total }));
  return { ...outcome, backend: choice.detail };
}

/** Robustness (FGSM) and cross-validation: eval/eval-worker.ts. */
async function evaluationRequest(req: FgsmRequest | CrossValidationRequest): Promise<FgsmOutcome | CrossValidationOutcome> {
  const choice = await chooseBackend();
  const progress = (stage: string) => (done: number, total: number) => post({ type: 'progress', stage, done, total });
  if (req.type === 'fgsm') return { ...(await fgsmAccuracy(req, progress('Perturbing'))), backend: choice.detail };
  return { ...(await crossValidate(req, progress('Training folds'))), backend: choice.detail };
}

/** One trial of a hyperparameter search: tune/run-search.ts. */
async function trialRequest(req: TrialRequest): Promise<TrialOutcome> {
  const choice = await chooseBackend();
  return { ...(await runTrial(req)), backend: choice.detail };
}

port.on('message', (request: WorkerRequest) => {
  // Grad-CAM and occlusion (eval/explain-compute.ts): answered on their own, before the other kinds.
  if (request.type === 'explain') {
    explainInWorker(request).then(
      (outcome) => post({ type: 'done', outcome }),
      (err: unknown) => post({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
    );
    return;
  }
  const work: Promise<TrainOutcome | PredictOutcome | (AnalyseOutcome & { backend: string }) | FgsmOutcome | CrossValidationOutcome | TrialOutcome> =
    request.type === 'tune-trial' ? trialRequest(request) :
    request.type === 'fgsm' || request.type === 'crossval' ? evaluationRequest(request) :
    request.type === 'train' ? train(request) : request.type === 'predict' ? predict(request) : analyseRequest(request);
  work.then(
    (outcome) => {
      const transfer = 'probabilities' in outcome ? [outcome.probabilities.buffer as ArrayBuffer] : [];
      port.postMessage({ type: 'done', outcome } satisfies WorkerMessage, transfer);
    },
    (err: unknown) => post({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
  );
});
