import assert from 'node:assert/strict';
import fs from 'node:fs';
import nodePath from 'node:path';
import { test } from 'node:test';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { loadCanonicalBackbone, splitTop } from '../canonical.ts';
import { activationsPerImage, memoryLimits, trainingBatchSize, type MemoryLimits } from './batch-memory.ts';

const MODELS = process.env.SEEDBED_MODELS_DIR || nodePath.resolve(import.meta.dirname, '../../../../../shared/models');
const haveModel = fs.existsSync(nodePath.join(MODELS, 'mobilenet_v1_0.75_224'));
const MB = 1024 * 1024;

function smallConvNet(): tfl.LayersModel {
  const input = tfl.input({ shape: [32, 32, 8] });
  const conv = tfl.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same' }).apply(input) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(conv) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: pooled });
}

test('activations per image count every layer output, the largest one apart', () => {
  const model = smallConvNet();
  const { largest, total } = activationsPerImage(model);
  assert.equal(largest, 32 * 32 * 16, 'the conv output is the largest');
  assert.equal(total, 32 * 32 * 8 + 32 * 32 * 16 + 16, 'input + conv + pooled');
  model.dispose();
});

test('the batch is the largest that both the largest buffer and the budget hold, with a reason naming the device', () => {
  const model = smallConvNet();
  const perImage = (32 * 32 * 8 + 32 * 32 * 16 + 16) * 8.5 * 4;
  const roomy: MemoryLimits = { maxBufferBytes: 1024 * MB, budgetBytes: 1024 * MB, where: 'the GPU (Test GPU)' };
  assert.deepEqual(trainingBatchSize(32, model, roomy), { batchSize: 32, reason: null });
  assert.deepEqual(trainingBatchSize(32, model, null), { batchSize: 32, reason: null }, 'no limits: as asked');
  const tightBudget: MemoryLimits = { ...roomy, budgetBytes: perImage * 10 };
  const fitted = trainingBatchSize(32, model, tightBudget);
  assert.equal(fitted.batchSize, 10, 'the budget holds 10 images');
  assert.match(fitted.reason ?? '', /batches of 10 instead of 32.*the GPU \(Test GPU\) has room for 10/, fitted.reason ?? 'no reason');
  const tightBuffer: MemoryLimits = { ...roomy, maxBufferBytes: 32 * 32 * 16 * 4 * 3 };
  assert.equal(trainingBatchSize(32, model, tightBuffer).batchSize, 3, 'the largest single activation must fit one binding');
  assert.equal(trainingBatchSize(32, model, { ...roomy, budgetBytes: 1 }).batchSize, 1, 'never below 1');
  model.dispose();
});

test('on wasm the limit is the heap; native backends and cpu plan nothing; webgpu without an active GPU plans nothing', () => {
  assert.match(memoryLimits('wasm')?.where ?? '', /WebAssembly/);
  assert.equal(memoryLimits('tensorflow'), null);
  assert.equal(memoryLimits('cpu'), null);
  assert.equal(memoryLimits('webgpu'), null, 'no webgpu device in this process');
});

test('fine-tuning all layers of MobileNet v1 0.75: batch 25 on a 4 GB card (3 GB for activations), 32 on a 6 GB one, 16 on wasm', { skip: haveModel ? false : `needs mobilenet_v1_0.75_224 in ${MODELS}` }, async () => {
  const b = await loadCanonicalBackbone('mobilenet_v1_0.75_224', nodePath.join(MODELS, 'mobilenet_v1_0.75_224'));
  const { upper } = splitTop(b, b.blockEnds.length);
  const gpu4GB: MemoryLimits = { maxBufferBytes: 1024 * MB, budgetBytes: 3072 * MB, where: 'a 4 GB GPU' };
  const perImage = JSON.stringify(activationsPerImage(upper));
  assert.equal(trainingBatchSize(32, upper, gpu4GB).batchSize, 25, `per image: ${perImage}`);
  assert.deepEqual(trainingBatchSize(32, upper, { ...gpu4GB, budgetBytes: 4608 * MB }), { batchSize: 32, reason: null }, `per image: ${perImage}`);
  assert.equal(trainingBatchSize(16, upper, memoryLimits('wasm')).batchSize, 16, 'batch 16 on wasm');
  b.model.dispose();
});
