import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { CoreError } from '../errors.ts';
import { activateBackend, BACKENDS } from './runtime.ts';

test('SEEDBED_BACKEND=cpu and =wasm select those backends, and tensors compute on them', async () => {
  for (const name of ['cpu', 'wasm'] as const) {
    const choice = await activateBackend({ SEEDBED_BACKEND: name });
    assert.equal(tf.getBackend(), name);
    assert.equal(choice.backend, name);
    assert.match(choice.detail, /forced by SEEDBED_BACKEND/);
    const sum = tf.tidy(() => tf.sum(tf.tensor1d([1, 2, 3.5])).dataSync()[0]);
    assert.equal(sum, 6.5);
  }
});

test('an unknown SEEDBED_BACKEND is refused with the valid names', async () => {
  await assert.rejects(activateBackend({ SEEDBED_BACKEND: 'tpu' }), (err: unknown) => {
    assert.ok(err instanceof CoreError);
    assert.equal(err.code, 'invalid_input');
    for (const name of BACKENDS) assert.ok(err.message.includes(name), `the message names ${name}`);
    return true;
  });
});

test('without SEEDBED_BACKEND the first backend that starts is chosen and the skipped ones are named', async () => {
  const choice = await activateBackend({});
  assert.equal(tf.getBackend(), choice.backend);
  assert.ok(['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'].includes(choice.backend), choice.backend);
  // Without a GPU (here), webgpu is listed as skipped with its reason: no Vulkan loader, no adapter, or only a software one.
  if (choice.backend === 'wasm' || choice.backend === 'cpu') {
    assert.match(choice.detail, /webgpu (is not usable here: (the Vulkan loader|no GPU adapter)|found only a software adapter)/, choice.detail);
  }
});
