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

async function embed(request: EmbedRequest): Promise<EmbedAnswer> {
  const [backbone, choice] = await Promise.all([backboneFor(request), chooseBackend()]);
  const n = request.paths.length;
  // One unreadable file must not sink its batch: its row is cleared below and reported.
  const { pixels, errors } = await decodeBatch(request.paths, request.view ?? 'center');
  const out = tf.tidy(() => backbone.model.predict(tf.tensor4d(pixels, [n, SIZE, SIZE, 3])) as tf.Tensor);
  let embeddings: Float32Array<ArrayBuffer>;
  try {
    // A copy the worker owns: a backend's own array (or a view on its heap) must not be transferred away.
    embeddings = new Float32Array(await out.data<'float32'>());
    // A failed file's row is what the model makes of black pixels: clear it so nobody mistakes it for data.
    errors.forEach((error, i) => error !== null && embeddings.fill(0, i * backbone.dims, (i + 1) * backbone.dims));
  } finally {
    out.dispose();
  }
  return { embeddings, errors, dims: backbone.dims, backend: choice.backend, backendDetail: choice.detail, numTensors: tf.memory().numTensors };
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
