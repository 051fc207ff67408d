/**
 * Materialised augmented copies ("derived images"): for each original training image, K
 * augmented copies written as JPEG files into the project's data folder (`derived/`) and
 * added as images of their own, with lineage to their source (images.derived_from, and
 * images.derivation saying how each was made), the source's label and the training split.
 *
 * Copies only ever train: they are made from images in the training split only, and the
 * split logic (data/splits.ts) keeps every derived image on its source's side. The pixels of
 * copy v are the view v of the augmentation pipeline for the seed: the same as the live
 * preview and the on-the-fly views, so a copy made twice is the same file and is not added
 * twice. Removing them deletes their rows and only files inside `derived/`, `thumbs/` and
 * `previews/` of the data folder: a source file is never written or removed.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import type { Database } from 'better-sqlite3';
import type { AugmentPolicy, MaterialiseReport } from '../../../shared/contract/augment.ts';
import type { JobInfo, LabelSource } from '../../../shared/contract/index.ts';
import { DEFAULT_TRAIN_CONFIG } from '../../../shared/contract/training.ts';
import type { CoreContext } from '../context.ts';
import { assignSplits } from '../data/splits.ts';
import { applyLabels } from '../data/labels-store.ts';
import { CoreError } from '../errors.ts';
import type { RunningJob } from '../jobs/manager.ts';
import type { Store } from '../store/open.ts';
import { WorkerTaskError } from '../jobs/pool.ts';
import { decodePool } from '../media/decode-pool.ts';
import type { DecodedImage } from '../media/decode-protocol.ts';
import { DEFAULT_LIMITS } from '../media/image-safety.ts';
import { previewRelativePath, thumbRelativePath } from '../media/thumbnails.ts';
import { imageSources } from '../media/media-files.ts';

/** The folder inside the data folder that holds the copies. */
export const DERIVED_FOLDER = 'derived';
/** Longest side of a copy: enough for any backbone's input and for a look in the preview. */
const COPY_MAX_SIDE = 1024;
const COPY_QUALITY = 92;
/** The gallery refreshes at most this often while copies are being made. */
const DATASET_CHANGED_MS = 1000;
/**
 * Materialisations whose body has not returned yet, per project (a cancelled one still drops
 * the copies it had in the making). Two at once could pick one file name for one copy, and a
 * removal meanwhile would race the copies still arriving, so each waits for the other.
 */
const activeRuns = new WeakMap<Store, Set<Promise<unknown>>>();

/** Resolves once no materialisation of the open project is running or finishing. */
export async function materialiseSettled(ctx: CoreContext): Promise<void> {
  const store = ctx.store();
  if (!store) return;
  await Promise.allSettled([...(activeRuns.get(store) ?? [])]);
}

function refuseWhileRunning(store: Store, doing: string): void {
  if (activeRuns.get(store)?.size) {
    throw new CoreError('conflict', `Augmented copies are being made right now. Wait for that job to finish, or cancel it, then ${doing}.`);
  }
}

/** Findings about a group of images: with fewer than two left they say nothing. */
const GROUP_FINDING_KINDS = ['exact_duplicate', 'near_duplicate'];

export interface MaterialiseRequest {
  policy: AugmentPolicy;
  copies: number;
  seed: number;
  classIds?: number[];
}

/** How a derived image was made, as stored in images.derivation. */
export interface Derivation {
  policy: AugmentPolicy;
  seed: number;
  view: number;
  sourceSha256: string;
}

interface SourceImage {
  id: number;
  sha256: string;
  path: string;
  classId: number;
  labelSource: LabelSource;
}

/** The policy with its keys in one order, so equal policies store equal derivation text. */
function canonicalPolicy(policy: AugmentPolicy): AugmentPolicy {
  return { name: policy.name, ops: policy.ops.map((o) => ({ op: o.op, p: o.p, strength: o.strength })) };
}

/** The derivation text of copy `view` of an image: the key that says a copy was made already. */
export function derivationText(policy: AugmentPolicy, seed: number, view: number, sourceSha256: string): string {
  const derivation: Derivation = { policy: canonicalPolicy(policy), seed, view, sourceSha256 };
  return JSON.stringify(derivation);
}

/** A policy name as a piece of a file name ("Natural photos" → "natural-photos"). */
function fileNamePart(name: string): string {
  const slug = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return slug || 'custom';
}

function materialiseTitle(copies: number): string {
  return `Make ${copies} augmented ${copies === 1 ? 'copy' : 'copies'} per training image`;
}

/** Active, labelled original images in the training split (of the classes asked for), in id order. */
function trainingOriginals(db: Database, classIds: readonly number[] | undefined): SourceImage[] {
  const byClass = classIds?.length ? 'AND l.class_id IN (SELECT value FROM json_each(@classIds))' : '';
  return db
    .prepare(
      `SELECT i.id, i.sha256, i.path, l.class_id AS classId, l.source AS labelSource
       FROM images i JOIN labels l ON l.image_id = i.id JOIN splits s ON s.image_id = i.id
       WHERE i.status = 'active' AND i.derived_from IS NULL AND s.split = 'train' ${byClass}
       ORDER BY i.id`,
    )
    .all({ classIds: JSON.stringify(classIds ?? []) }) as SourceImage[];
}

/** Whether `path` lies strictly inside `folder` (both absolute). */
function isInside(folder: string, path: string): boolean {
  const relative = nodePath.relative(folder, nodePath.resolve(path));
  return relative !== '' && !relative.startsWith('..') && !nodePath.isAbsolute(relative);
}

function removeFileQuietly(path: string): void {
  try {
    fs.rmSync(path, { force: true });
  } catch (err) {
    console.error(`Seedbed could not remove ${path}:`, err);
  }
}

class MaterialiseRun {
  readonly #ctx: CoreContext;
  readonly #request: MaterialiseRequest;
  readonly #sources: SourceImage[];
  readonly #dataDir: string;
  readonly #derivedDir: string;
  readonly #failed: { path: string; reason: string }[] = [];
  /** File names handed out in this run (several copies are written at once). */
  readonly #reserved = new Set<string>();
  #created = 0;
  #done = 0;
  #fatal: string | null = null;
  #changedAt = 0;
  #changedSinceEvent = false;

  constructor(ctx: CoreContext, request: MaterialiseRequest, sources: SourceImage[], dataDir: string) {
    this.#ctx = ctx;
    this.#request = request;
    this.#sources = sources;
    this.#dataDir = dataDir;
    this.#derivedDir = nodePath.join(dataDir, DERIVED_FOLDER);
  }

  report(): MaterialiseReport {
    return { created: this.#created, failed: [...this.#failed], dir: this.#derivedDir };
  }

  async run(job: RunningJob): Promise<MaterialiseReport> {
    job.snapshot(() => this.report());
    const total = this.#sources.length * this.#request.copies;
    job.progress(0, total);
    try {
      fs.mkdirSync(this.#derivedDir, { recursive: true });
      fs.accessSync(this.#derivedDir, fs.constants.W_OK);
    } catch (err) {
      throw new CoreError('io_error', `Seedbed cannot write the augmented copies into ${this.#derivedDir}: ${(err as Error).message}. Check that the project folder is on a writable disk with free space.`);
    }
    // One lane per decode worker: each takes the next image and makes its copies in turn.
    const lanes = Math.max(1, decodePool(this.#ctx).size);
    let next = 0;
    const lane = async () => {
      while (!job.signal.aborted && !this.#fatal) {
        const source = this.#sources[next++];
        if (!source) return;
        await this.#copiesOf(job, source);
      }
    };
    try {
      await Promise.all(Array.from({ length: lanes }, lane));
    } finally {
      // Cancelled or failed: what was added stays, and the gallery learns of it.
      if (this.#created > 0 && (job.signal.aborted || this.#fatal)) this.#emitChanged();
    }
    if (this.#fatal) throw new CoreError('io_error', this.#fatal);
    if (job.signal.aborted) return this.report();
    this.#emitChanged();
    return this.report();
  }

  async #copiesOf(job: RunningJob, source: SourceImage): Promise<void> {
    const { policy, seed, copies } = this.#request;
    const db = job.store.db;
    const existing = db.prepare('SELECT 1 FROM images WHERE derived_from = ? AND derivation = ?').pluck();
    const stem = nodePath.parse(source.path).name;
    let files: ReturnType<typeof imageSources>;
    try {
      files = imageSources(db, source.id);
    } catch {
      this.#advance(job, copies);
      return; // removed from the project meanwhile
    }
    for (let view = 0; view < copies; view++) {
      if (job.signal.aborted || this.#fatal) return;
      const derivation = derivationText(policy, seed, view, source.sha256);
      if (existing.get(source.id, derivation)) {
        this.#advance(job, 1);
        continue;
      }
      const outPath = this.#freePath(db, `${stem}-${fileNamePart(policy.name)}-s${seed}-v${view}`);
      const outcome = await this.#makeCopy(job, files, outPath, source, view);
      this.#reserved.delete(nodePath.basename(outPath));
      if (outcome === 'unreadable') {
        // Every later copy of this source would fail the same way.
        this.#advance(job, copies - view);
        return;
      }
      this.#advance(job, 1);
    }
  }

  /** Writes, imports and records one copy. */
  async #makeCopy(job: RunningJob, files: ReturnType<typeof imageSources>, outPath: string, source: SourceImage, view: number): Promise<'created' | 'skipped' | 'unreadable' | 'stopped'> {
    const pool = decodePool(this.#ctx);
    const { policy, seed } = this.#request;
    // No cancel signal to the workers: a copy in the making finishes, and is then dropped here,
    // so no half-recorded file is left behind.
    let derived;
    try {
      derived = await pool.decode({ type: 'derive', sources: files.sources, sha256: files.sha256, policy, seed, view, outPath, maxSide: COPY_MAX_SIDE, quality: COPY_QUALITY });
    } catch (err) {
      return this.#workerFailure(err, files.sources[0] ?? source.path);
    }
    if (derived.type === 'unreadable') {
      this.#failed.push({ path: files.sources[0] ?? source.path, reason: derived.reason });
      return 'unreadable';
    }
    if (derived.type === 'fatal') {
      this.#fatal ??= derived.message;
      return 'stopped';
    }
    if (job.signal.aborted || this.#fatal) {
      removeFileQuietly(outPath);
      return 'stopped';
    }
    let imported;
    try {
      imported = await pool.decode({ type: 'import', path: outPath, dataDir: job.store.dataDir, limits: DEFAULT_LIMITS });
    } catch (err) {
      removeFileQuietly(outPath);
      return this.#workerFailure(err, outPath);
    }
    if (imported.type !== 'decoded') {
      removeFileQuietly(outPath);
      if (imported.type === 'fatal') this.#fatal ??= imported.message;
      else this.#failed.push({ path: outPath, reason: `the copy of ${files.sources[0] ?? source.path} could not be read back: ${imported.reason}` });
      return imported.type === 'fatal' ? 'stopped' : 'skipped';
    }
    const db = job.store.db;
    if (job.signal.aborted || this.#fatal || !db.open) {
      this.#dropCopy(db, outPath, imported);
      return 'stopped';
    }
    let added: boolean;
    try {
      added = db.transaction(() => this.#record(db, outPath, imported, source, view))();
    } catch (err) {
      this.#dropCopy(db, outPath, imported);
      this.#fatal ??= `Seedbed could not save the augmented copies in ${job.store.path}: ${(err as Error).message}.`;
      return 'stopped';
    }
    if (!added) {
      // The same content is in the project already (this copy made before under another
      // policy name, say): one image holds it, and this file is not needed.
      removeFileQuietly(outPath);
      return 'skipped';
    }
    this.#created++;
    this.#noteChanged();
    return 'created';
  }

  /** Inside a transaction. False when an image with this content exists already. */
  #record(db: Database, outPath: string, image: DecodedImage, source: SourceImage, view: number): boolean {
    if (db.prepare('SELECT 1 FROM images WHERE sha256 = ?').pluck().get(image.sha256)) return false;
    const { policy, seed } = this.#request;
    const at = Date.now();
    const stat = fs.statSync(outPath);
    const imageId = Number(
      db
        .prepare(
          `INSERT INTO images (path, sha256, width, height, format, bytes, orientation, thumb, added_at, derived_from, derivation)
           VALUES (@path, @sha256, @width, @height, @format, @bytes, @orientation, @thumb, @at, @derivedFrom, @derivation)`,
        )
        .run({
          path: outPath,
          sha256: image.sha256,
          width: image.width,
          height: image.height,
          format: image.format,
          bytes: image.bytes,
          orientation: image.orientation,
          thumb: image.thumb,
          at,
          derivedFrom: source.id,
          derivation: derivationText(policy, seed, view, source.sha256),
        }).lastInsertRowid,
    );
    db.prepare(
      `INSERT INTO image_paths (path, image_id, size, mtime_ms, added_at) VALUES (@path, @imageId, @size, @mtimeMs, @at)
       ON CONFLICT(path) DO UPDATE SET image_id = excluded.image_id, size = excluded.size, mtime_ms = excluded.mtime_ms`,
    ).run({ path: outPath, imageId, size: stat.size, mtimeMs: Math.round(stat.mtimeMs), at });
    // The copy's label is its source's label, with its provenance: a copy of a hand-labelled
    // image is labelled by that person's decision, not by a model or a folder.
    applyLabels(db, [imageId], source.classId, source.labelSource, at);
    db.prepare("INSERT INTO splits (image_id, split, source, updated_at) VALUES (?, 'train', 'assigned', ?)").run(imageId, at);
    return true;
  }

  /** A copy written but not recorded: its file, and its thumbnail when no image holds that content. */
  #dropCopy(db: Database, outPath: string, image: DecodedImage): void {
    removeFileQuietly(outPath);
    const held = db.open && db.prepare('SELECT 1 FROM images WHERE sha256 = ?').pluck().get(image.sha256);
    if (!held) removeFileQuietly(nodePath.join(this.#dataDir, image.thumb));
  }

  #workerFailure(err: unknown, path: string): 'unreadable' | 'stopped' {
    if (err instanceof WorkerTaskError) {
      console.error(`Making an augmented copy of ${path} failed:`, err.workerStack);
      this.#failed.push({ path, reason: `Seedbed could not make an augmented copy of this file (${err.message})` });
      return 'unreadable';
    }
    this.#fatal ??= `Seedbed's image decoder stopped: ${(err as Error).message}`;
    return 'stopped';
  }

  /** A file name in derived/ that no file, no image path and no copy in the making has. */
  #freePath(db: Database, base: string): string {
    const known = db.prepare('SELECT 1 FROM image_paths WHERE path = ?').pluck();
    for (let n = 1; ; n++) {
      const name = `${base}${n === 1 ? '' : `-${n}`}.jpg`;
      const path = nodePath.join(this.#derivedDir, name);
      if (this.#reserved.has(name) || fs.existsSync(path) || known.get(path)) continue;
      this.#reserved.add(name);
      return path;
    }
  }

  #advance(job: RunningJob, n: number): void {
    this.#done += n;
    job.progress(this.#done);
  }

  #noteChanged(): void {
    const now = Date.now();
    if (now - this.#changedAt >= DATASET_CHANGED_MS) {
      this.#changedAt = now;
      this.#changedSinceEvent = false;
      this.#ctx.events.emit('dataset.changed', { reason: 'derived' });
    } else {
      this.#changedSinceEvent = true;
    }
  }

  #emitChanged(): void {
    this.#changedSinceEvent = false;
    this.#ctx.events.emit('dataset.changed', { reason: 'derived' });
  }
}

/**
 * Starts a job that writes `copies` augmented copies of every original training image (of
 * `classIds`, default all classes) and adds them as derived images. Labelled images without a
 * split get one first, as a training run would give them. Its result is a MaterialiseReport.
 */
export function startMaterialise(ctx: CoreContext, request: MaterialiseRequest): JobInfo {
  const store = ctx.requireStore();
  refuseWhileRunning(store, 'make more');
  if (!Number.isInteger(request.copies) || request.copies < 1) {
    throw new CoreError('invalid_input', `The number of copies must be a whole number of at least 1; ${request.copies} is not.`);
  }
  if (request.classIds?.length) {
    const known = new Set(store.db.prepare('SELECT id FROM classes').pluck().all() as number[]);
    const unknown = request.classIds.filter((id) => !known.has(id));
    if (unknown.length) throw new CoreError('not_found', `There is no class ${unknown.join(', ')} in this project.`);
  }
  // Splits first, with the seed training uses, so that copies are made of what will train.
  const assignment = assignSplits(store.db, { seed: DEFAULT_TRAIN_CONFIG.seed });
  if (assignment.assigned) ctx.events.emit('dataset.changed', { reason: 'splits' });
  const sources = trainingOriginals(store.db, request.classIds);
  if (!sources.length) {
    throw new CoreError(
      'invalid_input',
      request.classIds?.length
        ? 'These classes have no labelled images in the training split to make copies of.'
        : 'There are no labelled images in the training split to make copies of. Label some images first.',
    );
  }
  const params = { ...request, policy: canonicalPolicy(request.policy), images: sources.length };
  const run = new MaterialiseRun(ctx, { ...request, policy: canonicalPolicy(request.policy) }, sources, store.dataDir);
  const runs = activeRuns.get(store) ?? new Set<Promise<unknown>>();
  activeRuns.set(store, runs);
  // Registered before the job starts: its body begins a tick later.
  let release!: () => void;
  const settled = new Promise<void>((resolve) => (release = resolve));
  runs.add(settled);
  void settled.then(() => runs.delete(settled));
  try {
    return ctx.jobs.start({ kind: 'augment', title: materialiseTitle(request.copies), params }, (job) => run.run(job).finally(release));
  } catch (err) {
    release();
    throw err;
  }
}

/**
 * Removes every derived image (copies of copies too) with its labels, split, tags and
 * predictions, and deletes its files: the copy in derived/ and its thumbnail and preview. Files
 * anywhere else are never touched, so a source image stays byte for byte as it was.
 */
export function removeDerived(ctx: CoreContext): { removed: number } {
  const store = ctx.requireStore();
  refuseWhileRunning(store, 'remove them');
  const db = store.db;
  const derivedDir = nodePath.join(store.dataDir, DERIVED_FOLDER);
  const { removed, files } = db
    .transaction(() => {
      const rows = db.prepare('SELECT id, path, sha256, thumb FROM images WHERE derived_from IS NOT NULL').all() as {
        id: number;
        path: string;
        sha256: string;
        thumb: string | null;
      }[];
      if (!rows.length) return { removed: 0, files: [] as string[] };
      const ids = JSON.stringify(rows.map((r) => r.id));
      const paths = db.prepare('SELECT path FROM image_paths WHERE image_id IN (SELECT value FROM json_each(?))').pluck().all(ids) as string[];
      const findings = db
        .prepare('SELECT DISTINCT finding_id FROM finding_images WHERE image_id IN (SELECT value FROM json_each(?))')
        .pluck()
        .all(ids) as number[];
      // Labels, label history, splits, tags, paths, predictions and finding links go with
      // their image (ON DELETE CASCADE), as do copies made from a copy.
      // (`changes` leaves out rows a cascade took, such as a copy of a copy removed with its source.)
      db.prepare('DELETE FROM images WHERE id IN (SELECT value FROM json_each(?))').run(ids);
      // A finding about these images alone, or a duplicate group left with one image, says
      // nothing any more.
      db.prepare(
        `DELETE FROM findings WHERE id IN (SELECT value FROM json_each(@findings)) AND
           (SELECT count(*) FROM finding_images fi WHERE fi.finding_id = findings.id) <
           CASE WHEN kind IN (SELECT value FROM json_each(@groupKinds)) THEN 2 ELSE 1 END`,
      ).run({ findings: JSON.stringify(findings), groupKinds: JSON.stringify(GROUP_FINDING_KINDS) });
      // Caches kept by content: no image holds these contents any more.
      const shas = JSON.stringify(rows.map((r) => r.sha256));
      db.prepare('DELETE FROM embeddings WHERE sha256 IN (SELECT value FROM json_each(?))').run(shas);
      db.prepare('DELETE FROM image_stats WHERE sha256 IN (SELECT value FROM json_each(?))').run(shas);
      const files = [
        ...new Set([...rows.map((r) => r.path), ...paths].filter((p) => isInside(derivedDir, p))),
        ...rows.flatMap((r) => [r.thumb ?? thumbRelativePath(r.sha256), previewRelativePath(r.sha256)].map((rel) => nodePath.join(store.dataDir, rel)).filter((p) => isInside(store.dataDir, p))),
      ];
      return { removed: rows.length, files };
    })
    .immediate();
  // Files go only once the rows are gone: a failed transaction leaves every copy in place.
  for (const file of files) removeFileQuietly(file);
  if (removed) ctx.events.emit('dataset.changed', { reason: 'derived' });
  return { removed };
}

/** How many derived images the project holds (excluded ones included). */
export function derivedCount(db: Database): number {
  return db.prepare('SELECT count(*) FROM images WHERE derived_from IS NOT NULL').pluck().get() as number;
}
