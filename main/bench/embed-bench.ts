/**
 * Embeddings per second for each backbone in SEEDBED_MODELS_DIR (default ../shared/models),
 * with 1 worker and with 2, on 64 TrashNet images (decode included, model load excluded).
 *   node --import tsx main/bench/embed-bench.ts [--batch N]   (images per worker request, default 8)
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { availableBackbones, resolveBackboneDir } from '../core/ml/backbones.ts';
import { EmbedPool } from '../core/ml/embed-pool.ts';

const MODELS = process.env.SEEDBED_MODELS_DIR || nodePath.resolve(import.meta.dirname, '../../../shared/models');
const TRASHNET = nodePath.resolve(import.meta.dirname, '../../../shared/data/trashnet');
const COUNT = 64;
const batchAt = process.argv.indexOf('--batch');
const BATCH = batchAt >= 0 ? Number(process.argv[batchAt + 1]) : 8;

// A fixed set: the first files by name, round-robin over the classes.
const classes = fs.readdirSync(TRASHNET).sort();
const byClass = classes.map((c) => fs.readdirSync(nodePath.join(TRASHNET, c)).filter((f) => f.endsWith('.jpg')).sort().map((f) => nodePath.join(TRASHNET, c, f)));
const images: string[] = [];
for (let i = 0; images.length < COUNT; i++) for (const files of byClass) if (images.length < COUNT && files[i]) images.push(files[i]!);

const sources = { env: { SEEDBED_MODELS_DIR: MODELS } };
const backbones = availableBackbones(sources);
if (!backbones.length) {
  console.error(`No backbones in ${MODELS}; set SEEDBED_MODELS_DIR.`);
  process.exit(1);
}
for (const spec of backbones) {
  const modelDir = resolveBackboneDir(spec.id, sources)!;
  for (const workers of [1, 2]) {
    const pool = new EmbedPool({ size: workers });
    try {
      // Load the model in every worker first, with a full batch each (wasm prepares per input shape).
      const loadStart = performance.now();
      const warm = await Promise.all(
        Array.from({ length: workers }, () => pool.embedBatch({ backbone: spec.id, modelDir, paths: images.slice(0, BATCH) })),
      );
      const loadMs = performance.now() - loadStart;
      const start = performance.now();
      await pool.embedAll({ backbone: spec.id, modelDir, paths: images }, { batchSize: BATCH });
      const seconds = (performance.now() - start) / 1000;
      console.log(
        `${spec.id.padEnd(24)} ${workers} worker${workers > 1 ? 's' : ' '}  ${(COUNT / seconds).toFixed(1).padStart(6)} embeddings/s  ` +
          `(${COUNT} images in ${seconds.toFixed(2)} s, batch ${BATCH}, load ${(loadMs / 1000).toFixed(2)} s, backend ${warm[0]!.backendDetail.split(';')[0]})`,
      );
    } finally {
      await pool.close();
    }
  }
}
