/**
 * Neighbours in embedding space: cosine k-nearest neighbours by brute force, k-NN outlier
 * scores (overall and within class) and near-duplicate groups. Pure computation on
 * embeddings in memory.
 *
 * Brute force is exact and, at the sizes Seedbed handles (a few thousand images), fast: the
 * similarity matrix is computed a block of rows at a time as one matrix product on the
 * active TF.js backend (wasm SIMD here), so memory stays at block × n floats.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CoreError } from '../errors.ts';
import { median } from './robust.ts';

/** Rows of the similarity matrix computed per matrix product. */
const BLOCK_ROWS = 256;

function rowsOf(emb: Float32Array, dims: number): number {
  if (!Number.isInteger(dims) || dims <= 0 || emb.length % dims !== 0) {
    throw new CoreError('internal', `The embeddings hold ${emb.length} values, which is not a whole number of ${dims}-dim rows.`);
  }
  return emb.length / dims;
}

/** Rows scaled to unit length (a zero row, a failed image, stays zero: similar to nothing). */
export function l2Normalise(emb: Float32Array, dims: number): Float32Array {
  const n = rowsOf(emb, dims);
  const out = new Float32Array(emb.length);
  for (let i = 0; i < n; i++) {
    const off = i * dims;
    let s = 0;
    for (let d = 0; d < dims; d++) s += emb[off + d]! * emb[off + d]!;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let d = 0; d < dims; d++) out[off + d] = emb[off + d]! * inv;
  }
  return out;
}

/**
 * Calls visit(firstRow, rows, sims) for consecutive blocks of the cosine similarity matrix of
 * unit rows `unit` (n × dims): sims is rows × n row-major. 'tf' uses the active backend's
 * matMul; 'loops' plain typed-array loops (no backend needed; several times slower).
 */
export function similarityBlocks(
  unit: Float32Array,
  dims: number,
  visit: (firstRow: number, rows: number, sims: Float32Array) => void,
  engine: 'tf' | 'loops' = 'tf',
): void {
  const n = rowsOf(unit, dims);
  if (n === 0) return;
  // The blocks are read synchronously, which the webgpu backend cannot do in Node: loops there.
  if (engine === 'loops' || tf.getBackend() === 'webgpu') {
    const sims = new Float32Array(BLOCK_ROWS * n);
    for (let start = 0; start < n; start += BLOCK_ROWS) {
      const rows = Math.min(BLOCK_ROWS, n - start);
      for (let r = 0; r < rows; r++) {
        const a = (start + r) * dims;
        for (let j = 0; j < n; j++) {
          const b = j * dims;
          let s = 0;
          for (let d = 0; d < dims; d++) s += unit[a + d]! * unit[b + d]!;
          sims[r * n + j] = s;
        }
      }
      visit(start, rows, sims.subarray(0, rows * n));
    }
    return;
  }
  // Transposed once up front: a matMul with a transpose flag is many times slower on wasm.
  const allT = tf.tidy(() => tf.transpose(tf.tensor2d(unit, [n, dims])));
  try {
    for (let start = 0; start < n; start += BLOCK_ROWS) {
      const rows = Math.min(BLOCK_ROWS, n - start);
      const product = tf.tidy(() => tf.matMul(tf.tensor2d(unit.subarray(start * dims, (start + rows) * dims), [rows, dims]), allT));
      // Read outside tf.tidy: a typed array returned from tidy is walked element by element
      // in search of tensors, which cost more than the product itself.
      let sims: Float32Array;
      try {
        sims = product.dataSync() as Float32Array;
      } finally {
        product.dispose();
      }
      visit(start, rows, sims);
    }
  } finally {
    allT.dispose();
  }
}

/** Inserts (sim, j) into a descending top-k list held in sims/idx[off .. off+k); `count` entries filled. */
function pushTop(sims: Float32Array, idx: Int32Array, off: number, k: number, count: number, s: number, j: number): number {
  if (count === k && s <= sims[off + k - 1]!) return count;
  let p = count < k ? count : k - 1;
  while (p > 0 && sims[off + p - 1]! < s) {
    sims[off + p] = sims[off + p - 1]!;
    idx[off + p] = idx[off + p - 1]!;
    p--;
  }
  sims[off + p] = s;
  idx[off + p] = j;
  return count < k ? count + 1 : count;
}

export interface NeighbourLists {
  k: number;
  /** n × k row-major, nearest first; −1 where a row has fewer than k candidates. */
  indices: Int32Array;
  /** Cosine similarities matching `indices` (−Infinity where empty). */
  similarities: Float32Array;
}

export interface KnnOptions {
  /** Restrict neighbours to the same label (within-class k-NN) as well as computing overall k-NN. */
  labels?: Int32Array;
  engine?: 'tf' | 'loops';
}

/**
 * Each row's k nearest other rows by cosine similarity (itself excluded), and, with labels,
 * its k nearest rows of the same label. Embeddings need not be normalised.
 */
export function nearestNeighbours(emb: Float32Array, dims: number, k: number, options: KnnOptions = {}): { overall: NeighbourLists; withinClass: NeighbourLists | null } {
  const n = rowsOf(emb, dims);
  if (!Number.isInteger(k) || k < 1) throw new CoreError('internal', `k-nearest neighbours needs k ≥ 1, not ${k}.`);
  const labels = options.labels;
  if (labels && labels.length !== n) throw new CoreError('internal', `There are ${labels.length} labels for ${n} embeddings.`);
  const unit = l2Normalise(emb, dims);
  const make = (): NeighbourLists => ({ k, indices: new Int32Array(n * k).fill(-1), similarities: new Float32Array(n * k).fill(-Infinity) });
  const overall = make();
  const within = labels ? make() : null;
  similarityBlocks(
    unit,
    dims,
    (start, rows, sims) => {
      for (let r = 0; r < rows; r++) {
        const i = start + r;
        const off = i * k;
        const y = labels ? labels[i]! : 0;
        let c1 = 0;
        let c2 = 0;
        const row = r * n;
        for (let j = 0; j < n; j++) {
          if (j === i) continue;
          const s = sims[row + j]!;
          c1 = pushTop(overall.similarities, overall.indices, off, k, c1, s, j);
          if (within && labels![j] === y) c2 = pushTop(within.similarities, within.indices, off, k, c2, s, j);
        }
      }
    },
    options.engine,
  );
  return { overall, withinClass: within };
}

// ---------- outliers ----------

/**
 * Robust z-scores (Iglewicz & Hoaglin's modified z): (x − median) / (1.4826 · MAD), so that
 * a few extreme values do not widen the yardstick they are measured with. When more than
 * half the values are equal (MAD 0), the mean absolute deviation stands in.
 */
export function robustZ(values: Float64Array): Float64Array {
  const med = median(values);
  const dev = Float64Array.from(values, (x) => Math.abs(x - med));
  let scale = 1.4826 * median(dev);
  if (!(scale > 0)) {
    const finite = Array.from(dev).filter(Number.isFinite);
    scale = finite.length ? (1.253314 * finite.reduce((a, b) => a + b, 0)) / finite.length : 0;
  }
  return Float64Array.from(values, (x) => (Number.isFinite(x) && scale > 0 ? (x - med) / scale : 0));
}

export interface OutlierScores {
  /** Mean cosine distance (1 − similarity) to the k nearest other images. */
  distance: Float64Array;
  /** Robust z-score of `distance` against the whole dataset. */
  z: Float64Array;
  /** z above the threshold. */
  flagged: Uint8Array;
}

export interface KnnOutlierResult {
  overall: OutlierScores;
  /** Against neighbours of the same label only (NaN distance, z 0 for a class of one image). */
  withinClass: OutlierScores;
  k: number;
  zThreshold: number;
}

/**
 * k-NN outlier scores: an image far from its k nearest neighbours, compared with how far the
 * dataset's images usually are from theirs, is an outlier. The threshold is relative to the
 * dataset (a robust z-score, default 3.5 as Iglewicz & Hoaglin recommend), not an absolute
 * distance, as embedding spaces differ in scale from backbone to backbone.
 */
export function knnOutliers(emb: Float32Array, dims: number, labels: Int32Array, k = 5, options: { zThreshold?: number; engine?: 'tf' | 'loops' } = {}): KnnOutlierResult {
  const n = rowsOf(emb, dims);
  const zThreshold = options.zThreshold ?? 3.5;
  const { overall, withinClass } = nearestNeighbours(emb, dims, k, { labels, ...(options.engine ? { engine: options.engine } : {}) });
  const meanDistance = (lists: NeighbourLists): Float64Array => {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      let c = 0;
      for (let r = 0; r < k; r++) {
        const sim = lists.similarities[i * k + r]!;
        if (sim === -Infinity) break;
        s += 1 - sim;
        c++;
      }
      out[i] = c > 0 ? s / c : NaN;
    }
    return out;
  };
  const score = (lists: NeighbourLists): OutlierScores => {
    const distance = meanDistance(lists);
    const z = robustZ(distance);
    return { distance, z, flagged: Uint8Array.from(z, (v) => (v > zThreshold ? 1 : 0)) };
  };
  return { overall: score(overall), withinClass: score(withinClass!), k, zThreshold };
}

// ---------- near-duplicates ----------

export interface DuplicateGroup {
  /** Row indices, ascending. */
  members: number[];
  /** The highest cosine similarity between two members. */
  maxSimilarity: number;
}

/** Disjoint sets over rows 0..n−1: joins pairs, then lists the sets (near-duplicate groups, isolated groups). */
export class UnionFind {
  readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = Int32Array.from({ length: n }, (_, i) => i);
  }
  find(i: number): number {
    while (this.parent[i] !== i) {
      this.parent[i] = this.parent[this.parent[i]!]!;
      i = this.parent[i]!;
    }
    return i;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
  /** Every set, members ascending, in the order of their smallest member. */
  sets(): number[][] {
    const byRoot = new Map<number, number[]>();
    for (let i = 0; i < this.parent.length; i++) {
      const r = this.find(i);
      const list = byRoot.get(r);
      if (list) list.push(i);
      else byRoot.set(r, [i]);
    }
    return [...byRoot.values()];
  }
}

/**
 * Groups of images whose embeddings have cosine similarity ≥ threshold, joined transitively
 * (union-find): re-encodes, resizes and small crops of one photo land in one group. Largest
 * groups first. Also returns the pairs found (capped at maxPairs, highest similarity kept).
 */
export function nearDuplicateGroups(
  emb: Float32Array,
  dims: number,
  threshold: number,
  options: { engine?: 'tf' | 'loops'; maxPairs?: number } = {},
): { groups: DuplicateGroup[]; pairs: { a: number; b: number; similarity: number }[] } {
  const n = rowsOf(emb, dims);
  const unit = l2Normalise(emb, dims);
  const uf = new UnionFind(n);
  const best = new Float64Array(n).fill(-Infinity);
  let pairs: { a: number; b: number; similarity: number }[] = [];
  const maxPairs = options.maxPairs ?? 100_000;
  similarityBlocks(
    unit,
    dims,
    (start, rows, sims) => {
      for (let r = 0; r < rows; r++) {
        const i = start + r;
        // j > i: each pair once.
        for (let j = i + 1; j < n; j++) {
          const s = sims[r * n + j]!;
          if (s < threshold) continue;
          uf.union(i, j);
          if (s > best[i]!) best[i] = s;
          if (s > best[j]!) best[j] = s;
          pairs.push({ a: i, b: j, similarity: s });
        }
        if (pairs.length > 2 * maxPairs) pairs = pairs.sort((x, y) => y.similarity - x.similarity).slice(0, maxPairs);
      }
    },
    options.engine,
  );
  const groups: DuplicateGroup[] = [];
  for (const members of uf.sets()) {
    if (members.length < 2) continue;
    groups.push({ members, maxSimilarity: Math.max(...members.map((i) => best[i]!)) });
  }
  groups.sort((a, b) => b.members.length - a.members.length || b.maxSimilarity - a.maxSimilarity || a.members[0]! - b.members[0]!);
  pairs.sort((x, y) => y.similarity - x.similarity);
  return { groups, pairs: pairs.slice(0, maxPairs) };
}

/** Class overlap lives with confident learning (it reads the confident joint); re-exported for callers of this module. */
export { classOverlap, type ClassOverlap } from './confident-learning.ts';

// ---------- isolated groups ----------

export interface IsolatedGroup {
  /** Row indices, ascending. */
  members: number[];
  /** Cosine distance from the group to the nearest image outside it. */
  gap: number;
  /** That gap as a robust z-score against the dataset's nearest-neighbour distances. */
  z: number;
}

/**
 * Small groups of images that are close to each other and far from everything else: a handful
 * of strays of one kind (scans among photos) are each other's nearest neighbours, so a k-NN
 * score alone calls them typical. Images are joined when closer than a cut (median + joinZ ×
 * robust spread of every image's nearest-neighbour distance); groups of 2 to `maxSize` images
 * whose gap to the nearest image outside sits z or more spreads out are reported. On TrashNet
 * with 8 chest X-rays mixed in (mobilenet_v1_0.75_224), joinZ 2.5 / z 2.8 reported exactly the
 * X-rays (gap z 2.98); the next groups, a pair of photos and a blurred copy with its original,
 * had gaps of z 2.60 and 2.55. ImageNet features do not set X-rays far apart from photos of
 * waste: the gap is narrow, and a stray group is also flagged greyscale and as label issues. maxSize ≤ k, so that the
 * nearest outsider is always among each member's k neighbours.
 */
export function isolatedGroups(emb: Float32Array, dims: number, options: { k?: number; z?: number; joinZ?: number; maxSize?: number; engine?: 'tf' | 'loops' } = {}): IsolatedGroup[] {
  const n = rowsOf(emb, dims);
  const k = Math.min(options.k ?? 20, Math.max(1, n - 1));
  const zReport = options.z ?? 2.8;
  const zCut = options.joinZ ?? 2.5;
  const maxSize = Math.min(options.maxSize ?? k, k);
  if (n < 4) return [];
  const { overall } = nearestNeighbours(emb, dims, k, options.engine ? { engine: options.engine } : {});
  const nearest = Float64Array.from({ length: n }, (_, i) => 1 - overall.similarities[i * k]!);
  const med = median(nearest);
  const scale = Math.max(1.4826 * median(Float64Array.from(nearest, (d) => Math.abs(d - med))), 1e-6);
  const cut = med + zCut * scale;
  const uf = new UnionFind(n);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < k; r++) {
      const j = overall.indices[i * k + r]!;
      if (j < 0) break;
      if (1 - overall.similarities[i * k + r]! <= cut) uf.union(i, j);
    }
  }
  const out: IsolatedGroup[] = [];
  for (const members of uf.sets()) {
    if (members.length < 2 || members.length > maxSize || members.length > n / 2) continue;
    const inside = new Set(members);
    let gap = Infinity;
    for (const i of members) {
      for (let r = 0; r < k; r++) {
        const j = overall.indices[i * k + r]!;
        if (j < 0) break;
        if (!inside.has(j)) {
          gap = Math.min(gap, 1 - overall.similarities[i * k + r]!);
          break;
        }
      }
    }
    const z = (gap - med) / scale;
    if (!Number.isFinite(gap) || gap <= cut || z < zReport) continue;
    out.push({ members, gap, z });
  }
  return out.sort((a, b) => b.z - a.z);
}
