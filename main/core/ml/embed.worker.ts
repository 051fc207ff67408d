/**
 * Embedding worker: chooses its TensorFlow.js backend (runtime.ts), loads one backbone and
 * keeps it, decodes image files with sharp and answers with their embeddings.
 * Built to dist/main/embed.worker.js.
 */
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import type { PoolEnvelope, PoolReply } from '../jobs/worker-protocol.ts';
import { loadBackbone, type LoadedBackbone } from './backbones.ts';
import type { EmbedAnswer, EmbedRequest } from './embed-protocol.ts';
import { chooseBackend } from './runtime.ts';

// Parallelism comes from the worker count; libvips threads would only compete with the model.
sharp.concurrency(1);
sharp.cache(false);

const SIZE = 224;
let loaded: { key: string; backbone: Promise<LoadedBackbone> } | null = null;

function backboneFor(request: EmbedRequest): Promise<LoadedBackbone> {
  const key = `${request.backbone}\0${request.modelDir}`;
  if (loaded?.key !== key) {
    const previous = loaded;
    loaded = { key, backbone: chooseBackend().then(() => loadBackbone(request.backbone, request.modelDir)) };
    previous?.backbone.then((b) => b.dispose(), () => {});
    // A failed load is retried by the next request, not remembered.
    loaded.backbone.catch(() => {
      if (loaded?.key === key) loaded = null;
    });
  }
  return loaded.backbone;
}

async function decode(path: string): Promise<Buffer> {
  try {
    return await sharp(path, { failOn: 'none' })
      .rotate()
      .resize(SIZE, SIZE, { fit: 'cover', position: 'centre' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer();
  } catch (err) {
    throw new Error(`Seedbed cannot decode ${path} for embedding: ${(err as Error).message}`);
  }
}

async function embed(request: EmbedRequest): Promise<EmbedAnswer> {
  const [backbone, choice] = await Promise.all([backboneFor(request), chooseBackend()]);
  const n = request.paths.length;
  const pixels = new Float32Array(n * SIZE * SIZE * 3);
  for (let i = 0; i < n; i++) {
    const rgb = await decode(request.paths[i]!);
    pixels.set(rgb, i * SIZE * SIZE * 3);
  }
  const out = tf.tidy(() => backbone.embed(tf.tensor4d(pixels, [n, SIZE, SIZE, 3])));
  let embeddings: Float32Array<ArrayBuffer>;
  try {
    // A copy the worker owns: a backend's own array (or a view on its heap) must not be transferred away.
    embeddings = new Float32Array(await out.data<'float32'>());
  } finally {
    out.dispose();
  }
  return { embeddings, dims: backbone.dims, backend: choice.backend, backendDetail: choice.detail, numTensors: tf.memory().numTensors };
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
