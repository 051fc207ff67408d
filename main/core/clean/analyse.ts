/**
 * The heavy half of a cleaning check, run in the training worker (never on the main thread):
 * near-duplicate groups from perceptual hashes and embeddings, k-NN outliers, and label
 * issues with class overlap from out-of-fold probabilities. Pure: arrays in, findings out,
 * indices into the rows it was given.
 */
import { classOverlap, findLabelIssues, outOfFoldProbabilities, type ClassOverlap, type LabelIssue } from './confident-learning.ts';
import { bestAlignment, correlation, detail, TINY_SIDE } from './align.ts';
import { isolatedGroups, knnOutliers, nearDuplicateGroups, UnionFind } from './neighbours.ts';

export interface AnalyseRequest {
  type: 'analyse';
  /** Embeddings, n × dims row-major; null when no backbone was available (hash checks only). */
  x: Float32Array<ArrayBuffer> | null;
  dims: number;
  n: number;
  /** Class index per row, −1 for an unlabelled image. */
  labels: Int32Array<ArrayBuffer>;
  numClasses: number;
  /** Perceptual hashes per row ('' when the image has no statistics). */
  pHashes: string[];
  dHashes: string[];
  /** Base64 TINY_SIDE² thumbnails per row ('' when none), to confirm near-duplicate candidates. */
  tinies: string[];
  tasks: {
    nearDuplicates?: NearDuplicateSettings;
    outliers?: { k: number; z: number; groupZ: number };
    labelIssues?: { folds: number; seed: number; maxSelfConfidence: number };
  };
}

export interface NearDuplicateSettings {
  /** pHash and dHash both within this: the same photo re-encoded or resized, accepted outright. */
  hashAccept: number;
  /** Candidates by hash, when there are no embeddings: pHash within `p` and dHash within `d` (crops and shifts move the hashes). */
  hashCandidate: { p: number; d: number };
  /** Candidates by embedding: cosine similarity at or above this. */
  cosineCandidate: number;
  /** A candidate is confirmed when the thumbnails align (align.ts) at least this well… */
  alignRaw: number;
  /** …and so does their fine detail, which two shots of one object on one background do not share. */
  alignDetail: number;
  /** Candidate pairs checked at most (the closest first): alignment costs about a millisecond a pair. */
  maxCandidates: number;
  /** Hash candidates checked at most (no embeddings): these are mostly unrelated photos on one background. */
  maxHashCandidates: number;
}

export interface NearGroup {
  members: number[];
  /** Highest embedding similarity inside the group (null when found by hashes alone). */
  similarity: number | null;
  /** Smallest pHash distance inside the group. */
  hamming: number | null;
  /** Best thumbnail alignment of a confirmed pair inside the group (null when every pair was hash-close). */
  alignment: number | null;
}

export interface AnalyseOutcome {
  nearGroups: NearGroup[];
  outliers: { index: number; overallZ: number; withinZ: number; distance: number; group: number[] | null }[];
  labelIssues: LabelIssue[];
  /** Row indices in labelIssues refer to the request's rows. */
  overlap: (ClassOverlap & { examples: { aAsB: number[]; bAsA: number[] } })[];
  /** Out-of-fold accuracy of the heads behind the label check (null when it did not run). */
  oofAccuracy: number | null;
  estimatedLabelIssues: number | null;
  seconds: Record<string, number>;
}

/** 64-bit hex hash → two 32-bit halves, for a fast XOR + popcount. */
function hashWords(hex: string): [number, number] | null {
  if (!/^[0-9a-f]{16}$/i.test(hex)) return null;
  return [parseInt(hex.slice(0, 8), 16) >>> 0, parseInt(hex.slice(8), 16) >>> 0];
}

function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/**
 * Pairs whose pHash AND dHash are both within `hamming` bits: re-encodes and resizes keep
 * both hashes nearly intact, while two photos of similar objects on one background may
 * share one hash's coarse layout but rarely both.
 */
export function hashPairs(pHashes: readonly string[], dHashes: readonly string[], hamming: number): { a: number; b: number; p: number; d: number }[] {
  const n = pHashes.length;
  const p = pHashes.map(hashWords);
  const d = dHashes.map(hashWords);
  const pairs: { a: number; b: number; p: number; d: number }[] = [];
  for (let i = 0; i < n; i++) {
    const pi = p[i];
    const di = d[i];
    if (!pi || !di) continue;
    for (let j = i + 1; j < n; j++) {
      const pj = p[j];
      if (!pj) continue;
      const dp = popcount32(pi[0] ^ pj[0]) + popcount32(pi[1] ^ pj[1]);
      if (dp > hamming) continue;
      const dj = d[j];
      if (!dj) continue;
      const dd = popcount32(di[0] ^ dj[0]) + popcount32(di[1] ^ dj[1]);
      if (dd > hamming) continue;
      pairs.push({ a: i, b: j, p: dp, d: dd });
    }
  }
  return pairs;
}

/**
 * Near-duplicate groups: pairs whose hashes are nearly equal are accepted; pairs the hashes or
 * the embeddings make candidates are confirmed by aligning their thumbnails; accepted pairs are
 * joined transitively.
 */
export function nearDuplicates(req: Pick<AnalyseRequest, 'x' | 'dims' | 'n' | 'pHashes' | 'dHashes' | 'tinies'>, near: NearDuplicateSettings): NearGroup[] {
  const n = req.n;
  const uf = new UnionFind(n);
  const info = new Map<number, { sim: number | null; ham: number | null; align: number | null }>();
  const note = (i: number, v: { sim?: number | null; ham?: number | null; align?: number | null }) => {
    const cur = info.get(i) ?? { sim: null, ham: null, align: null };
    if (v.sim != null && !(cur.sim !== null && cur.sim >= v.sim)) cur.sim = v.sim;
    if (v.ham != null && !(cur.ham !== null && cur.ham <= v.ham)) cur.ham = v.ham;
    if (v.align != null && !(cur.align !== null && cur.align >= v.align)) cur.align = v.align;
    info.set(i, cur);
  };
  const candidates = new Map<string, { a: number; b: number; sim: number | null; ham: number | null }>();
  const pairKey = (a: number, b: number) => (a < b ? `${a},${b}` : `${b},${a}`);
  const hashCandidates: { a: number; b: number; sim: number | null; ham: number | null; order: number }[] = [];
  // With embeddings, hashes only accept re-encodes and resizes; without, they also find candidates.
  const scan = req.x ? near.hashAccept : Math.max(near.hashAccept, near.hashCandidate.p, near.hashCandidate.d);
  for (const { a, b, p, d } of hashPairs(req.pHashes, req.dHashes, scan)) {
    if (p <= near.hashAccept && d <= near.hashAccept) {
      uf.union(a, b);
      note(a, { ham: p });
      note(b, { ham: p });
    } else if (!req.x && p <= near.hashCandidate.p && d <= near.hashCandidate.d) {
      // Without embeddings, hashes are the only way to find crops and shifts (hashPairs gives a < b).
      hashCandidates.push({ a, b, sim: null, ham: p, order: p + d });
    }
  }
  // Photos on one plain background share coarse hashes by the thousand: the closest go first, capped.
  hashCandidates.sort((x, y) => x.order - y.order);
  for (const c of hashCandidates.slice(0, near.maxHashCandidates)) candidates.set(pairKey(c.a, c.b), c);
  if (req.x && n > 1) {
    const { pairs } = nearDuplicateGroups(req.x, req.dims, near.cosineCandidate, { maxPairs: near.maxCandidates });
    for (const pair of pairs) {
      const key = pairKey(pair.a, pair.b);
      const known = candidates.get(key);
      if (known) known.sim = pair.similarity;
      else candidates.set(key, { a: pair.a, b: pair.b, sim: pair.similarity, ham: null });
    }
  }
  const thumbs = new Map<number, { raw: Float32Array; detail: Float32Array } | null>();
  const thumb = (i: number) => {
    if (!thumbs.has(i)) {
      const b64 = req.tinies[i] ?? '';
      const bytes = b64 ? Uint8Array.from(Buffer.from(b64, 'base64')) : null;
      thumbs.set(i, bytes && bytes.length === TINY_SIDE * TINY_SIDE ? { raw: Float32Array.from(bytes), detail: detail(bytes) } : null);
    }
    return thumbs.get(i)!;
  };
  for (const c of candidates.values()) {
    if (uf.find(c.a) === uf.find(c.b)) continue;
    const ta = thumb(c.a);
    const tb = thumb(c.b);
    if (!ta || !tb) continue;
    const raw = bestAlignment(ta.raw, tb.raw);
    if (raw.score < near.alignRaw) continue;
    const fine = Math.max(correlation(ta.detail, tb.detail, raw.s, raw.dx, raw.dy), correlation(tb.detail, ta.detail, raw.s, -raw.dx, -raw.dy));
    const confirmed = fine >= near.alignDetail || bestAlignment(ta.detail, tb.detail).score >= near.alignDetail;
    if (!confirmed) continue;
    uf.union(c.a, c.b);
    for (const i of [c.a, c.b]) note(i, { sim: c.sim, ham: c.ham, align: raw.score });
  }
  const groups: NearGroup[] = [];
  for (const members of uf.sets()) {
    if (members.length < 2) continue;
    const pick = <K extends 'sim' | 'ham' | 'align'>(k: K, best: (a: number, b: number) => number) => {
      const v = members.map((i) => info.get(i)?.[k]).filter((x): x is number => x != null);
      return v.length ? v.reduce((a, b) => best(a, b)) : null;
    };
    groups.push({ members, similarity: pick('sim', Math.max), hamming: pick('ham', Math.min), alignment: pick('align', Math.max) });
  }
  return groups;
}

export async function analyse(req: AnalyseRequest, onProgress: (stage: string, done: number, total: number) => void = () => {}): Promise<AnalyseOutcome> {
  const seconds: Record<string, number> = {};
  const out: AnalyseOutcome = { nearGroups: [], outliers: [], labelIssues: [], overlap: [], oofAccuracy: null, estimatedLabelIssues: null, seconds };
  const { n, dims } = req;
  let t = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    seconds[name] = (now - t) / 1000;
    t = now;
  };

  const near = req.tasks.nearDuplicates;
  if (near) {
    onProgress('near-duplicates', 0, 1);
    out.nearGroups = nearDuplicates(req, near);
    lap('nearDuplicates');
  }

  const outlierTask = req.tasks.outliers;
  if (outlierTask && req.x && n > outlierTask.k + 1) {
    onProgress('outliers', 0, 1);
    const result = knnOutliers(req.x, dims, req.labels, outlierTask.k, { zThreshold: outlierTask.z });
    for (let i = 0; i < n; i++) {
      const overall = result.overall.z[i]!;
      const within = req.labels[i]! >= 0 ? result.withinClass.z[i]! : 0;
      if (overall > outlierTask.z || within > outlierTask.z) {
        out.outliers.push({ index: i, overallZ: overall, withinZ: within, distance: result.overall.distance[i]!, group: null });
      }
    }
    // Strays of one kind keep each other company: find them as isolated groups.
    const flagged = new Set(out.outliers.map((o) => o.index));
    for (const g of isolatedGroups(req.x, dims, { k: 20, z: outlierTask.groupZ })) {
      for (const i of g.members) {
        if (flagged.has(i)) continue;
        out.outliers.push({ index: i, overallZ: g.z, withinZ: 0, distance: g.gap, group: g.members });
      }
    }
    lap('outliers');
  }

  const labelTask = req.tasks.labelIssues;
  if (labelTask && req.x) {
    // Only labelled rows take part; class indices are compacted to the classes present.
    const rows: number[] = [];
    for (let i = 0; i < n; i++) if (req.labels[i]! >= 0) rows.push(i);
    const present = [...new Set(rows.map((i) => req.labels[i]!))].sort((a, b) => a - b);
    const compact = new Map(present.map((c, i) => [c, i]));
    if (present.length >= 2 && rows.length >= 10) {
      const k = present.length;
      const x = new Float32Array(rows.length * dims);
      const labels = new Int32Array(rows.length);
      rows.forEach((r, i) => {
        x.set(req.x!.subarray(r * dims, (r + 1) * dims), i * dims);
        labels[i] = compact.get(req.labels[r]!)!;
      });
      const folds = labelTask.folds;
      onProgress('label check', 0, folds);
      const oof = await outOfFoldProbabilities({
        x,
        dims,
        labels,
        numClasses: k,
        folds,
        seed: labelTask.seed,
        onFold: (done, total) => onProgress('label check', done, total),
      });
      let correct = 0;
      for (let i = 0; i < rows.length; i++) {
        let best = 0;
        for (let j = 1; j < k; j++) if (oof.probs[i * k + j]! > oof.probs[i * k + best]!) best = j;
        if (best === labels[i]) correct++;
      }
      out.oofAccuracy = correct / rows.length;
      const found = findLabelIssues(oof.probs, labels, k, { maxSelfConfidence: labelTask.maxSelfConfidence });
      out.estimatedLabelIssues = found.estimatedIssues;
      out.labelIssues = found.issues.map((issue) => ({ ...issue, index: rows[issue.index]!, given: present[issue.given]!, suggested: present[issue.suggested]! }));
      // Pairs the model confuses, each with the most confused examples both ways.
      const pairs = classOverlap({ probs: oof.probs, labels, k }, 10);
      out.overlap = pairs
        .filter((p) => p.score >= 0.005)
        .map((p) => {
          const examples = (from: number, to: number) =>
            rows
              .map((r, i) => ({ r, i }))
              .filter(({ i }) => labels[i] === from)
              .map(({ r, i }) => ({ r, m: oof.probs[i * k + to]! - oof.probs[i * k + from]! }))
              .sort((a, b) => b.m - a.m)
              .slice(0, 4)
              .filter((e) => e.m > -0.5)
              .map((e) => e.r);
          return { ...p, a: present[p.a]!, b: present[p.b]!, examples: { aAsB: examples(p.a, p.b), bAsA: examples(p.b, p.a) } };
        });
    }
    lap('labelIssues');
  }
  return out;
}
