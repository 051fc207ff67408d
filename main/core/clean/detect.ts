/**
 * A cleaning check as one job: measure the images (decode workers), read the import's
 * refusals and the duplicate paths, compute embeddings where missing (embed workers), run the
 * heavy analysis (training worker), and store every finding. Dismissed and fixed findings
 * keep their state across checks; open ones no longer found are removed.
 */
import fs from 'node:fs';
import type { Database } from 'better-sqlite3';
import type { CleanCheck, FindingKind, FindingSuggestion } from '../../../shared/contract/index.ts';
import { FINDING_KINDS } from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { CoreError } from '../errors.ts';
import type { RunningJob } from '../jobs/manager.ts';
import { decodePool } from '../media/decode-pool.ts';
import { ensureEmbeddings, loadPresentEmbeddings } from '../ml/embeddings.ts';
import { chooseDefaultBackbone, featureKey, modelDirFor } from '../ml/models.ts';
import { noteRuntime } from '../ml/runtime-info.ts';
import { embedPool } from '../ml/training.ts';
import type { AnalyseOutcome, AnalyseRequest } from './analyse.ts';
import { runInTrainWorker } from '../ml/train-runner.ts';
import { qualityFindings, type ImageStats, type QualityKind } from './image-stats.ts';
import { replaceFindings, type DetectedFinding } from './findings-store.ts';
import { classFoldersOf } from './findings-review.ts';

export const QUALITY_KINDS: readonly QualityKind[] = ['blurry', 'dark', 'bright', 'low_information', 'too_small', 'odd_aspect', 'grayscale'];
const EMBEDDING_KINDS: readonly FindingKind[] = ['outlier', 'label_issue', 'class_overlap'];

/** Tuned on the cleaning benchmark (npm run bench -- --only cleaning); see its figures in README. */
export const CLEAN_SETTINGS = {
  /**
   * Near-duplicates (analyse.ts): hash-close pairs are accepted; candidates by hash or embedding
   * are confirmed by aligning thumbnails. On TrashNet, injected crops and shifts aligned at
   * ≥ 0.973 raw / ≥ 0.815 detail, while two shots of one object moved on its background reached
   * 0.97+ raw but ≤ 0.79 detail.
   */
  nearDuplicates: { hashAccept: 6, hashCandidate: { p: 22, d: 16 }, cosineCandidate: 0.9, alignRaw: 0.97, alignDetail: 0.8, maxCandidates: 20_000, maxHashCandidates: 3_000 },
  outlierK: 5,
  outlierZ: 3.5,
  /** Small groups of alike images far from the rest (neighbours.ts isolatedGroups). */
  outlierGroupZ: 2.8,
  labelFolds: 5,
  labelSeed: 1,
  /**
   * Only labels the held-out models give under 5% are suspected (see confident-learning.ts).
   * On the benchmark (mobilenet_v1_0.75_224, 253 flips in 2,635): cap 0.05 precision 0.77 /
   * recall 0.77, 0.08 0.72 / 0.82, 0.1 0.69 / 0.83, no cap 0.53 / 0.89.
   */
  labelMaxSelfConfidence: 0.05,
} as const;

interface ImageFacts {
  id: number;
  sha256: string;
  path: string;
  width: number;
  height: number;
  bytes: number;
  classId: number | null;
  className: string | null;
  split: string | null;
  sources: string[];
}

/**
 * The images a check looks at: active originals. Derived images (augmented copies made on
 * purpose) would only be reported as near-duplicates, dark or blurry versions of their sources.
 */
function activeImages(db: Database): ImageFacts[] {
  const rows = db
    .prepare(
      `SELECT i.id, i.sha256, i.path, i.width, i.height, i.bytes, l.class_id AS classId, c.name AS className, s.split,
              (SELECT json_group_array(path) FROM (SELECT path FROM image_paths WHERE image_id = i.id AND path <> i.path ORDER BY path)) AS others
       FROM images i LEFT JOIN labels l ON l.image_id = i.id LEFT JOIN classes c ON c.id = l.class_id LEFT JOIN splits s ON s.image_id = i.id
       WHERE i.status = 'active' AND i.derived_from IS NULL ORDER BY i.id`,
    )
    .all() as (Omit<ImageFacts, 'sources'> & { others: string })[];
  return rows.map(({ others, ...r }) => ({ ...r, sources: [r.path, ...(JSON.parse(others) as string[])] }));
}

export interface CleanResult {
  counts: Partial<Record<FindingKind, number>>;
  check: CleanCheck;
}

export function startClean(ctx: CoreContext, options: { kinds?: readonly FindingKind[]; backbone?: string } = {}): { jobId: string } {
  ctx.requireStore();
  if (ctx.jobs.list().some((j) => j.kind === 'clean' && j.status === 'running')) {
    throw new CoreError('busy', 'A dataset check is running already. Wait for it to finish or cancel it first.');
  }
  const kinds = options.kinds?.length ? [...new Set(options.kinds)] : [...FINDING_KINDS];
  const job = ctx.jobs.start({ kind: 'clean', title: kinds.length === FINDING_KINDS.length ? 'Check dataset' : `Check dataset: ${kinds.join(', ')}`, params: { kinds } }, (running) =>
    runClean(ctx, running, kinds, options.backbone),
  );
  return { jobId: job.id };
}

export async function runClean(ctx: CoreContext, job: RunningJob, kinds: readonly FindingKind[], backboneChoice?: string): Promise<CleanResult> {
  const started = performance.now();
  const db = job.store.db;
  const want = (k: FindingKind) => kinds.includes(k);
  const notes: string[] = [];
  const images = activeImages(db);
  const detected: DetectedFinding[] = [];
  const ran = new Set<FindingKind>();

  const needStats = QUALITY_KINDS.some(want) || want('near_duplicate') || want('corrupt');
  const needEmbeddings = EMBEDDING_KINDS.some(want) || want('near_duplicate');

  // Progress in image-sized units: measuring, embedding, then the analysis (about 150 units).
  const statsTodo = needStats ? missingStats(db, images) : [];
  let total = statsTodo.length + (needEmbeddings ? images.length : 0) + 150;
  let done = 0;
  job.progress(0, total);

  // 1. Measurements (cached per content).
  const unmeasurable: { image: ImageFacts; reason: string; missing: boolean }[] = [];
  let stats = new Map<number, ImageStats>();
  const stages: Record<string, number> = {};
  let stageStart = performance.now();
  const stage = (name: string) => {
    const now = performance.now();
    stages[name] = (now - stageStart) / 1000;
    stageStart = now;
  };
  if (needStats) {
    const failed = await measureImages(ctx, job, statsTodo, (n) => job.progress((done += n), total));
    unmeasurable.push(...failed);
    stats = loadStats(db, images);
    stage('measuring');
  }

  // 2. Exact duplicates: one content found under several paths.
  if (want('exact_duplicate')) {
    ran.add('exact_duplicate');
    detected.push(...exactDuplicates(db, images));
  }

  // 3. Unreadable: files the import refused, and images that no longer decode cleanly.
  if (want('corrupt')) {
    ran.add('corrupt');
    detected.push(...corruptFindings(db, unmeasurable));
  }

  // 4. Low quality, judged against this dataset.
  if (QUALITY_KINDS.some(want)) {
    const measured = images.filter((i) => stats.has(i.id)).map((i) => ({ id: i.id, stats: stats.get(i.id)! }));
    for (const f of qualityFindings(measured)) {
      if (!want(f.kind)) continue;
      detected.push({ kind: f.kind, imageIds: [f.imageId], score: f.score, explanation: f.explanation, suggestion: { action: 'exclude' } satisfies FindingSuggestion });
    }
    for (const k of QUALITY_KINDS) if (want(k)) ran.add(k);
  }

  // 5. Embeddings, for near-duplicates (crops, shifts), outliers and label issues.
  let backbone: string | null = null;
  let x: Float32Array<ArrayBuffer> | null = null;
  let dims = 0;
  let rows: ImageFacts[] = images;
  if (needEmbeddings && images.length) {
    try {
      backbone = backboneChoice ?? chooseDefaultBackbone(ctx);
      const modelDir = modelDirFor(ctx, backbone);
      const key = featureKey(backbone);
      const pool = embedPool(ctx);
      const before = done;
      const embedded = await ensureEmbeddings(
        db,
        pool,
        { backbone, featureKey: key, modelDir, view: 'center', targets: images.map((i) => ({ imageId: i.id, sha256: i.sha256 })) },
        { signal: job.signal, onProgress: (p) => job.progress((done = before + p.done), total) },
      );
      done = before + images.length;
      if (embedded.backendDetail) noteRuntime(embedded.backendDetail, pool.size);
      if (embedded.failed.length) notes.push(`${embedded.failed.length} image(s) could not be read for the model and were left out of the model-based checks.`);
      stage('embeddings');
      ({ x, dims, kept: rows } = loadPresentEmbeddings(db, key, 'center', images));
    } catch (err) {
      if (job.signal.aborted) throw err;
      if (!(err instanceof CoreError) || err.code !== 'not_found') throw err;
      backbone = null;
      const skipped = EMBEDDING_KINDS.filter(want);
      notes.push(
        `${err.message} Without one, ${skipped.length ? `${skipped.join(', ')} were not checked` : 'nothing was skipped'}${want('near_duplicate') ? ' and near-duplicates were found by perceptual hashes only (crops and shifts are missed)' : ''}.`,
      );
      total -= images.length;
    }
  }

  // 6. The heavy analysis, in the training worker.
  const classIds = [...new Set(rows.map((r) => r.classId).filter((c): c is number => c !== null))].sort((a, b) => a - b);
  const classIndex = new Map(classIds.map((c, i) => [c, i]));
  if (want('near_duplicate') || (x && EMBEDDING_KINDS.some(want))) {
    // Hash-only near-duplicates run over every measured image; with embeddings, over embedded rows.
    const analysed = x ? rows : images;
    const labelTask = x && (want('label_issue') || want('class_overlap'));
    const request: AnalyseRequest = {
      type: 'analyse',
      x,
      dims,
      n: analysed.length,
      labels: Int32Array.from(analysed, (r) => (r.classId === null ? -1 : classIndex.get(r.classId)!)),
      numClasses: classIds.length,
      pHashes: analysed.map((r) => stats.get(r.id)?.pHash ?? ''),
      dHashes: analysed.map((r) => stats.get(r.id)?.dHash ?? ''),
      tinies: analysed.map((r) => stats.get(r.id)?.tiny ?? ''),
      tasks: {
        ...(want('near_duplicate') ? { nearDuplicates: CLEAN_SETTINGS.nearDuplicates } : {}),
        ...(x && want('outlier') ? { outliers: { k: CLEAN_SETTINGS.outlierK, z: CLEAN_SETTINGS.outlierZ, groupZ: CLEAN_SETTINGS.outlierGroupZ } } : {}),
        ...(labelTask ? { labelIssues: { folds: CLEAN_SETTINGS.labelFolds, seed: CLEAN_SETTINGS.labelSeed, maxSelfConfidence: CLEAN_SETTINGS.labelMaxSelfConfidence } } : {}),
      },
    };
    const base = done;
    const outcome = await runInTrainWorker<AnalyseOutcome & { backend: string }>(request, {
      signal: job.signal,
      onMessage: (m) => {
        if (m.type === 'progress' && m.stage === 'label check' && m.total > 0) job.progress(base + Math.round((140 * m.done) / m.total), total);
      },
    });
    stageStart = performance.now();
    for (const [name, seconds] of Object.entries(outcome.seconds)) stages[name] = seconds;
    if (want('near_duplicate')) {
      ran.add('near_duplicate');
      detected.push(...nearDuplicateFindings(outcome, analysed));
    }
    if (x && want('outlier')) {
      ran.add('outlier');
      detected.push(...outlierFindings(outcome, analysed));
    }
    if (labelTask) {
      const names = new Map(analysed.filter((r) => r.classId !== null).map((r) => [r.classId!, r.className!]));
      if (outcome.oofAccuracy === null) {
        notes.push('Label errors need at least 10 labelled images in at least 2 classes; they were not checked.');
      }
      if (want('label_issue')) {
        ran.add('label_issue');
        detected.push(...labelIssueFindings(outcome, analysed, classIds, names));
      }
      if (want('class_overlap')) {
        ran.add('class_overlap');
        detected.push(...overlapFindings(outcome, analysed, classIds, names));
      }
    }
  }

  replaceFindings(db, [...ran], detected);
  const counts: Partial<Record<FindingKind, number>> = {};
  for (const f of detected) counts[f.kind] = (counts[f.kind] ?? 0) + 1;
  const check: CleanCheck = { at: Date.now(), kinds: [...ran], seconds: (performance.now() - started) / 1000, backbone, notes, stages };
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('clean.lastCheck', ?)").run(JSON.stringify(check));
  ctx.events.emit('findings.changed', { reason: 'check' });
  job.progress(total, total);
  return { counts, check };
}

export function lastCheck(db: Database): CleanCheck | null {
  const raw = db.prepare("SELECT value FROM meta WHERE key = 'clean.lastCheck'").pluck().get() as string | undefined;
  return raw ? (JSON.parse(raw) as CleanCheck) : null;
}

// ---------- measurements ----------

function missingStats(db: Database, images: ImageFacts[]): ImageFacts[] {
  // Statistics from before a measurement was added count as missing.
  const have = new Set(db.prepare("SELECT sha256 FROM image_stats WHERE json_extract(stats, '$.tiny') IS NOT NULL").pluck().all() as string[]);
  return images.filter((i) => !have.has(i.sha256));
}

function loadStats(db: Database, images: ImageFacts[]): Map<number, ImageStats> {
  const all = new Map(
    (db.prepare('SELECT sha256, stats FROM image_stats').all() as { sha256: string; stats: string }[]).map((r) => [r.sha256, r.stats]),
  );
  const out = new Map<number, ImageStats>();
  for (const i of images) {
    const raw = all.get(i.sha256);
    if (raw) out.set(i.id, JSON.parse(raw) as ImageStats);
  }
  return out;
}

/** Measures images (those without cached statistics) on every decode worker; stores each batch as it lands. */
async function measureImages(
  ctx: CoreContext,
  job: RunningJob,
  todo: ImageFacts[],
  advance: (n: number) => void,
): Promise<{ image: ImageFacts; reason: string; missing: boolean }[]> {
  const db = job.store.db;
  const failed: { image: ImageFacts; reason: string; missing: boolean }[] = [];
  if (!todo.length) return failed;
  const pool = decodePool(ctx);
  const insert = db.prepare('INSERT OR REPLACE INTO image_stats (sha256, stats, computed_at) VALUES (?, ?, ?)');
  let pending: [string, string][] = [];
  const flush = () => {
    if (!pending.length) return;
    const batch = pending;
    pending = [];
    const at = Date.now();
    db.transaction(() => batch.forEach(([sha, json]) => insert.run(sha, json, at)))();
  };
  let next = 0;
  const worker = async () => {
    while (next < todo.length && !job.signal.aborted) {
      const image = todo[next++]!;
      const answer = await pool.decode({ type: 'stats', sources: image.sources }, { signal: job.signal });
      if (answer.type === 'stats') pending.push([image.sha256, JSON.stringify(answer.stats)]);
      else failed.push({ image, reason: answer.reason, missing: answer.missing });
      if (pending.length >= 64) flush();
      advance(1);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, pool.size * 2) }, worker));
  } finally {
    flush();
  }
  if (job.signal.aborted) throw job.signal.reason ?? new Error('Cancelled.');
  return failed;
}

// ---------- findings per kind ----------

function exactDuplicates(db: Database, images: ImageFacts[]): DetectedFinding[] {
  const classNames = db.prepare('SELECT name FROM classes').pluck().all() as string[];
  const out: DetectedFinding[] = [];
  for (const image of images) {
    if (image.sources.length < 2) continue;
    const classFolders = classFoldersOf(image.sources, classNames);
    const conflict = classFolders.length > 1;
    out.push({
      kind: 'exact_duplicate',
      imageIds: [image.id],
      files: image.sources,
      score: conflict ? 1 : 0.5 + Math.min(0.4, image.sources.length / 20),
      explanation: conflict
        ? `The same file is in ${image.sources.length} places, in the class folders ${classFolders.join(' and ')}: it is one image to Seedbed, labelled ${image.className ?? 'nothing'}, but the folders disagree.`
        : `The same file is in ${image.sources.length} places; Seedbed counts it once, but copies on disk can leak into other tools' splits.`,
      // One image to Seedbed: nothing to exclude. The copies on disk are the user's to tidy, and
      // when their folders disagree the label is the question.
      suggestion: (conflict ? { action: 'review' } : { action: 'fix_file' }) satisfies FindingSuggestion,
    });
  }
  return out;
}

function corruptFindings(db: Database, unmeasurable: { image: ImageFacts; reason: string; missing: boolean }[]): DetectedFinding[] {
  const out: DetectedFinding[] = [];
  const skips = db
    .prepare(
      `SELECT path, reason FROM import_skips WHERE id IN (SELECT MAX(id) FROM import_skips GROUP BY path)
       AND path NOT IN (SELECT path FROM image_paths) ORDER BY path`,
    )
    .all() as { path: string; reason: string }[];
  for (const s of skips) {
    // A file deleted or fixed since is no longer a problem of this dataset.
    if (!fs.existsSync(s.path)) continue;
    out.push({ kind: 'corrupt', imageIds: [], files: [s.path], score: 1, explanation: `The import could not read ${s.path}: ${s.reason}.`, suggestion: { action: 'fix_file' } satisfies FindingSuggestion });
  }
  for (const u of unmeasurable) {
    out.push({
      kind: 'corrupt',
      imageIds: [u.image.id],
      score: u.missing ? 0.6 : 0.9,
      explanation: u.missing
        ? `The image's file is gone: ${u.reason}. It cannot be trained on until it is back.`
        : `The image imported, but it no longer decodes cleanly: ${u.reason}`,
      suggestion: { action: 'exclude' } satisfies FindingSuggestion,
    });
  }
  return out;
}

/** Keeper of a group of copies: the most pixels, then the most bytes (least compressed), then labelled, then oldest. */
function keeperOrder(a: ImageFacts, b: ImageFacts): number {
  return b.width * b.height - a.width * a.height || b.bytes - a.bytes || Number(b.classId !== null) - Number(a.classId !== null) || a.id - b.id;
}

function nearDuplicateFindings(outcome: AnalyseOutcome, rows: ImageFacts[]): DetectedFinding[] {
  return outcome.nearGroups.map((g) => {
    const members = g.members.map((m) => rows[m]!).sort(keeperOrder);
    const keeper = members[0]!;
    const splits = [...new Set(members.map((m) => m.split ?? 'no split'))];
    const classes = [...new Set(members.map((m) => m.className ?? 'unlabelled'))];
    const how = [
      g.alignment !== null ? `the pictures line up at ${(g.alignment * 100).toFixed(1)}% after zooming or shifting` : null,
      g.hamming !== null ? `perceptual hashes ${g.hamming} of 64 bits apart` : null,
      g.similarity !== null ? `${(g.similarity * 100).toFixed(1)}% alike to the model` : null,
    ].filter(Boolean);
    const issues = [
      splits.length > 1 ? `they sit in ${splits.join(' and ')}, so test results are inflated` : null,
      classes.length > 1 ? `they are labelled ${classes.join(' and ')}` : null,
    ].filter(Boolean);
    const score = Math.max(g.alignment ?? 0, g.similarity ?? 0, g.hamming !== null ? 1 - g.hamming / 64 : 0);
    return {
      kind: 'near_duplicate' as const,
      imageIds: members.map((m) => m.id),
      score: Math.min(1, score + (issues.length ? 0.001 : 0)),
      explanation: `${members.length} images are versions of one photo (${how.join('; ')})${issues.length ? `: ${issues.join(', and ')}` : ''}.`,
      suggestion: { action: 'keep', imageId: keeper.id } satisfies FindingSuggestion,
    };
  });
}

function outlierFindings(outcome: AnalyseOutcome, rows: ImageFacts[]): DetectedFinding[] {
  return outcome.outliers.map((o) => {
    const image = rows[o.index]!;
    const z = Math.max(o.overallZ, o.withinZ);
    const overall = o.overallZ >= o.withinZ;
    if (o.group) {
      return {
        kind: 'outlier' as const,
        imageIds: [image.id],
        score: Math.min(1, Math.max(0, 1 - 0.5 ** (z / CLEAN_SETTINGS.outlierGroupZ))),
        explanation: `One of ${o.group.length} images that resemble each other but nothing else in the dataset (${z.toFixed(1)} spreads further than usual): another kind of image?`,
        suggestion: { action: 'exclude' } satisfies FindingSuggestion,
      };
    }
    return {
      kind: 'outlier' as const,
      imageIds: [image.id],
      score: Math.min(1, Math.max(0, 1 - 0.5 ** (z / CLEAN_SETTINGS.outlierZ))),
      explanation: overall
        ? `Unlike anything else in the dataset: its ${CLEAN_SETTINGS.outlierK} closest images are ${z.toFixed(1)} spreads further than usual. Another kind of image, or a stray?`
        : `Unlike the other images labelled ${image.className}: ${z.toFixed(1)} spreads further from them than usual. Mislabelled, or an unusual example?`,
      suggestion: { action: 'exclude' } satisfies FindingSuggestion,
    };
  });
}

function labelIssueFindings(outcome: AnalyseOutcome, rows: ImageFacts[], classIds: number[], names: Map<number, string>): DetectedFinding[] {
  return outcome.labelIssues.map((issue) => {
    const image = rows[issue.index]!;
    const suggestedId = classIds[issue.suggested]!;
    const suggestedName = names.get(suggestedId) ?? '?';
    const pct = (p: number) => `${Math.round(p * 100)}%`;
    return {
      kind: 'label_issue' as const,
      imageIds: [image.id],
      score: issue.score,
      explanation: `Labelled ${image.className}, but models trained without this image say ${suggestedName} (${pct(issue.suggestedProbability)}) and give ${image.className} only ${pct(issue.selfConfidence)}.`,
      suggestion: { action: 'relabel', classId: suggestedId, className: suggestedName, probability: issue.suggestedProbability } satisfies FindingSuggestion,
    };
  });
}

function overlapFindings(outcome: AnalyseOutcome, rows: ImageFacts[], classIds: number[], names: Map<number, string>): DetectedFinding[] {
  return outcome.overlap.map((p) => {
    const a = classIds[p.a]!;
    const b = classIds[p.b]!;
    const an = names.get(a) ?? '?';
    const bn = names.get(b) ?? '?';
    const examples = [...p.examples.aAsB, ...p.examples.bAsA].map((r) => rows[r]!.id);
    return {
      kind: 'class_overlap' as const,
      imageIds: examples,
      keyParts: [an.toLowerCase(), bn.toLowerCase()],
      score: p.score,
      explanation: `${an} and ${bn} are easily confused: about ${Math.round(p.aAsB)} images labelled ${an} look like ${bn}, and ${Math.round(p.bAsA)} the other way round (${(p.score * 100).toFixed(1)}% of the dataset).`,
      suggestion: { action: 'review', classIds: [a, b] },
    };
  });
}
