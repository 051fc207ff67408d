/**
 * The head as plain maths (what training runs and Grad-CAM differentiates) gives the same class probabilities as
 * the head model itself, for every kind of hidden layer a run can train: ReLU, ELU, and a
 * linear Dense followed by LeakyReLU.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { headLogits, headSteps } from './trainer.ts';

await tf.setBackend('cpu');

function head(hidden: 'relu' | 'elu' | 'leaky'): tfl.LayersModel {
  const m = tfl.sequential();
  m.add(tfl.layers.dense({ inputShape: [6], units: 5, activation: hidden === 'leaky' ? 'linear' : hidden, kernelInitializer: tfl.initializers.randomNormal({ seed: 3 }) }));
  if (hidden === 'leaky') m.add(tfl.layers.leakyReLU({ alpha: 0.1 }));
  m.add(tfl.layers.dropout({ rate: 0.5 }));
  m.add(tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tfl.initializers.randomNormal({ seed: 4 }) }));
  return m;
}

for (const hidden of ['relu', 'elu', 'leaky'] as const) {
  test(`a ${hidden} head read as plain maths gives the model's own probabilities`, () => {
    const model = head(hidden);
    const x = tf.randomNormal([4, 6], 0, 2, 'float32', 7);
    const expected = (model.predict(x) as tf.Tensor).arraySync() as number[][];
    const actual = tf.softmax(headLogits(headSteps(model, 3), x)).arraySync() as number[][];
    expected.forEach((row, i) =>
      row.forEach((p, c) => assert.ok(Math.abs(p - actual[i]![c]!) < 1e-5, `row ${i} class ${c}: ${actual[i]![c]} = ${p}`)),
    );
    model.dispose();
    x.dispose();
  });
}
