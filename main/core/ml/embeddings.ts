/**
 * The embedding cache: one vector per (image content, backbone, view), stored in the project.
 * The backbone column holds a feature key (backbone id + which layers are pooled), so a
 * change of feature definition never mixes old and new vectors.
 * An image is embedded once; a later run, a new image or a re-import only embeds what is
 * missing. Vectors are little-endian float32 BLOBs.
 */
import fs from 'node:fs';
import type { Database } from 'better-sqlite3';
import type { AugmentPolicy } from '../../../shared/contract/augment.ts';
import { policyKey } from '../augment/pipeline.ts';
import type { EmbedPool } from './embed-pool.ts';
import type { EmbedAnswer, EmbedRequest, EmbedView } from './embed-protocol.ts';

export interface EmbedTarget {
  imageId: number;
  sha256: string;
}

export interface EmbedProgress {
  done: number;
  total: number;
}

export interface EnsureResult {
  /** Vectors computed now. */
  computed: number;
  /** Vectors that were already stored. */
  cached: number;
  /** Images whose file could not be read: the path and the problem. */
  failed: { imageId: number; path: string; reason: string }[];
  seconds: number;
  backend: string | null;
  backendDetail: string | null;
}

/** Images per worker request: big enough to amortise the call, small enough for smooth progress and prompt cancel. */
const BATCH = 16;

export function toBlob(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

export function fromBlob(blob: Buffer): Float32Array {
  // Copy: the Buffer may sit at an offset that is not float-aligned in a shared pool.
  const out = new Float32Array(blob.byteLength / 4);
  new Uint8Array(out.buffer).set(blob);
  return out;
}

/** Of these contents, those without a stored vector for (backbone, view). */
export function missingEmbeddings(db: Database, featureKey: string, view: EmbedView, targets: EmbedTarget[]): EmbedTarget[] {
  const have = db.prepare('SELECT 1 FROM embeddings WHERE sha256 = ? AND backbone = ? AND view = ?').pluck();
  return targets.filter((t) => !have.get(t.sha256, featureKey, view));
}

/**
 * A lookup of an image's first readable path, first path first: a moved or deleted first copy
 * falls back to another. The query is prepared once, for every image a run looks up.
 */
function readablePathLookup(db: Database): (imageId: number) => string | null {
  const pathsOf = db
    .prepare(
      `SELECT path FROM (SELECT path, 0 AS o FROM images WHERE id = @id UNION ALL SELECT path, 1 AS o FROM image_paths WHERE image_id = @id) ORDER BY o`,
    )
    .pluck();
  return (imageId) => {
    const rows = pathsOf.all({ id: imageId }) as string[];
    for (const p of rows) if (fs.existsSync(p)) return p;
    return rows[0] ?? null;
  };
}

/**
 * Runs batches on every worker at once (as many in flight as there are workers, so every core
 * works and a cancel stops soon); each answer is stored in one transaction as it comes.
 * Images the project has no file for are reported as failed and left out of their batch.
 */
async function inLanes<T extends { imageId: number }>(
  db: Database,
  pool: EmbedPool,
  batches: T[][],
  result: EnsureResult,
  signal: AbortSignal | undefined,
  steps: {
    ask: (readable: (T & { path: string })[]) => Omit<EmbedRequest, 'type'>;
    store: (readable: (T & { path: string })[], answer: EmbedAnswer, at: number) => void;
    finished: (batch: T[]) => void;
  },
): Promise<void> {
  const readablePath = readablePathLookup(db);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, pool.size) }, async () => {
    while (next < batches.length) {
      signal?.throwIfAborted();
      const batch = batches[next++]!;
      const readable: (T & { path: string })[] = [];
      for (const t of batch) {
        const path = readablePath(t.imageId);
        if (path === null) result.failed.push({ imageId: t.imageId, path: `image ${t.imageId}`, reason: 'the project records no file for it' });
        else readable.push({ ...t, path });
      }
      const answer = await pool.embedBatch(steps.ask(readable), { signal });
      result.backend ??= answer.backend;
      result.backendDetail ??= answer.backendDetail;
      const at = Date.now();
      db.transaction(() => steps.store(readable, answer, at))();
      steps.finished(batch);
    }
  });
  await Promise.all(lanes);
}

/**
 * Computes and stores the vectors these images lack. Batches run on every worker; each
 * finished batch is written at once (a cancelled job keeps what it finished). `signal`
 * cancels between batches.
 */
export async function ensureEmbeddings(
  db: Database,
  pool: EmbedPool,
  request: { backbone: string; featureKey: string; modelDir: string; view: EmbedView; targets: EmbedTarget[] },
  options: { signal?: AbortSignal; onProgress?: (p: EmbedProgress) => void } = {},
): Promise<EnsureResult> {
  const started = performance.now();
  // Two images with one content are one image row; a target list may still repeat one.
  const unique = [...new Map(request.targets.map((t) => [t.sha256, t])).values()];
  const missing = missingEmbeddings(db, request.featureKey, request.view, unique);
  const result: EnsureResult = { computed: 0, cached: unique.length - missing.length, failed: [], seconds: 0, backend: null, backendDetail: null };
  const total = missing.length;
  options.onProgress?.({ done: 0, total });
  if (!total) return { ...result, seconds: (performance.now() - started) / 1000 };

  const insert = db.prepare(
    `INSERT OR REPLACE INTO embeddings (sha256, backbone, view, dims, vector, created_at) VALUES (@sha256, @backbone, @view, @dims, @vector, @at)`,
  );
  const batches: EmbedTarget[][] = [];
  for (let i = 0; i < missing.length; i += BATCH) batches.push(missing.slice(i, i + BATCH));
  let done = 0;
  await inLanes(db, pool, batches, result, options.signal, {
    ask: (readable) => ({ backbone: request.backbone, modelDir: request.modelDir, paths: readable.map((t) => t.path), view: request.view }),
    store: (readable, answer, at) =>
      readable.forEach((t, i) => {
        const error = answer.errors[i];
        if (error) {
          result.failed.push({ imageId: t.imageId, path: t.path, reason: error });
          return;
        }
        const vector = answer.embeddings.subarray(i * answer.dims, (i + 1) * answer.dims);
        insert.run({ sha256: t.sha256, backbone: request.featureKey, view: request.view, dims: answer.dims, vector: toBlob(vector), at });
        result.computed++;
      }),
    finished: (batch) => options.onProgress?.({ done: (done += batch.length), total }),
  });
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/**
 * The stored vectors of these contents as one row-major matrix, in the order given. Contents
 * without a vector are left out and listed in `missing`.
 */
export function loadEmbeddings(
  db: Database,
  featureKey: string,
  view: EmbedView,
  shas: string[],
): { x: Float32Array; dims: number; present: boolean[] } {
  const get = db.prepare('SELECT dims, vector FROM embeddings WHERE sha256 = ? AND backbone = ? AND view = ?');
  const rows = shas.map((sha) => get.get(sha, featureKey, view) as { dims: number; vector: Buffer } | undefined);
  const dims = rows.find((r) => r)?.dims ?? 0;
  const x = new Float32Array(shas.length * dims);
  const present = rows.map((r, i) => {
    if (!r || r.dims !== dims) return false;
    x.set(fromBlob(r.vector), i * dims);
    return true;
  });
  return { x, dims, present };
}

/** An image that trains with `views` augmented views (view numbers 0 … views − 1). */
export interface ViewTarget extends EmbedTarget {
  views: number;
}

/** Augmented views per worker request: a few images' worth, so every worker stays busy and a cancel is prompt. */
const VIEW_BATCH = 32;

/**
 * Computes and stores the augmented views these images lack, under `policy` and `seed`. Each
 * image is decoded once per request for all of its missing views; a finished batch is stored
 * at once. Progress counts views.
 */
export async function ensureViewEmbeddings(
  db: Database,
  pool: EmbedPool,
  request: { backbone: string; featureKey: string; modelDir: string; policy: AugmentPolicy; seed: number; targets: ViewTarget[] },
  options: { signal?: AbortSignal; onProgress?: (p: EmbedProgress) => void } = {},
): Promise<EnsureResult> {
  const started = performance.now();
  const prefix = `aug:${policyKey(request.policy)}:${request.seed}:`;
  const have = db.prepare(`SELECT view FROM embeddings WHERE sha256 = ? AND backbone = ? AND view >= ? AND view < ?`).pluck();
  // The most views asked of each content (one content may be listed twice).
  const wanted = new Map<string, ViewTarget>();
  for (const t of request.targets) if (t.views > (wanted.get(t.sha256)?.views ?? 0)) wanted.set(t.sha256, t);
  const work: { target: ViewTarget; views: number[] }[] = [];
  let cached = 0;
  for (const t of wanted.values()) {
    const stored = new Set(have.all(t.sha256, request.featureKey, prefix, `${prefix}\uffff`) as string[]);
    const missing: number[] = [];
    for (let v = 0; v < t.views; v++) (stored.has(`${prefix}${v}`) ? cached++ : missing.push(v));
    if (missing.length) work.push({ target: t, views: missing });
  }
  const result: EnsureResult = { computed: 0, cached, failed: [], seconds: 0, backend: null, backendDetail: null };
  const total = work.reduce((a, w) => a + w.views.length, 0);
  options.onProgress?.({ done: 0, total });
  if (!total) return { ...result, seconds: (performance.now() - started) / 1000 };

  // Batches of whole images, about VIEW_BATCH views each.
  const batches: (typeof work)[] = [];
  let current: typeof work = [];
  let rows = 0;
  for (const w of work) {
    current.push(w);
    rows += w.views.length;
    if (rows >= VIEW_BATCH) {
      batches.push(current);
      current = [];
      rows = 0;
    }
  }
  if (current.length) batches.push(current);

  const insert = db.prepare(
    `INSERT OR REPLACE INTO embeddings (sha256, backbone, view, dims, vector, created_at) VALUES (@sha256, @backbone, @view, @dims, @vector, @at)`,
  );
  let done = 0;
  await inLanes(
    db,
    pool,
    batches.map((batch) => batch.map((w) => ({ ...w, imageId: w.target.imageId }))),
    result,
    options.signal,
    {
      ask: (readable) => ({
        backbone: request.backbone,
        modelDir: request.modelDir,
        paths: readable.map((w) => w.path),
        augment: { policy: request.policy, seed: request.seed, shas: readable.map((w) => w.target.sha256), views: readable.map((w) => w.views) },
      }),
      store: (readable, answer, at) => {
        let row = 0;
        readable.forEach((w, i) => {
          const error = answer.errors[i];
          if (error) result.failed.push({ imageId: w.target.imageId, path: w.path, reason: error });
          for (const v of w.views) {
            if (!error) {
              const vector = answer.embeddings.subarray(row * answer.dims, (row + 1) * answer.dims);
              insert.run({ sha256: w.target.sha256, backbone: request.featureKey, view: `${prefix}${v}`, dims: answer.dims, vector: toBlob(vector), at });
              result.computed++;
            }
            row++;
          }
        });
      },
      finished: (batch) => options.onProgress?.({ done: (done += batch.reduce((n, w) => n + w.views.length, 0)), total }),
    },
  );
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/**
 * The stored augmented views of these images as one matrix: for each target in order, its
 * views 0 … views − 1 that are stored (`owner` gives each row's target index).
 */
export function loadViewEmbeddings(
  db: Database,
  featureKey: string,
  policy: AugmentPolicy,
  seed: number,
  targets: readonly ViewTarget[],
  dims: number,
): { x: Float32Array; owner: Int32Array; rows: number } {
  const prefix = `aug:${policyKey(policy)}:${seed}:`;
  const get = db.prepare('SELECT dims, vector FROM embeddings WHERE sha256 = ? AND backbone = ? AND view = ?');
  const total = targets.reduce((a, t) => a + t.views, 0);
  const x = new Float32Array(total * dims);
  const owner = new Int32Array(total);
  let rows = 0;
  targets.forEach((t, i) => {
    for (let v = 0; v < t.views; v++) {
      const row = get.get(t.sha256, featureKey, `${prefix}${v}`) as { dims: number; vector: Buffer } | undefined;
      if (!row || row.dims !== dims) continue;
      x.set(fromBlob(row.vector), rows * dims);
      owner[rows++] = i;
    }
  });
  return { x: x.subarray(0, rows * dims), owner: owner.subarray(0, rows), rows };
}

/**
 * The stored vectors of these items, compacted to the ones that have a vector: row r of `x`
 * belongs to `kept[r]`, in the order given.
 */
export function loadPresentEmbeddings<T extends { sha256: string }>(
  db: Database,
  featureKey: string,
  view: EmbedView,
  items: readonly T[],
): { x: Float32Array<ArrayBuffer>; dims: number; kept: T[] } {
  const loaded = loadEmbeddings(db, featureKey, view, items.map((i) => i.sha256));
  const kept = items.filter((_, i) => loaded.present[i]);
  // loadEmbeddings allocates its own matrix: nothing else holds it.
  if (kept.length === items.length) return { x: loaded.x as Float32Array<ArrayBuffer>, dims: loaded.dims, kept };
  const x = new Float32Array(kept.length * loaded.dims);
  let row = 0;
  items.forEach((_, i) => {
    if (loaded.present[i]) x.set(loaded.x.subarray(i * loaded.dims, (i + 1) * loaded.dims), row++ * loaded.dims);
  });
  return { x, dims: loaded.dims, kept };
}
