/**
 * Embedding throughput of the canonical backbones against the original loaders (backbones.ts),
 * on this thread with the runtime's backend (wasm SIMD, one thread), batch 16, decode excluded.
 * Run: SEEDBED_MODELS_DIR=../shared/models node --import tsx main/core/ml/canonical-bench.ts [rounds]
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { availableBackbones, loadBackbone, resolveBackboneDir } from './backbones.ts';
import { featureModel, loadCanonicalBackbone } from './canonical.ts';
import { chooseBackend } from './runtime.ts';

const SIZE = 224;
const BATCH = 16;

async function decodeBatch(dir: string): Promise<tf.Tensor4D> {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort().slice(0, BATCH);
  const pixels = new Float32Array(BATCH * SIZE * SIZE * 3);
  for (let i = 0; i < files.length; i++) {
    const rgb = await sharp(nodePath.join(dir, files[i]!)).rotate().resize(SIZE, SIZE, { fit: 'cover' }).removeAlpha().toColourspace('srgb').raw().toBuffer();
    pixels.set(rgb, i * SIZE * SIZE * 3);
  }
  return tf.tensor4d(pixels, [BATCH, SIZE, SIZE, 3]);
}

/** Images per second of each embedder, alternating batches between them so background load hits all alike. */
async function imagesPerSecond(embedders: ((x: tf.Tensor4D) => tf.Tensor)[], x: tf.Tensor4D, rounds: number): Promise<number[]> {
  const seconds = embedders.map(() => 0);
  for (let round = -1; round < rounds; round++) {
    for (const [i, embed] of embedders.entries()) {
      const start = performance.now();
      const out = tf.tidy(() => embed(x));
      await out.data();
      out.dispose();
      // Round -1 warms up (kernel setup, XNNPACK packing).
      if (round >= 0) seconds[i]! += (performance.now() - start) / 1000;
    }
  }
  return seconds.map((s) => (rounds * BATCH) / s);
}

/** A copy built from the saved config, as a fresh process loads an export: standard tfjs-layers calls only. */
async function standardCopy(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  const copy = await tfl.models.modelFromJSON({ modelTopology: model.toJSON(null, false) as tf.io.ModelJSON['modelTopology'] });
  copy.setWeights(model.getWeights());
  return copy;
}

export interface CanonicalBenchRow {
  id: string;
  format: 'graph' | 'layers';
  /** Images/s of backbones.ts' loader. */
  original: number;
  /** Images/s of the canonical backbone as loadCanonicalBackbone returns it. */
  canonical: number;
  /** Images/s of the same model rebuilt from its saved config (standard tfjs-layers calls, as an export runs). */
  standardLayers: number;
}

/** Embedding throughput per available backbone: original loader vs canonical model, batch 16, decode excluded. */
export async function benchCanonicalBackbones(rounds = 4): Promise<CanonicalBenchRow[]> {
  await chooseBackend();
  const x = await decodeBatch(nodePath.resolve(import.meta.dirname, '../../../../shared/data/trashnet/cardboard'));
  const rows: CanonicalBenchRow[] = [];
  try {
    for (const spec of availableBackbones()) {
      const dir = resolveBackboneDir(spec.id)!;
      const original = await loadBackbone(spec.id, dir);
      const canonical = await loadCanonicalBackbone(spec.id, dir);
      try {
        const features = featureModel(canonical, [{ layer: canonical.blockEnds[canonical.blockEnds.length - 1]!, pooling: 'avg' }]);
        const standard = await standardCopy(features);
        const [before, plain, fused] = await imagesPerSecond(
          [(t) => original.embed(t), (t) => standard.predict(t) as tf.Tensor, (t) => features.predict(t) as tf.Tensor],
          x, rounds,
        );
        standard.dispose();
        rows.push({ id: spec.id, format: original.format, original: before!, canonical: fused!, standardLayers: plain! });
      } finally {
        original.dispose();
        canonical.dispose();
      }
    }
  } finally {
    x.dispose();
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rounds = Number(process.argv[2] ?? 4);
  const { detail } = await chooseBackend();
  console.log(`backend: ${detail.split(';')[0]}; batch ${BATCH}; ${rounds} batches each, interleaved`);
  for (const r of await benchCanonicalBackbones(rounds)) {
    console.log(
      `${r.id} (${r.format}): original ${r.original.toFixed(1)} images/s; canonical ${r.canonical.toFixed(1)} images/s (${(r.canonical / r.original).toFixed(2)}×); ` +
        `same model with standard tfjs-layers calls (as exported) ${r.standardLayers.toFixed(1)} images/s`,
    );
  }
}
