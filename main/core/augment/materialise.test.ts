/**
 * Materialised augmented copies through the core's contract, on real TrashNet photos copied
 * into a temp folder in a train/val/test layout, plus one class imported without splits: real
 * decode workers write the copies, which come back as derived images of the training split
 * only. Then: no duplicates on a second run, an unreadable source reported while the rest go
 * on, copies of chosen classes only, a cancel that keeps what it finished, and the removal
 * that leaves every source file byte for byte as it was and the database consistent.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { after, before, test } from 'node:test';
import type { AugmentPolicy, EventMessage, ImageRow, JobInfo, MaterialiseReport, MethodName, ParamsOf, ResultOf } from '../../../shared/contract/index.ts';
import type { Core } from '../core.ts';
import { callCore, jobEnded, testCore } from '../core-calls.ts';
import { materialiseSettled } from './materialise.ts';

const DATA = nodePath.resolve(import.meta.dirname, '../../../../shared/data');
const TRASHNET = nodePath.join(DATA, 'trashnet');
const haveData = fs.existsSync(TRASHNET);
const skip = haveData ? false : 'needs ../shared/data/trashnet';

/** Every view differs from every other (a random angle and noise each time), so no two copies share content. */
const POLICY: AugmentPolicy = {
  name: 'Test tilt + noise',
  ops: [
    { op: 'rotate', p: 1, strength: 1 },
    { op: 'noise', p: 1, strength: 0.5 },
  ],
};
const SPLIT_LAYOUT = { train: 4, val: 2, test: 2 } as const;
const SPLIT_CLASSES = ['cardboard', 'glass', 'metal'];
/** Imported without a split: a materialisation gives these splits first, as training would. */
const UNSPLIT_CLASS = 'paper';
const UNSPLIT_COUNT = 7;

const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-materialise-test-'));
const photos = nodePath.join(dir, 'photos');
const projectPath = nodePath.join(dir, 'p.seedbed');
const dataDir = `${projectPath}.d`;
const derivedDir = nodePath.join(dataDir, 'derived');
let core: Core;
const events: EventMessage[] = [];
/** sha256 of every source file before anything was derived. */
const sourceHashes = new Map<string, string>();

const call = <M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> => callCore(core, method, params);
const db = () => core.requireStore().db;
const hashFile = (path: string) => createHash('sha256').update(fs.readFileSync(path)).digest('hex');
const derivedFiles = () => (fs.existsSync(derivedDir) ? fs.readdirSync(derivedDir).sort() : []);

async function materialise(params: ParamsOf<'augment.materialise'>): Promise<{ job: JobInfo; report: MaterialiseReport }> {
  const { jobId } = await call('augment.materialise', params);
  const job = await jobEnded(core, jobId, events);
  const row = db().prepare('SELECT result FROM jobs WHERE id = ?').pluck().get(jobId) as string | null;
  return { job, report: JSON.parse(row ?? 'null') as MaterialiseReport };
}

interface DerivedRow {
  id: number;
  path: string;
  derivedFrom: number;
  derivation: string;
  classId: number | null;
  sourceClassId: number | null;
  split: string | null;
  splitSource: string | null;
  sourceSplit: string | null;
  labelSource: string | null;
  sourceLabelSource: string | null;
}

function derivedRows(): DerivedRow[] {
  return db()
    .prepare(
      `SELECT i.id, i.path, i.derived_from AS derivedFrom, i.derivation, l.class_id AS classId, sl.class_id AS sourceClassId,
         s.split, s.source AS splitSource, ss.split AS sourceSplit, l.source AS labelSource, sl.source AS sourceLabelSource
       FROM images i
       LEFT JOIN labels l ON l.image_id = i.id LEFT JOIN splits s ON s.image_id = i.id
       LEFT JOIN labels sl ON sl.image_id = i.derived_from LEFT JOIN splits ss ON ss.image_id = i.derived_from
       WHERE i.derived_from IS NOT NULL ORDER BY i.id`,
    )
    .all() as DerivedRow[];
}

/** Active labelled originals in train: what a materialisation copies. */
function trainOriginals(classIds?: number[]): number[] {
  const rows = db()
    .prepare(
      `SELECT i.id, l.class_id AS classId FROM images i JOIN labels l ON l.image_id = i.id JOIN splits s ON s.image_id = i.id
       WHERE i.derived_from IS NULL AND i.status = 'active' AND s.split = 'train' ORDER BY i.id`,
    )
    .all() as { id: number; classId: number }[];
  return rows.filter((r) => !classIds || classIds.includes(r.classId)).map((r) => r.id);
}

before(async () => {
  if (!haveData) return;
  for (const cls of SPLIT_CLASSES) {
    const files = fs.readdirSync(nodePath.join(TRASHNET, cls)).sort();
    let at = 0;
    for (const [split, n] of Object.entries(SPLIT_LAYOUT)) {
      fs.mkdirSync(nodePath.join(photos, 'split', split, cls), { recursive: true });
      for (const file of files.slice(at, at + n)) fs.copyFileSync(nodePath.join(TRASHNET, cls, file), nodePath.join(photos, 'split', split, cls, file));
      at += n;
    }
  }
  fs.mkdirSync(nodePath.join(photos, 'loose', UNSPLIT_CLASS), { recursive: true });
  for (const file of fs.readdirSync(nodePath.join(TRASHNET, UNSPLIT_CLASS)).sort().slice(0, UNSPLIT_COUNT)) {
    fs.copyFileSync(nodePath.join(TRASHNET, UNSPLIT_CLASS, file), nodePath.join(photos, 'loose', UNSPLIT_CLASS, file));
  }
  for (const entry of fs.readdirSync(photos, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) sourceHashes.set(nodePath.join(entry.parentPath, entry.name), hashFile(nodePath.join(entry.parentPath, entry.name)));
  }

  core = testCore(dir, { events });
  await call('project.create', { path: projectPath });
  for (const [folder, split] of [
    ['split', 'auto'],
    ['loose', 'none'],
  ] as const) {
    const { jobId } = await call('import.start', { paths: [nodePath.join(photos, folder)], split });
    const job = await jobEnded(core, jobId, events);
    assert.equal(job.status, 'done', `import of ${folder}: ${job.error}`);
  }
});

after(async () => {
  await core?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('copies of every training original appear as derived images: source label, train split, files in derived/', { skip }, async () => {
  const unsplitBefore = db().prepare("SELECT count(*) FROM images i JOIN labels l ON l.image_id = i.id WHERE NOT EXISTS (SELECT 1 FROM splits s WHERE s.image_id = i.id)").pluck().get();
  assert.equal(unsplitBefore, UNSPLIT_COUNT, 'the loose class came in without splits');
  const heldOut = db().prepare("SELECT image_id FROM splits WHERE split IN ('val', 'test')").pluck().all() as number[];

  const changedBefore = events.filter((e) => e.event === 'dataset.changed' && e.data.reason === 'derived').length;
  const { job, report } = await materialise({ policy: POLICY, copies: 2, seed: 7 });
  assert.equal(job.status, 'done', `the job ended ${job.status}: ${job.error}`);
  assert.equal(job.kind, 'augment');
  assert.equal(job.title, 'Make 2 augmented copies per training image');

  // The loose class got splits first (as a training run would), and its train images were copied.
  assert.equal(db().prepare('SELECT count(*) FROM images i JOIN labels l ON l.image_id = i.id WHERE NOT EXISTS (SELECT 1 FROM splits s WHERE s.image_id = i.id)').pluck().get(), 0);
  const sources = trainOriginals();
  const loose = db().prepare("SELECT count(*) FROM images WHERE path LIKE ? AND derived_from IS NULL AND id IN (SELECT image_id FROM splits WHERE split = 'train')").pluck().get(`${nodePath.join(photos, 'loose')}%`) as number;
  assert.ok(loose > 0 && loose < UNSPLIT_COUNT, `some, not all, loose images train (${loose})`);
  assert.equal(sources.length, SPLIT_CLASSES.length * SPLIT_LAYOUT.train + loose);
  assert.equal(job.done, job.total, 'progress ends complete');
  assert.equal(job.total, sources.length * 2, 'progress counts copies');

  assert.deepEqual(report.failed, []);
  assert.equal(report.dir, derivedDir);
  assert.equal(report.created, sources.length * 2);
  const rows = derivedRows();
  assert.equal(rows.length, report.created);
  assert.equal(derivedFiles().length, rows.length, 'one file per derived image, nothing else');
  for (const row of rows) {
    assert.ok(sources.includes(row.derivedFrom), `image ${row.id} is derived from a training original`);
    assert.equal(row.classId, row.sourceClassId, 'same class as its source');
    assert.equal(row.labelSource, row.sourceLabelSource, 'the label keeps its provenance');
    assert.equal(row.split, 'train');
    assert.equal(row.splitSource, 'assigned');
    assert.equal(row.sourceSplit, 'train');
    assert.ok(!heldOut.includes(row.derivedFrom), 'never a copy of a val or test image');
    assert.equal(nodePath.dirname(row.path), derivedDir);
    assert.ok(fs.existsSync(row.path), `${row.path} was written`);
    assert.match(nodePath.basename(row.path), /-test-tilt-noise-s7-v[01]\.jpg$/);
    const derivation = JSON.parse(row.derivation) as { policy: AugmentPolicy; seed: number; view: number; sourceSha256: string };
    assert.deepEqual(derivation.policy, POLICY);
    assert.equal(derivation.seed, 7);
    assert.ok(derivation.view === 0 || derivation.view === 1);
    assert.equal(derivation.sourceSha256, db().prepare('SELECT sha256 FROM images WHERE id = ?').pluck().get(row.derivedFrom));
  }
  // Two views of each source, and its label history says how the copy got its label.
  for (const id of sources) assert.equal(rows.filter((r) => r.derivedFrom === id).length, 2);
  assert.equal(db().prepare('SELECT count(*) FROM label_history WHERE image_id IN (SELECT id FROM images WHERE derived_from IS NOT NULL)').pluck().get(), rows.length);
  // A copy is a real, readable image of the source's size with its own thumbnail.
  const first = db().prepare('SELECT width, height, thumb FROM images WHERE id = ?').get(rows[0]!.id) as { width: number; height: number; thumb: string };
  const source = db().prepare('SELECT width, height FROM images WHERE id = ?').get(rows[0]!.derivedFrom) as { width: number; height: number };
  assert.deepEqual({ width: first.width, height: first.height }, source);
  assert.ok(fs.existsSync(nodePath.join(dataDir, first.thumb)), 'the copy has a thumbnail');

  // The gallery sees the lineage; the summary counts the copies.
  const page = await call('images.query', { filter: {}, offset: 0, limit: 2000 });
  const byId = new Map<number, ImageRow>(page.rows.map((r) => [r.id, r]));
  for (const row of rows) assert.equal(byId.get(row.id)?.derivedFrom, row.derivedFrom);
  for (const id of sources) assert.equal(byId.get(id)?.derivedFrom, null);
  assert.equal((await call('dataset.summary', {})).derived, rows.length);
  assert.ok(events.filter((e) => e.event === 'dataset.changed' && e.data.reason === 'derived').length > changedBefore, 'dataset.changed { reason: derived }');

  // Whatever splitting happens later, the copies stay on their source's side.
  await call('splits.assign', { reassign: true });
  for (const row of derivedRows()) assert.equal(row.split, row.sourceSplit);
});

test('materialising again with the same settings adds nothing', { skip }, async () => {
  const before = derivedRows().length;
  const files = derivedFiles();
  const { job, report } = await materialise({ policy: POLICY, copies: 2, seed: 7 });
  assert.equal(job.status, 'done');
  assert.equal(report.created, 0);
  assert.equal(derivedRows().length, before);
  assert.deepEqual(derivedFiles(), files, 'no stray files either');
  // A third copy per image is new: only it is added.
  const more = await materialise({ policy: POLICY, copies: 3, seed: 7 });
  assert.equal(more.report.created, trainOriginals().length);
  assert.equal(derivedRows().length, before + trainOriginals().length);
});

test('a source that cannot be read is reported, and the other sources still get their copies', { skip }, async () => {
  const sources = trainOriginals();
  const victim = db().prepare('SELECT path FROM images WHERE id = ?').pluck().get(sources[2]) as string;
  const moved = `${victim}.moved`;
  fs.renameSync(victim, moved);
  try {
    const before = derivedRows().length;
    const { job, report } = await materialise({ policy: POLICY, copies: 1, seed: 8 });
    assert.equal(job.status, 'done', `${job.error}`);
    assert.equal(report.failed.length, 1);
    assert.equal(report.failed[0]!.path, victim);
    assert.match(report.failed[0]!.reason, /no longer there/);
    assert.equal(report.created, sources.length - 1);
    assert.equal(derivedRows().length, before + sources.length - 1);
    assert.equal(derivedFiles().length, derivedRows().length);
  } finally {
    fs.renameSync(moved, victim);
  }
});

test('copies of chosen classes only', { skip }, async () => {
  const glass = (await call('classes.list', {})).find((c) => c.name === 'glass')!;
  const before = new Set(derivedRows().map((r) => r.id));
  const { report } = await materialise({ policy: POLICY, copies: 1, seed: 9, classIds: [glass.id] });
  const added = derivedRows().filter((r) => !before.has(r.id));
  assert.equal(report.created, SPLIT_LAYOUT.train);
  assert.equal(added.length, SPLIT_LAYOUT.train);
  for (const row of added) assert.equal(row.classId, glass.id);
});

test('a cancelled run keeps the copies it finished, each with its file, and leaves no stray file; nothing else starts meanwhile', { skip }, async () => {
  const { jobId } = await call('augment.materialise', { policy: POLICY, copies: 8, seed: 10 });
  // While it runs, neither a second run nor a removal may start: they would race its copies.
  await assert.rejects(call('augment.materialise', { policy: POLICY, copies: 1, seed: 11 }), /being made right now/);
  await assert.rejects(call('augment.removeDerived', {}), /being made right now/);
  await new Promise<void>((resolve) => {
    const off = core.events.on((m) => {
      if (m.event === 'job.progress' && m.data.id === jobId && m.data.done >= 3) {
        off();
        resolve();
      }
    });
  });
  await call('jobs.cancel', { jobId });
  const job = await jobEnded(core, jobId, events);
  assert.equal(job.status, 'cancelled');
  // Copies in the making when the cancel came finish in the workers and are then dropped.
  await materialiseSettled(core);
  const rows = derivedRows();
  const made = rows.filter((r) => (JSON.parse(r.derivation) as { seed: number }).seed === 10);
  assert.ok(made.length >= 3 && made.length < trainOriginals().length * 8, `kept ${made.length} copies`);
  assert.deepEqual(derivedFiles(), rows.map((r) => nodePath.basename(r.path)).sort(), 'every file has its image and every image its file');
});

test('removing derived images deletes their rows and files and leaves the sources as they were', { skip }, async () => {
  const rows = derivedRows();
  assert.ok(rows.length > 0);
  // Things that hang off a derived image: a tag, a copy of a copy.
  await call('tags.set', { imageIds: [rows[0]!.id], key: 'note', value: 'copy' });
  db()
    .prepare(
      `INSERT INTO images (path, sha256, width, height, format, bytes, added_at, derived_from)
       VALUES (@path, @sha, 320, 240, 'jpeg', 1000, 0, @from)`,
    )
    .run({ path: nodePath.join(derivedDir, 'copy-of-a-copy.jpg'), sha: 'c'.repeat(64), from: rows[0]!.id });
  const thumbs = db().prepare('SELECT thumb FROM images WHERE derived_from IS NOT NULL AND thumb IS NOT NULL').pluck().all() as string[];
  const originals = db().prepare('SELECT count(*) FROM images WHERE derived_from IS NULL').pluck().get() as number;
  assert.equal(thumbs.length, rows.length);
  for (const thumb of thumbs) assert.ok(fs.existsSync(nodePath.join(dataDir, thumb)), `${thumb} is there before`);

  const { removed } = await call('augment.removeDerived', {});
  assert.equal(removed, rows.length + 1, 'copies of copies too');
  assert.equal(db().prepare('SELECT count(*) FROM images WHERE derived_from IS NOT NULL').pluck().get(), 0);
  assert.equal(db().prepare('SELECT count(*) FROM images').pluck().get(), originals, 'every original stays');
  assert.deepEqual(derivedFiles(), [], 'the copies are gone from derived/');
  for (const thumb of thumbs) assert.ok(!fs.existsSync(nodePath.join(dataDir, thumb)), `${thumb} was removed`);
  for (const [path, hash] of sourceHashes) assert.equal(hashFile(path), hash, `${path} is byte for byte as it was`);
  // Nothing points at a removed image.
  for (const table of ['labels', 'label_history', 'splits', 'tags', 'image_paths', 'predictions', 'finding_images']) {
    assert.equal(db().prepare(`SELECT count(*) FROM ${table} WHERE image_id NOT IN (SELECT id FROM images)`).pluck().get(), 0, `${table} is clean`);
  }
  assert.deepEqual(db().pragma('foreign_key_check'), []);
  assert.equal((await call('dataset.summary', {})).derived, 0);
  assert.equal((await call('augment.removeDerived', {})).removed, 0, 'a second removal finds nothing');
});
