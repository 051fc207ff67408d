/**
 * Embedding worker: chooses its TensorFlow.js backend (runtime.ts), loads one backbone and
 * keeps it, decodes image files with sharp and answers with their embeddings.
 * Built to dist/main/embed.worker.js.
 */
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import type { PoolEnvelope, PoolReply } from '../jobs/worker-protocol.ts';
import * as tfl from '@tensorflow/tfjs-layers';
import { featureModel, loadCanonicalBackbone } from './canonical.ts';
import { featureTaps } from './features.ts';
import type { EmbedAnswer, EmbedRequest } from './embed-protocol.ts';
import { decodeBatch, MODEL_INPUT_SIZE as SIZE } from './pixels.ts';
import { chooseBackend } from './runtime.ts';
import { checkGpu } from './webgpu.ts';
import { modelViews } from '../augment/pipeline.ts';

// Parallelism comes from the worker count; libvips threads would only compete with the model.
sharp.concurrency(1);
sharp.cache(false);

/** A backbone as embeddings come from it: the canonical model's pooled features (features.ts). */
interface Embedder {
  dims: number;
  model: tfl.LayersModel;
  dispose(): void;
}

async function loadEmbedder(id: string, dir: string): Promise<Embedder> {
  const b = await loadCanonicalBackbone(id, dir);
  const features = featureModel(b, featureTaps(b));
  return { dims: features.outputs[0]!.shape[1] as number, model: features, dispose: () => b.dispose() };
}

let loaded: { key: string; backbone: Promise<Embedder> } | null = null;

function backboneFor(request: EmbedRequest): Promise<Embedder> {
  const key = `${request.backbone}\0${request.modelDir}`;
  if (loaded?.key !== key) {
    const previous = loaded;
    loaded = { key, backbone: chooseBackend().then(() => loadEmbedder(request.backbone, request.modelDir)) };
    previous?.backbone.then((b) => b.dispose(), () => {});
    // A failed load is retried by the next request, not remembered.
    loaded.backbone.catch(() => {
      if (loaded?.key === key) loaded = null;
    });
  }
  return loaded.backbone;
}

/** Rows per forward pass: augmented batches can hold hundreds of views, and memory stays flat. */
const CHUNK = 32;

/**
 * Each file decoded once, then every view asked for, one row per view, path by path. A file
 * that cannot be read leaves black rows and its error.
 */
async function decodeViews(request: EmbedRequest & { augment: NonNullable<EmbedRequest['augment']> }): Promise<{ pixels: Float32Array; rows: number[]; errors: (string | null)[] }> {
  const { policy, seed, shas, views } = request.augment;
  const size = SIZE * SIZE * 3;
  const total = views.reduce((a, v) => a + v.length, 0);
  const pixels = new Float32Array(total * size);
  const errors: (string | null)[] = [];
  const rows: number[] = [];
  let at = 0;
  for (const [i, path] of request.paths.entries()) {
    const wanted = views[i] ?? [];
    rows.push(at);
    try {
      const made = await modelViews(path, shas[i]!, policy, seed, wanted);
      made.views.forEach((v, k) => pixels.set(v.data, (at + k) * size));
      errors.push(null);
    } catch (err) {
      errors.push((err as Error).message);
    }
    at += wanted.length;
  }
  return { pixels, rows, errors };
}

async function embed(request: EmbedRequest): Promise<EmbedAnswer> {
  const [backbone, choice] = await Promise.all([backboneFor(request), chooseBackend()]);
  // One unreadable file must not sink its batch: its rows are cleared below and reported.
  const decoded = request.augment
    ? await decodeViews({ ...request, augment: request.augment })
    : { ...(await decodeBatch(request.paths, request.view ?? 'center')), rows: request.paths.map((_, i) => i) };
  const { pixels, errors } = decoded;
  const size = SIZE * SIZE * 3;
  const n = pixels.length / size;
  const dims = backbone.dims;
  // A copy the worker owns: a backend's own array (or a view on its heap) must not be transferred away.
  const embeddings = new Float32Array(n * dims);
  for (let start = 0; start < n; start += CHUNK) {
    const count = Math.min(CHUNK, n - start);
    const out = tf.tidy(() => backbone.model.predict(tf.tensor4d(pixels.subarray(start * size, (start + count) * size), [count, SIZE, SIZE, 3])) as tf.Tensor);
    try {
      embeddings.set(await out.data<'float32'>(), start * dims);
    } finally {
      out.dispose();
    }
    // A lost GPU returns zeros or garbage, never an error: nothing it computed may be cached.
    checkGpu('computing embeddings');
  }
  // A failed file's rows are what the model makes of black pixels: clear them so nobody mistakes them for data.
  errors.forEach((error, i) => {
    if (error === null) return;
    const rowsOf = request.augment ? (request.augment.views[i]?.length ?? 0) : 1;
    embeddings.fill(0, decoded.rows[i]! * dims, (decoded.rows[i]! + rowsOf) * dims);
  });
  return { embeddings, errors, dims, backend: choice.backend, backendDetail: choice.detail, numTensors: tf.memory().numTensors };
}

const port = parentPort;
if (!port) throw new Error('embed.worker runs inside a worker thread only.');
// The pool's envelope (jobs/worker-protocol.ts), answered with the embeddings transferred.
port.on('message', (message: PoolEnvelope<EmbedRequest>) => {
  embed(message.request).then(
    (result) => port.postMessage({ id: message.id, ok: true, result } satisfies PoolReply<EmbedAnswer>, [result.embeddings.buffer]),
    (err: unknown) =>
      port.postMessage({ id: message.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies PoolReply<EmbedAnswer>),
  );
});
