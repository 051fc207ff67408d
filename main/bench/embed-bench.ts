/**
 * Embeddings per second for each backbone found in SEEDBED_MODELS_DIR, with 1 worker and with
 * every core, on a fixed set of TrashNet photos (decode included, model load excluded).
 * Part of `npm run bench`; alone: node --import tsx main/bench/embed-bench.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { availableBackbones, resolveBackboneDir } from '../core/ml/backbones.ts';
import { EmbedPool } from '../core/ml/embed-pool.ts';

export interface EmbedFigure {
  backbone: string;
  workers: number;
  imagesPerSecond: number;
  dims: number;
  backend: string;
}

/** A fixed set: the first files by name, round-robin over the classes. */
export function benchImages(dataDir: string, count: number): string[] {
  const classes = fs.readdirSync(dataDir).filter((c) => fs.statSync(nodePath.join(dataDir, c)).isDirectory()).sort();
  const byClass = classes.map((c) => fs.readdirSync(nodePath.join(dataDir, c)).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort().map((f) => nodePath.join(dataDir, c, f)));
  const images: string[] = [];
  for (let i = 0; images.length < count && byClass.some((f) => f[i]); i++) for (const files of byClass) if (images.length < count && files[i]) images.push(files[i]!);
  return images;
}

export async function benchEmbeddings(dataDir: string, modelsDir: string, count = 96, batch = 16, log = console.log): Promise<EmbedFigure[]> {
  const images = benchImages(dataDir, count);
  const sources = { env: { SEEDBED_MODELS_DIR: modelsDir } };
  const figures: EmbedFigure[] = [];
  const all = os.availableParallelism();
  for (const spec of availableBackbones(sources)) {
    const modelDir = resolveBackboneDir(spec.id, sources)!;
    for (const workers of [...new Set([1, all])]) {
      const pool = new EmbedPool({ size: workers });
      try {
        // Load the model in every worker first, with a full batch each (wasm prepares per input shape).
        const warm = await Promise.all(Array.from({ length: workers }, () => pool.embedBatch({ backbone: spec.id, modelDir, paths: images.slice(0, batch) })));
        const start = performance.now();
        const out = await pool.embedAll({ backbone: spec.id, modelDir, paths: images }, { batchSize: batch });
        const seconds = (performance.now() - start) / 1000;
        const figure = { backbone: spec.id, workers, imagesPerSecond: images.length / seconds, dims: out.dims, backend: warm[0]!.backendDetail.split(';')[0]! };
        figures.push(figure);
        log(`  ${spec.id.padEnd(24)} ${workers} worker${workers > 1 ? 's' : ' '}  ${figure.imagesPerSecond.toFixed(1).padStart(6)} images/s  (${figure.dims} numbers per image, ${figure.backend})`);
      } finally {
        await pool.close();
      }
    }
  }
  return figures;
}

if (import.meta.filename === process.argv[1]) {
  const root = nodePath.resolve(import.meta.dirname, '../..');
  await benchEmbeddings(nodePath.resolve(root, '../shared/data/trashnet'), process.env.SEEDBED_MODELS_DIR || nodePath.resolve(root, '../shared/models'));
}
