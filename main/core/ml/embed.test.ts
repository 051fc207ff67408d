import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { after, test } from 'node:test';
import { CoreError } from '../errors.ts';
import { availableBackbones, backboneSpec, resolveBackboneDir } from './backbones.ts';
import { EmbedPool } from './embed-pool.ts';

const MODELS = process.env.SEEDBED_MODELS_DIR || nodePath.resolve(import.meta.dirname, '../../../../shared/models');
const TRASHNET = nodePath.resolve(import.meta.dirname, '../../../../shared/data/trashnet');
/** Embedding width of the smallest backbone, used by the pool tests. */
const D = 128 + 256;
const IMAGES = ['cardboard/cardboard1.jpg', 'glass/glass1.jpg', 'metal/metal1.jpg', 'paper/paper1.jpg'].map((f) => nodePath.join(TRASHNET, f));
const SHARED = [
  // Pooled features of the last 14×14 block and of the last block (features.ts).
  { id: 'mobilenet_v1_0.25_224', dims: 128 + 256, format: 'graph' },
  { id: 'mobilenet_v1_0.75_224', dims: 384 + 768, format: 'layers' },
  { id: 'mobilenet_v2_0.35_224', dims: 32 + 1280, format: 'layers' },
];
const haveModels = SHARED.every((m) => fs.existsSync(nodePath.join(MODELS, m.id)));
const skipModels = haveModels ? false : `needs ${SHARED.map((m) => m.id).join(', ')} in ${MODELS}`;
const haveData = haveModels && fs.existsSync(TRASHNET);
const skip = haveData ? false : `needs ../shared/data/trashnet and ${SHARED.map((m) => m.id).join(', ')} in ${MODELS}`;

// One worker: the machine has 2 cores, and one worker keeps the tensor count per thread observable.
const pool = new EmbedPool({ size: 1 });
after(() => pool.close());

test('weights resolve from the user folder, then the app cache, then SEEDBED_MODELS_DIR', { skip: skipModels }, () => {
  const id = 'mobilenet_v1_0.25_224';
  const env = { SEEDBED_MODELS_DIR: MODELS };
  const user = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-models-'));
  const cache = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-cache-'));
  try {
    assert.equal(resolveBackboneDir(id, { userDir: user, cacheDir: cache, env }), nodePath.join(MODELS, id));
    fs.mkdirSync(nodePath.join(cache, id));
    fs.writeFileSync(nodePath.join(cache, id, 'model.json'), '{}');
    assert.equal(resolveBackboneDir(id, { userDir: user, cacheDir: cache, env }), nodePath.join(cache, id));
    fs.mkdirSync(nodePath.join(user, id));
    fs.writeFileSync(nodePath.join(user, id, 'model.json'), '{}');
    assert.equal(resolveBackboneDir(id, { userDir: user, cacheDir: cache, env }), nodePath.join(user, id));
    // A user may pick the backbone's own folder.
    assert.equal(resolveBackboneDir(id, { userDir: nodePath.join(user, id), env: {} }), nodePath.join(user, id));
    assert.equal(resolveBackboneDir('mobilenet_v1_1.0_224', { userDir: user, cacheDir: cache, env: {} }), null);
  } finally {
    fs.rmSync(user, { recursive: true, force: true });
    fs.rmSync(cache, { recursive: true, force: true });
  }
  assert.deepEqual(availableBackbones({ env }).map((b) => b.id), SHARED.map((s) => s.id));
  assert.throws(() => backboneSpec('resnet50'), (err: unknown) => err instanceof CoreError && err.code === 'invalid_input' && err.message.includes('mobilenet_v2_1.0_224'));
});

for (const model of SHARED) {
  test(`${model.id} (${model.format}) embeds TrashNet images: ${model.dims} finite dims, deterministic, no tensor leak`, { skip }, async () => {
    const modelDir = resolveBackboneDir(model.id, { env: { SEEDBED_MODELS_DIR: MODELS } });
    assert.ok(modelDir, `${model.id} is in ${MODELS}`);
    const answers = [];
    for (let round = 0; round < 3; round++) answers.push(await pool.embedBatch({ backbone: model.id, modelDir, paths: IMAGES }));
    const [a, b, c] = answers as [typeof answers[0], typeof answers[0], typeof answers[0]];
    assert.equal(a.dims, model.dims);
    assert.equal(a.embeddings.length, IMAGES.length * model.dims);
    assert.ok(a.embeddings.every(Number.isFinite), 'every value is finite');
    const rows = Array.from({ length: IMAGES.length }, (_, i) => a.embeddings.subarray(i * model.dims, (i + 1) * model.dims));
    for (const row of rows) assert.ok(row.some((v) => v !== row[0]), 'a row is not constant');
    for (let i = 1; i < rows.length; i++) assert.notDeepEqual(rows[i], rows[0], `image ${i} differs from image 0`);
    // Same images, same backbone, same worker: the same embeddings.
    assert.deepEqual(b.embeddings, a.embeddings);
    assert.deepEqual(c.embeddings, a.embeddings);
    assert.ok(a.numTensors > 0, 'the loaded weights are tensors');
    assert.equal(b.numTensors, a.numTensors, 'no tensors left behind by a batch');
    assert.equal(c.numTensors, a.numTensors, 'no tensors left behind by a batch');
  });
}

test('embedAll keeps the order of the paths across batches', { skip }, async () => {
  const id = 'mobilenet_v1_0.25_224';
  const modelDir = resolveBackboneDir(id, { env: { SEEDBED_MODELS_DIR: MODELS } })!;
  const single = await pool.embedBatch({ backbone: id, modelDir, paths: IMAGES });
  const all = await pool.embedAll({ backbone: id, modelDir, paths: [...IMAGES].reverse() }, { batchSize: 3 });
  assert.equal(all.dims, D);
  for (let i = 0; i < IMAGES.length; i++) {
    const expected = single.embeddings.subarray(i * D, (i + 1) * D);
    const got = all.embeddings.subarray((IMAGES.length - 1 - i) * D, (IMAGES.length - i) * D);
    for (let d = 0; d < D; d++) assert.ok(Math.abs(expected[d]! - got[d]!) < 1e-4, `image ${i} dim ${d}`);
  }
});

test('an unreadable image is reported by name and the rest of its batch is embedded', { skip }, async () => {
  const id = 'mobilenet_v1_0.25_224';
  const modelDir = resolveBackboneDir(id, { env: { SEEDBED_MODELS_DIR: MODELS } })!;
  const missing = nodePath.join(os.tmpdir(), 'seedbed-no-such-image.jpg');
  const answer = await pool.embedBatch({ backbone: id, modelDir, paths: [missing, IMAGES[0]!] });
  assert.match(answer.errors[0] ?? '', new RegExp(missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  assert.equal(answer.errors[1], null);
  const good = answer.embeddings.subarray(D, 2 * D);
  assert.ok(good.some((v) => v !== 0), 'the readable image has an embedding');
  assert.ok(answer.embeddings.subarray(0, D).every((v) => v === 0), 'the unreadable one is all zeros');
});

test('the flipped view is the mirror image: a different vector from the centre crop', { skip }, async () => {
  const id = 'mobilenet_v1_0.25_224';
  const modelDir = resolveBackboneDir(id, { env: { SEEDBED_MODELS_DIR: MODELS } })!;
  const center = await pool.embedBatch({ backbone: id, modelDir, paths: [IMAGES[0]!] });
  const flip = await pool.embedBatch({ backbone: id, modelDir, paths: [IMAGES[0]!], view: 'flip' });
  let diff = 0;
  let cos = 0, na = 0, nb = 0;
  for (let d = 0; d < D; d++) {
    const a = center.embeddings[d]!, b = flip.embeddings[d]!;
    diff = Math.max(diff, Math.abs(a - b));
    cos += a * b; na += a * a; nb += b * b;
  }
  assert.ok(diff > 1e-3, 'a mirror image gives a different embedding');
  assert.ok(cos / Math.sqrt(na * nb) > 0.8, 'but a similar one: the same object');
});
