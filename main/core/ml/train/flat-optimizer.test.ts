import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// Registers tfjs-core's gradient functions.
import '@tensorflow/tfjs-layers';
import { FlatOptimizer } from './flat-optimizer.ts';

const SHAPES = [[3, 3, 4, 1], [4], [4], [1, 1, 4, 6], [6], [6]];

function variables(seed: number): tf.Variable[] {
  return tf.tidy(() => SHAPES.map((shape, i) => tf.variable(tf.randomNormal(shape, 0, 1, 'float32', seed + i))));
}

/** Three steps of a fixed quadratic loss: per variable with tfjs's optimizer, or flat. */
async function train(make: () => tf.Optimizer, flat: boolean): Promise<{ values: Float32Array[]; kernels: number }> {
  await tf.setBackend('cpu');
  const vars = variables(7);
  const targets = SHAPES.map((shape, i) => tf.randomNormal(shape, 0, 1, 'float32', 100 + i));
  const optimizer = make();
  const flatOptimizer = flat ? new FlatOptimizer(optimizer, vars) : null;
  let kernels = 0;
  for (let step = 0; step < 3; step++) {
    const { grads, value } = tf.variableGrads(() => tf.addN(vars.map((v, i) => tf.sum(tf.square(tf.sub(v, targets[i]!))))) as tf.Scalar, vars);
    const profile = await tf.profile(() => (flatOptimizer ? flatOptimizer.applyGradients(grads) : optimizer.applyGradients(grads)));
    kernels = profile.kernels.filter((k) => !['Reshape', 'Identity'].includes(k.name)).length;
    tf.dispose([value, ...Object.values(grads)]);
  }
  const values = await Promise.all(vars.map(async (v) => (await v.data()) as Float32Array));
  flatOptimizer?.dispose();
  optimizer.dispose();
  // MomentumOptimizer.dispose (tfjs 4.22) forgets its learning-rate scalar, as the trainer knows.
  (optimizer as unknown as { c?: tf.Tensor }).c?.dispose();
  tf.dispose([...vars, ...targets]);
  return { values, kernels };
}

for (const [name, make] of [
  ['adam', () => tf.train.adam(0.05)],
  ['momentum', () => tf.train.momentum(0.05, 0.9)],
  ['rmsprop', () => tf.train.rmsprop(0.05)],
] as const) {
  test(`a flat ${name} step gives the same weights as per-variable ${name}, in fewer kernels`, async () => {
    const before = tf.memory().numTensors;
    const reference = await train(make, false);
    const flat = await train(make, true);
    for (const [i, expected] of reference.values.entries()) {
      const actual = flat.values[i]!;
      const diff = Math.max(...Array.from(expected, (e, j) => Math.abs(e - actual[j]!)));
      assert.ok(diff <= 1e-6, `variable ${i} (${SHAPES[i]}) differs by ${diff}`);
    }
    assert.ok(flat.kernels < reference.kernels, `flat ${flat.kernels} kernels against ${reference.kernels} per variable`);
    assert.equal(tf.memory().numTensors, before, 'nothing leaks');
  });
}

test('the flat update reads the variables every step, so a restore in between is kept', async () => {
  await tf.setBackend('cpu');
  const v = tf.tidy(() => tf.variable(tf.tensor1d([1, 2, 3])));
  const optimizer = tf.train.momentum(0.1, 0);
  const flat = new FlatOptimizer(optimizer, [v]);
  tf.tidy(() => {
    flat.applyGradients({ [v.name]: tf.tensor1d([1, 1, 1]) });
    v.assign(tf.tensor1d([10, 20, 30]));
    flat.applyGradients({ [v.name]: tf.tensor1d([1, 1, 1]) });
  });
  const values = Array.from(await v.data());
  assert.deepEqual(values.map((x) => Math.round(x * 1000) / 1000), [9.9, 19.9, 29.9], `restored then stepped: ${values}`);
  flat.dispose();
  optimizer.dispose();
  v.dispose();
});
