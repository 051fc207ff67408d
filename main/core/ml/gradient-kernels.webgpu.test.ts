/**
 * The webgpu backend (tfjs on Dawn) with Seedbed's gradient fast paths, checked against the cpu
 * backend's reference kernels, plus the runtime's webgpu path (adapter name, a software
 * adapter refused unless asked for, no leaks from step to step).
 *
 * Where there is no GPU, Dawn runs on SwiftShader, a CPU implementation of Vulkan that Debian's
 * chromium package ships (CI installs it for the end-to-end tests). Its environment must be set
 * when a process starts, so this file re-runs itself in a child process with it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { activateBackend } from './runtime.ts';
import { FAST_PATH_KERNELS } from './gradient-kernels.ts';
import { CASES, convGradients, describeCase, MOBILENET_CASES, relativeError } from './gradient-kernels.fixtures.ts';
import { runningOnSoftwareGpu, softwareGpuEnv } from './software-gpu.ts';
import { activeGpu, GpuFailedError, gpuFailure } from './webgpu.ts';
import { trainClassifier } from './train/trainer.ts';
import { DEFAULT_TRAIN_CONFIG } from '../../../shared/contract/training.ts';

const inChild = process.env.SEEDBED_WEBGPU_TEST_CHILD === '1';

if (!inChild) {
  const gpuEnv = softwareGpuEnv();
  test('webgpu kernels and runtime, on a software GPU (SwiftShader) in a child process', { skip: gpuEnv ? false : "needs SwiftShader and a Vulkan loader (Debian's chromium package)" }, () => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...gpuEnv, SEEDBED_WEBGPU_TEST_CHILD: '1' };
    // The child runs its tests itself (not as a test-runner subprocess).
    delete env.NODE_TEST_CONTEXT;
    const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], { env, encoding: 'utf8', timeout: 600_000 });
    const output = `${child.stdout}\n${child.stderr}`;
    assert.equal(child.status, 0, `the webgpu tests failed:\n${output.slice(-6000)}`);
    assert.match(child.stdout, /# pass [1-9]/, `the child ran its tests:\n${output.slice(-2000)}`);
    assert.match(child.stdout, /# fail 0/, `no webgpu test failed:\n${output.slice(-2000)}`);
  });
} else {
  test('automatic choice refuses a software adapter; SEEDBED_BACKEND=webgpu takes it and names it', async () => {
    assert.ok(runningOnSoftwareGpu(), 'the child runs with SwiftShader');
    const auto = await activateBackend({});
    assert.notEqual(auto.backend, 'webgpu', `a software adapter is slower than wasm: ${auto.detail}`);
    assert.match(auto.detail, /webgpu found only a software adapter \(SwiftShader/, auto.detail);
    const forced = await activateBackend({ SEEDBED_BACKEND: 'webgpu' });
    assert.equal(forced.backend, 'webgpu');
    assert.match(forced.detail, /^webgpu \(SwiftShader.*software\) \(forced by SEEDBED_BACKEND\)$/, forced.detail);
    assert.equal(activeGpu()?.fallback, true, 'the adapter is known to be a software one');
    for (const name of FAST_PATH_KERNELS.webgpu) assert.ok(tf.getKernel(name, 'webgpu'), `${name} is registered for webgpu`);
  });

  test('on webgpu the fast gradient paths match the cpu backend to 1e-4 relative: hand-picked, random and MobileNet v1/v2 shapes', async () => {
    await activateBackend({ SEEDBED_BACKEND: 'webgpu' });
    for (const [i, c] of [...CASES, ...MOBILENET_CASES].entries()) {
      const reference = await convGradients('cpu', c, 300 + 11 * i);
      const gpu = await convGradients('webgpu', c, 300 + 11 * i);
      assert.ok(relativeError(gpu.dFilter, reference.dFilter) <= 1e-4, `filter gradient of ${describeCase(c)}: error ${relativeError(gpu.dFilter, reference.dFilter)}`);
      assert.ok(relativeError(gpu.dx, reference.dx) <= 1e-4, `input gradient of ${describeCase(c)}: error ${relativeError(gpu.dx, reference.dx)}`);
    }
  });

  test('on webgpu, repeated fine-tuning-like steps leak no tensors and no GPU memory', async () => {
    await activateBackend({ SEEDBED_BACKEND: 'webgpu' });
    const x = tf.randomNormal([4, 14, 14, 16]) as tf.Tensor4D;
    const depthwise = tf.variable(tf.randomNormal([3, 3, 16, 1], 0, 0.1));
    const pointwise = tf.variable(tf.randomNormal([1, 1, 16, 24], 0, 0.1));
    const optimizer = tf.train.adam(1e-3);
    const step = async (): Promise<void> => {
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(
          () => tf.mean(tf.square(tf.conv2d(tf.relu6(tf.depthwiseConv2d(x, depthwise as tf.Tensor4D, 2, 'same')), pointwise as tf.Tensor4D, 1, 'same'))) as tf.Scalar,
        );
        optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
        return value;
      });
      assert.ok(Number.isFinite((await loss.data())[0]!), 'the loss is finite');
      loss.dispose();
    };
    for (let i = 0; i < 3; i++) await step();
    const before = tf.memory() as tf.MemoryInfo & { numBytesInGPUAllocated?: number };
    for (let i = 0; i < 5; i++) await step();
    const after = tf.memory() as tf.MemoryInfo & { numBytesInGPUAllocated?: number };
    assert.equal(after.numTensors, before.numTensors, 'tensor count flat from step to step');
    assert.equal(after.numBytesInGPUAllocated, before.numBytesInGPUAllocated, 'GPU buffers flat from step to step');
    optimizer.dispose();
    tf.dispose([x, depthwise, pointwise]);
  });

  // Last: it leaves this process's device failed on purpose.
  test('a GPU error mid-run fails training with a clear message, and nothing leaks', async () => {
    await activateBackend({ SEEDBED_BACKEND: 'webgpu' });
    const rows = 64;
    const x = new Float32Array(rows * 8).map((_, i) => ((i * 7919) % 13) / 13 - 0.5 + (Math.floor(i / 8) % 2));
    const y = Int32Array.from({ length: rows }, (_, i) => i % 2);
    const before = tf.memory().numTensors;
    assert.equal(gpuFailure(), null, 'the device is healthy before');
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    const run = trainClassifier({
      train: { x, n: rows, shape: [8], y },
      val: null,
      numClasses: 2,
      config: { ...DEFAULT_TRAIN_CONFIG, epochs: 5, batchSize: 16, seed: 3 },
      phase: 'head',
      // After the first epoch, a real GPU error: a buffer larger than the device allows.
      onEpoch: (m) => {
        if (m.epoch === 1) device.createBuffer({ size: device.limits.maxBufferSize + 4, usage: GPUBufferUsage.STORAGE });
      },
    });
    await assert.rejects(run, (err: unknown) => {
      assert.ok(err instanceof GpuFailedError, `a GpuFailedError, not ${String(err)}`);
      assert.match(err.message, /^The GPU \(SwiftShader.*\) failed while training: it reported an error/, err.message);
      assert.match(err.message, /Nothing from this run was saved and the project is unchanged/, err.message);
      return true;
    });
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind by the failed run');
  });
}
