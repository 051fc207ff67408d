/**
 * Fine-tuning cost on wasm: one forward + backward + Adam step at batch 32 through the top 1
 * and top 2 blocks of MobileNet v1 α0.75 (with a 6-class softmax head on pooled features), and
 * each gradient kernel Seedbed supplies for wasm, at its largest MobileNet v1 α0.75 shape,
 * beside the forward conv of that shape.
 *
 *   SEEDBED_MODELS_DIR=../shared/models node --import tsx main/core/ml/wasm-gradients.bench.ts
 *
 * Minimum and median of several runs, wall and CPU time (the minimum CPU time is the better
 * estimate on a shared machine).
 */
import nodePath from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fileHandler } from './backbones.ts';
import { activateBackend } from './runtime.ts';

const MODELS = process.env.SEEDBED_MODELS_DIR || nodePath.resolve(import.meta.dirname, '../../../../shared/models');
const BATCH = Number(process.env.BATCH ?? 32);
const REPEATS = Number(process.env.REPEATS ?? 5);

/**
 * Wall time and this process's CPU time per run. The CPU time is the steadier number on a busy
 * machine (wasm runs on one thread here, so without contention the two agree).
 */
function measure(name: string, run: () => tf.Tensor | tf.Tensor[] | void): void {
  const once = (): [number, number] => {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    tf.tidy(() => {
      const out = run();
      for (const t of out === undefined ? [] : Array.isArray(out) ? out : [out]) t.dataSync();
    });
    const wall = performance.now() - start;
    const cpu = process.cpuUsage(cpuStart);
    return [wall, (cpu.user + cpu.system) / 1000];
  };
  once();
  const tensorsBefore = tf.memory().numTensors;
  const runs = Array.from({ length: REPEATS }, once);
  const leaked = tf.memory().numTensors - tensorsBefore;
  const wall = runs.map((r) => r[0]).sort((a, b) => a - b);
  const cpu = runs.map((r) => r[1]).sort((a, b) => a - b);
  const ms = (v: number): string => v.toFixed(1).padStart(7);
  const mid = Math.floor(REPEATS / 2);
  console.log(`${name.padEnd(72)} wall min ${ms(wall[0]!)} median ${ms(wall[mid]!)}   cpu min ${ms(cpu[0]!)} median ${ms(cpu[mid]!)} ms${leaked ? `   LEAKED ${leaked} tensors` : ''}`);
}

async function fineTuneSteps(): Promise<void> {
  const model = await tfl.loadLayersModel(fileHandler(nodePath.join(MODELS, 'mobilenet_v1_0.75_224', 'model.json')));
  const names = model.layers.map((l) => l.name);
  const last = names.indexOf('conv_pw_13_relu');
  for (const [blocks, firstName, inputShape] of [
    [1, 'conv_dw_13', [7, 7, 768]],
    [2, 'conv_dw_12', [14, 14, 384]],
  ] as const) {
    const layers = model.layers.slice(names.indexOf(firstName), last + 1);
    const head = tfl.layers.dense({ units: 6, activation: 'softmax', kernelInitializer: 'glorotUniform' });
    const pool = tfl.layers.globalAveragePooling2d({});
    const input = tf.randomUniform([BATCH, ...inputShape], 0, 6);
    const labels = tf.oneHot(tf.randomUniform([BATCH], 0, 6, 'int32') as tf.Tensor1D, 6);
    const forward = (training: boolean): tf.Tensor => {
      let h: tf.Tensor = input;
      for (const layer of layers) h = layer.apply(h, { training }) as tf.Tensor;
      return head.apply(pool.apply(h)) as tf.Tensor;
    };
    tf.tidy(() => void forward(false)); // builds the head's weights
    const variables = [...layers.flatMap((l) => l.trainableWeights), ...head.trainableWeights].map((w) => w.read() as tf.Variable);
    const optimizer = tf.train.adam(1e-4);
    const shape = `[${BATCH},${inputShape.join(',')}]`;
    measure(`top ${blocks} block(s), input ${shape}: forward only`, () => forward(false));
    for (const training of [false, true]) {
      measure(`top ${blocks} block(s), input ${shape}: forward+backward+Adam, BN ${training ? 'batch stats' : 'frozen stats'}`, () => {
        optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, forward(training)) as tf.Scalar, false, variables);
      });
    }
    optimizer.dispose();
    tf.dispose([input, labels]);
    head.dispose();
  }
  model.dispose();
}

/** [name, x shape, filter shape, stride, depthwise] of MobileNet v1 α0.75 at 224×224. */
const SHAPES: Array<[string, [number, number, number, number], [number, number, number, number], number, boolean]> = [
  ['conv_pw_13 (largest 1×1 of the top blocks)', [BATCH, 7, 7, 768], [1, 1, 768, 768], 1, false],
  ['conv_pw_1 (largest 1×1 activations)', [BATCH, 112, 112, 24], [1, 1, 24, 48], 1, false],
  ['conv1 (the only 3×3 conv2d)', [BATCH, 224, 224, 3], [3, 3, 3, 24], 2, false],
  ['conv_dw_13 (top block)', [BATCH, 7, 7, 768], [3, 3, 768, 1], 1, true],
  ['conv_dw_12 (second block, stride 2)', [BATCH, 14, 14, 384], [3, 3, 384, 1], 2, true],
  ['conv_dw_1 (largest stride 1)', [BATCH, 112, 112, 24], [3, 3, 24, 1], 1, true],
  ['conv_dw_2 (largest stride 2)', [BATCH, 112, 112, 48], [3, 3, 48, 1], 2, true],
];

function kernels(): void {
  {
    const scale = tf.randomNormal([1, 1, 1, 768]);
    console.log(`Tile [1,1,1,768] to [${BATCH},7,7,768] (FusedBatchNorm's gradient at conv_pw_13_bn)`);
    measure('  Tile (broadcast fast path)', () => tf.tile(scale, [BATCH, 7, 7, 1]));
    measure('  the same as a broadcasting multiply, for scale', () => tf.mul(tf.ones([BATCH, 7, 7, 768]), scale));
    scale.dispose();
  }
  for (const [name, xShape, filterShape, stride, depthwise] of SHAPES) {
    const x = tf.randomNormal(xShape) as tf.Tensor4D;
    const filter = tf.randomNormal(filterShape) as tf.Tensor4D;
    const y = depthwise ? tf.depthwiseConv2d(x, filter, stride, 'same') : tf.conv2d(x, filter, stride, 'same');
    const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
    const attrs = { strides: stride, pad: 'same', dilations: 1, dataFormat: 'NHWC', filterShape, inputShape: xShape } as unknown as tf.NamedAttrMap;
    const kernel = (kernelName: string, inputs: tf.NamedTensorMap) => () => tf.engine().runKernel(kernelName, inputs, attrs) as tf.Tensor;
    console.log(`${name}: x [${xShape}], filter [${filterShape}], stride ${stride}`);
    if (depthwise) {
      measure('  forward DepthwiseConv2dNative', () => tf.depthwiseConv2d(x, filter, stride, 'same'));
      measure('  DepthwiseConv2dNativeBackpropFilter', kernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }));
      measure('  DepthwiseConv2dNativeBackpropInput', kernel('DepthwiseConv2dNativeBackpropInput', { dy, filter }));
    } else {
      measure('  forward Conv2D', () => tf.conv2d(x, filter, stride, 'same'));
      measure('  Conv2DBackpropFilter', kernel('Conv2DBackpropFilter', { x, dy }));
      measure(`  Conv2DBackpropInput (${filterShape[0] === 1 && stride === 1 ? 'pointwise fast path' : "wasm's own"})`, kernel('Conv2DBackpropInput', { dy, filter }));
    }
    tf.dispose([x, filter, y, dy]);
  }
}

async function main(): Promise<void> {
  const choice = await activateBackend({ SEEDBED_BACKEND: process.env.SEEDBED_BACKEND ?? 'wasm' });
  console.log(`backend: ${choice.detail}; batch ${BATCH}; ${REPEATS} runs each after one warm-up`);
  if (process.argv.includes('--kernels') || !process.argv.includes('--steps')) kernels();
  if (process.argv.includes('--steps') || !process.argv.includes('--kernels')) await fineTuneSteps();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
