import assert from 'node:assert/strict';
import fs from 'node:fs';
import nodePath from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers also registers tfjs-core's gradient functions, which tf.grads needs.
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { CoreError } from '../errors.ts';
import { fileHandler } from './backbones.ts';
import { activateBackend } from './runtime.ts';
import { registerWasmGradientKernels, WASM_GRADIENT_KERNELS } from './gradient-kernels.ts';
import { CASES, convGradients, describeCase, MOBILENET_CASES, relativeError, seededValues, size } from './gradient-kernels.fixtures.ts';

const MODELS = process.env.SEEDBED_MODELS_DIR || nodePath.resolve(import.meta.dirname, '../../../../shared/models');
const haveModel = fs.existsSync(nodePath.join(MODELS, 'mobilenet_v1_0.75_224'));
const skip = haveModel ? false : `needs mobilenet_v1_0.75_224 in ${MODELS}`;

before(async () => {
  // The runtime registers the replacements when it activates wasm; calling again must be harmless.
  await activateBackend({ SEEDBED_BACKEND: 'wasm' });
  registerWasmGradientKernels();
  registerWasmGradientKernels();
});

test('on wasm the replacement gradients match the cpu backend to 1e-4 relative: hand-picked, random and MobileNet v1/v2 shapes, strides and paddings', async () => {
  for (const [i, c] of [...CASES, ...MOBILENET_CASES].entries()) {
    const reference = await convGradients('cpu', c, 100 + 7 * i);
    const wasm = await convGradients('wasm', c, 100 + 7 * i);
    assert.ok(relativeError(wasm.dFilter, reference.dFilter) <= 1e-4, `filter gradient of ${describeCase(c)}: error ${relativeError(wasm.dFilter, reference.dFilter)}`);
    assert.ok(relativeError(wasm.dx, reference.dx) <= 1e-4, `input gradient of ${describeCase(c)}: error ${relativeError(wasm.dx, reference.dx)}`);
  }
});

test('the replacements are registered for wasm only and once, and a wrong gradient would be caught', async () => {
  assert.deepEqual(WASM_GRADIENT_KERNELS, ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']);
  // Registering again changes nothing: no second wrapper around the fast paths.
  const names = [...WASM_GRADIENT_KERNELS, 'Conv2DBackpropInput', 'Tile'];
  const registered = names.map((name) => tf.getKernel(name, 'wasm')?.kernelFunc);
  registerWasmGradientKernels();
  assert.deepEqual(names.map((name) => tf.getKernel(name, 'wasm')?.kernelFunc), registered);
  for (const name of WASM_GRADIENT_KERNELS) {
    assert.ok(tf.getKernel(name, 'wasm'), `${name} is registered for wasm`);
    assert.ok(tf.getKernel(name, 'cpu'), `${name} is still cpu's own kernel`);
  }
  // The comparison is sensitive: a filter gradient off by one tap (the transposed filter) fails it.
  const c = CASES.find((k) => k.kind === 'conv2d' && k.filter[0] === 3 && k.strides === 2 && k.pad === 'same')!;
  const reference = await convGradients('cpu', c, 5);
  const [kh, kw, cin, cout] = c.filter;
  const flipped = tf.tidy(() => tf.reverse(tf.tensor4d(reference.dFilter, [kh, kw, cin, cout]), [0, 1]).dataSync() as Float32Array);
  assert.ok(relativeError(flipped, reference.dFilter) > 1e-2);
});

test('Tile on wasm matches cpu, both through the broadcast fast path and through wasm\'s own kernel', () => {
  const cases: Array<{ shape: number[]; reps: number[]; dtype: 'float32' | 'int32' | 'bool' }> = [
    { shape: [1, 1, 1, 5], reps: [3, 4, 2, 1], dtype: 'float32' }, // FusedBatchNorm's gradient: a broadcast
    { shape: [2, 1, 3], reps: [1, 4, 1], dtype: 'int32' },
    { shape: [2, 3], reps: [2, 2], dtype: 'float32' }, // a real repeat: wasm's own kernel
    { shape: [1, 3], reps: [2, 1], dtype: 'bool' },
  ];
  for (const c of cases) {
    const values = Array.from(seededValues(size(c.shape), 7), (v) => (c.dtype === 'float32' ? v : c.dtype === 'int32' ? Math.round(v * 100) : v > 0 ? 1 : 0));
    const tileOn = (backend: string): number[] => {
      tf.setBackend(backend);
      return tf.tidy(() => {
        const out = tf.tile(tf.tensor(values, c.shape, c.dtype), c.reps);
        assert.equal(out.dtype, c.dtype);
        assert.deepEqual(out.shape, c.shape.map((d, i) => d * c.reps[i]!));
        return Array.from(out.dataSync());
      });
    };
    assert.deepEqual(tileOn('wasm'), tileOn('cpu'), `tile of ${c.dtype} [${c.shape}] by [${c.reps}]`);
  }
});

test('unsupported layouts are refused with a message naming the problem', () => {
  tf.setBackend('wasm');
  tf.tidy(() => {
    const x = tf.zeros([1, 4, 5, 5]) as tf.Tensor4D;
    const dy = tf.zeros([1, 4, 5, 5]) as tf.Tensor4D;
    assert.throws(
      () =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
          strides: 1,
          pad: 'same',
          dataFormat: 'NCHW',
          filterShape: [3, 3, 4, 4],
        } as unknown as tf.NamedAttrMap),
      (err: unknown) => err instanceof CoreError && err.code === 'unsupported' && /channels-first \(NCHW\)/.test(err.message),
    );
    const xNhwc = tf.zeros([1, 5, 5, 2]);
    assert.throws(
      () =>
        tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: xNhwc, dy: tf.zeros([1, 5, 5, 2]) }, {
          strides: 1,
          pad: 'same',
          dilations: 2,
          filterShape: [3, 3, 2, 1],
        } as unknown as tf.NamedAttrMap),
      (err: unknown) => err instanceof CoreError && err.code === 'unsupported' && /dilated convolution/.test(err.message),
    );
  });
});

test('repeated gradient calls on wasm leak no tensors', () => {
  tf.setBackend('wasm');
  const x = tf.randomNormal([2, 8, 8, 4]) as tf.Tensor4D;
  const pointwise = tf.randomNormal([1, 1, 4, 6]) as tf.Tensor4D;
  const full = tf.randomNormal([3, 3, 4, 6]) as tf.Tensor4D;
  const depthwise = tf.randomNormal([3, 3, 4, 2]) as tf.Tensor4D;
  const step = (): void => {
    const grads = tf.grads((xs: tf.Tensor, a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) =>
      tf.add(
        tf.add(tf.sum(tf.conv2d(xs as tf.Tensor4D, a as tf.Tensor4D, 1, 'same')), tf.sum(tf.square(tf.conv2d(xs as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')))),
        tf.sum(tf.square(tf.depthwiseConv2d(xs as tf.Tensor4D, d as tf.Tensor4D, 2, 'same'))),
      ),
    )([x, pointwise, full, depthwise]);
    tf.dispose(grads);
  };
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) step();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, pointwise, full, depthwise]);
});

test('the top block of MobileNet v1 0.75 gets finite, non-zero gradients for every trainable weight on wasm, matching cpu', { skip }, async () => {
  tf.setBackend('wasm');
  const model = await tfl.loadLayersModel(fileHandler(nodePath.join(MODELS, 'mobilenet_v1_0.75_224', 'model.json')));
  try {
    const names = model.layers.map((l) => l.name);
    const first = names.indexOf('conv_dw_13');
    const last = names.indexOf('conv_pw_13_relu');
    assert.ok(first > 0 && last > first, 'the model has conv_dw_13 … conv_pw_13_relu');
    const block = model.layers.slice(first, last + 1);
    assert.deepEqual(
      block.map((l) => l.getClassName()),
      ['DepthwiseConv2D', 'BatchNormalization', 'Activation', 'Conv2D', 'BatchNormalization', 'Activation'],
    );
    const weights = block.flatMap((l) => l.trainableWeights);
    assert.equal(weights.length, 6, 'two kernels and two (gamma, beta) pairs');
    const variables = weights.map((w) => w.read() as tf.Variable);

    const gradientsOn = (backend: string, batch: number, training: boolean): Map<string, Float32Array> => {
      tf.setBackend(backend);
      const grads = tf.tidy(() => {
        const input = tf.tensor4d(seededValues(batch * 7 * 7 * 768, 42).map((v) => v * 3), [batch, 7, 7, 768]);
        const target = tf.tensor4d(seededValues(batch * 7 * 7 * 768, 43).map((v) => 3 + 3 * v), [batch, 7, 7, 768]);
        return tf.variableGrads(() => {
          let h: tf.Tensor = input;
          for (const layer of block) h = layer.apply(h, { training }) as tf.Tensor;
          return tf.losses.meanSquaredError(target, h) as tf.Scalar;
        }, variables).grads;
      });
      const values = new Map(variables.map((v) => [v.name, grads[v.name]!.dataSync() as Float32Array]));
      tf.dispose(grads);
      return values;
    };
    const assertUsable = (grads: Map<string, Float32Array>, what: string): void => {
      for (const v of variables) {
        const g = grads.get(v.name)!;
        assert.ok(g.every(Number.isFinite), `${what}, ${v.name}: every gradient is finite`);
        assert.ok(g.some((value) => value !== 0), `${what}, ${v.name}: the gradient is not all zeros`);
      }
    };

    const before = tf.memory().numTensors;
    assertUsable(gradientsOn('wasm', 2, false), 'batch 2, frozen batch norm');
    gradientsOn('wasm', 2, false);
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks across gradient calls');

    // cpu's own Conv2DBackpropFilter loops element by element over conv_pw_13's 768×768 kernel
    // (about 10 s per image here), so the independent cross-check runs on one image.
    const wasm = gradientsOn('wasm', 1, false);
    const cpu = gradientsOn('cpu', 1, false);
    for (const [name, expected] of cpu) {
      const error = relativeError(wasm.get(name)!, expected);
      assert.ok(error <= 1e-4, `${name}: wasm and cpu differ by ${error}`);
    }

    // Last, because training mode also moves the layers' moving mean and variance.
    assertUsable(gradientsOn('wasm', 2, true), 'batch 2, batch norm on batch statistics');
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks across gradient calls');
  } finally {
    tf.setBackend('wasm');
    model.dispose();
  }
});
