/**
 * eval.run through the core on a real run (wasm runtime, the smallest shared backbone, real
 * TrashNet photos): its numbers agree with the metrics the run recorded at the end of
 * training, intervals hold their value, curves and calibration cover every class, the
 * temperature is fitted on validation, tags become slices, and derived copies are never
 * evaluated.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import nodePath from 'node:path';
import { after, before, test } from 'node:test';
import type { EventMessage, MethodName, ParamsOf, ResultOf, RunDetail } from '../../../shared/contract/index.ts';
import type { Core } from '../core.ts';
import { copyTrashnet, openTrashnetProject, skipReason, type TrashnetProject } from '../trashnet-fixture.ts';
import { splitImages } from './evaluate.ts';

const CLASSES = ['cardboard', 'glass', 'metal', 'paper'];
const PER_CLASS = 16;
const skip = skipReason;

let project: TrashnetProject;
let core: Core;
let dir: string;
let events: EventMessage[];
let run: RunDetail;
const call = <M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> => project.call(method, params);

before(async () => {
  if (skip) return;
  project = await openTrashnetProject('evaluate', { perClass: Object.fromEntries(CLASSES.map((c) => [c, PER_CLASS])), train: { epochs: 15 } });
  ({ core, dir, events } = project);
  run = project.run!;
});

after(() => project?.close());

test('evaluating a run on test agrees with the metrics it recorded, with intervals, curves and calibration', { skip }, async () => {
  const e = await call('eval.run', { runId: run.id });
  const recorded = run.metrics!.test!;
  assert.equal(e.source, 'test');
  assert.equal(e.count, recorded.count, 'the same test images');
  assert.ok(Math.abs(e.headline.accuracy.value - recorded.accuracy) < 1e-9, `accuracy ${e.headline.accuracy.value} = recorded ${recorded.accuracy}`);
  assert.ok(Math.abs(e.headline.macroF1.value - recorded.macroF1) < 1e-9, `macro-F1 ${e.headline.macroF1.value} = recorded ${recorded.macroF1}`);
  assert.deepEqual(e.confusion, recorded.confusion, 'the same confusion matrix');
  for (const [name, m] of Object.entries(e.headline)) {
    assert.ok(m.low <= m.value && m.value <= m.high, `${name}: ${m.low} ≤ ${m.value} ≤ ${m.high}`);
  }
  assert.deepEqual(Object.keys(e.curves), CLASSES);
  for (const name of CLASSES) {
    const c = e.curves[name]!;
    assert.equal(c.positives, recorded.perClass[name]!.support, `${name}: positives are its test images`);
    assert.ok(c.auc !== null && c.auc >= 0 && c.auc <= 1, `${name}: AUC ${c.auc}`);
    assert.deepEqual([c.roc[0]!.fpr, c.roc[0]!.tpr, c.roc.at(-1)!.fpr, c.roc.at(-1)!.tpr], [0, 0, 1, 1], `${name}: ROC runs from (0,0) to (1,1)`);
  }
  e.confusionNormalised.forEach((row, i) => {
    const sum = row.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-9, `row ${i} of the normalised confusion sums to 1 (${sum})`);
  });
  assert.equal(e.calibration.bins.reduce((a, b) => a + b.count, 0), e.count, 'every image falls in one reliability bin');
  assert.ok(e.temperature && e.temperature.value > 0, 'a temperature fitted on validation');
  assert.equal(e.coverage[0]!.coverage, 1, 'at the lowest threshold every image is kept');
});

test('validation can be evaluated; tags become slices; derived copies are never evaluated', { skip }, async () => {
  const val = await call('eval.run', { runId: run.id, split: 'val' });
  assert.equal(val.source, 'val');
  assert.equal(val.temperature, null, 'no temperature when validation itself is evaluated');
  assert.equal(val.count, run.metrics!.val!.count);

  const db = core.requireStore().db;
  const test = splitImages(db, run.id, 'test');
  // Five: the smallest group a slice is measured for.
  const half = test.slice(0, 5).map((i) => i.imageId);
  assert.ok(test.length > 5, `more than 5 test images (${test.length})`);
  await call('tags.set', { imageIds: half, key: 'site', value: 'north' });
  const tagged = await call('eval.run', { runId: run.id });
  const north = tagged.slices.find((s) => s.key === 'site' && s.value === 'north');
  assert.ok(north, `the site=north slice is measured (${half.length} of ${test.length} tagged; slices: ${JSON.stringify(tagged.slices)})`);
  assert.equal(north.count, half.length);
  assert.equal(north.restCount, test.length - half.length, 'the rest are the untagged test images');

  const source = db.prepare('SELECT * FROM images WHERE id = ?').get(test[0]!.imageId) as { path: string; width: number; height: number; format: string; bytes: number };
  const copy = Number(
    db
      .prepare(`INSERT INTO images (path, sha256, width, height, format, bytes, added_at, derived_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(source.path, 'e'.repeat(64), source.width, source.height, source.format, source.bytes, Date.now(), test[0]!.imageId).lastInsertRowid,
  );
  db.prepare(`INSERT INTO labels (image_id, class_id, source, updated_at) SELECT ?, class_id, 'human', 0 FROM labels WHERE image_id = ?`).run(copy, test[0]!.imageId);
  db.prepare(`INSERT INTO splits (image_id, split, source, updated_at) VALUES (?, 'test', 'assigned', 0)`).run(copy);
  assert.equal(splitImages(db, run.id, 'test').length, test.length, 'a copy in test is not evaluated');
  assert.equal((await call('eval.run', { runId: run.id })).count, tagged.count);
  db.prepare('DELETE FROM images WHERE id = ?').run(copy);
});

test('a folder of class sub-folders can be evaluated; other folders and unreadable files are left out', { skip }, async () => {
  const folder = nodePath.join(dir, 'holdout');
  // Photos 41–43 of each class: the project holds the first 16.
  copyTrashnet(folder, Object.fromEntries(CLASSES.map((c) => [c, 3])), 40);
  fs.mkdirSync(nodePath.join(folder, 'unknown'));
  fs.copyFileSync(nodePath.join(folder, 'glass', fs.readdirSync(nodePath.join(folder, 'glass'))[0]!), nodePath.join(folder, 'unknown', 'x.jpg'));
  fs.writeFileSync(nodePath.join(folder, 'metal', 'broken.jpg'), 'not an image');
  const e = await call('eval.run', { runId: run.id, dir: folder });
  assert.equal(e.source, 'folder');
  assert.equal(e.count, CLASSES.length * 3, 'three readable images per class; the broken file and the unknown folder are left out');
  assert.ok(e.images.every((i) => i.imageId === null && i.path.startsWith(folder)), 'rows name the files, not project images');
  assert.deepEqual(e.slices, [], 'a folder has no tags');
  assert.deepEqual(
    e.warnings,
    ['1 file of the folder could not be read and is left out.', 'Left out, not named after a class of this run: unknown/.'],
    'the left-out files are said',
  );
  const trained = core.requireStore().db.prepare(`SELECT i.path FROM images i JOIN splits s ON s.image_id = i.id JOIN labels l ON l.image_id = i.id JOIN classes c ON c.id = l.class_id WHERE s.split = 'train' AND c.name = 'cardboard' LIMIT 1`).pluck().get() as string;
  fs.copyFileSync(trained, nodePath.join(folder, 'cardboard', 'seen-before.jpg'));
  const leaky = await call('eval.run', { runId: run.id, dir: folder });
  assert.ok(
    leaky.warnings.includes(`1 of the folder's ${CLASSES.length * 3 + 1} images is also in this project's training or validation images, so these numbers overstate how the model does on images it has never seen.`),
    `a training image in the folder is called out: ${JSON.stringify(leaky.warnings)}`,
  );
  fs.rmSync(nodePath.join(folder, 'cardboard', 'seen-before.jpg'));
  assert.equal(e.confusion.flat().reduce((a, b) => a + b, 0), e.count);
  const none = nodePath.join(dir, 'empty-folder');
  fs.mkdirSync(nodePath.join(none, 'birds'), { recursive: true });
  fs.copyFileSync(nodePath.join(folder, 'glass', fs.readdirSync(nodePath.join(folder, 'glass'))[0]!), nodePath.join(none, 'birds', 'b.jpg'));
  await assert.rejects(call('eval.run', { runId: run.id, dir: none }), /has no images in folders named after this run's classes \(cardboard, glass, metal, paper\); it has birds\//);
});

test('per-image rows and the most-confused pairs agree with the confusion matrix', { skip }, async () => {
  const e = await call('eval.run', { runId: run.id });
  assert.equal(e.images.length, e.count);
  const k = e.classes.length;
  const fromRows = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (const r of e.images) {
    fromRows[r.trueIndex]![r.predictedIndex]!++;
    assert.ok(r.confidence >= r.trueProbability - 1e-9, `image ${r.imageId}: the predicted class is the most probable`);
  }
  assert.deepEqual(fromRows, e.confusion, 'rows rebuild the confusion matrix');
  for (const p of e.confusedPairs) {
    const a = e.classes.indexOf(p.a);
    const b = e.classes.indexOf(p.b);
    assert.deepEqual([p.aAsB, p.bAsA], [e.confusion[a]![b], e.confusion[b]![a]], `${p.a} ↔ ${p.b}`);
  }
  const totals = e.confusedPairs.map((p) => p.aAsB + p.bAsA);
  assert.deepEqual(totals, [...totals].sort((x, y) => y - x), 'most confused first');
});

test('a run predicts and exports with the temperature and threshold set on it', { skip }, async () => {
  const folder = nodePath.join(dir, 'holdout');
  const plain = await call('predict.folder', { runId: run.id, dir: folder });
  assert.ok(plain.rows.every((r) => !r.abstained || r.error), 'threshold 0: the run always answers');
  const set = await call('runs.setCalibration', { runId: run.id, temperature: 3, threshold: 0.9 });
  assert.deepEqual(set, { temperature: 3, threshold: 0.9 });
  assert.deepEqual((await call('runs.get', { runId: run.id })).calibration, set, 'stored with the run');
  const calibrated = await call('predict.folder', { runId: run.id, dir: folder });
  plain.rows.forEach((r, i) => {
    const c = calibrated.rows[i]!;
    if (r.error) return;
    assert.ok(c.confidence! < r.confidence! + 1e-6, `${r.path}: a temperature above 1 softens the confidence (${r.confidence} → ${c.confidence})`);
    assert.equal(c.abstained, c.confidence! < 0.9, `${r.path}: abstains exactly below the threshold`);
    if (c.abstained) assert.equal(c.className, null, 'an abstention names no class');
  });
  assert.ok(calibrated.rows.some((r) => r.abstained), 'at T = 3 some images fall below 0.9');
  const out = nodePath.join(dir, 'exported');
  await call('export.run', { runId: run.id, dir: out });
  const metadata = JSON.parse(fs.readFileSync(nodePath.join(out, 'metadata.json'), 'utf8')) as { calibration: { temperature: number; threshold: number } };
  assert.equal(metadata.calibration.temperature, 3);
  assert.equal(metadata.calibration.threshold, 0.9);
  await call('runs.setCalibration', { runId: run.id, temperature: 1, threshold: 0 });
});

test('the model card is one self-contained HTML file with the metrics, their intervals and the limitations', { skip }, async () => {
  const e = await call('eval.run', { runId: run.id });
  const written = await call('report.write', { runId: run.id, dir: nodePath.join(dir, 'cards') });
  assert.ok(written.path.endsWith('Run 1 model card.html'), written.path);
  const html = fs.readFileSync(written.path, 'utf8');
  assert.equal(Buffer.byteLength(html), written.bytes);
  assert.match(html, /^<!doctype html>/);
  assert.ok(!/<script|<link|src="http|href="http/i.test(html), 'no scripts, stylesheets or remote references');
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  assert.ok(html.includes(`<b>${pct(e.headline.accuracy.value)}</b> <span class="muted">(${pct(e.headline.accuracy.low)}–${pct(e.headline.accuracy.high)})</span>`), 'accuracy with its interval');
  for (const c of CLASSES) assert.ok(html.includes(`<td>${c}</td>`), `${c} is in the tables`);
  assert.match(html, /What it should not be trusted with/);
  assert.match(html, new RegExp(`Only ${e.count} test images: the accuracy could plausibly be anywhere from`), 'a small test set is called out');
  const exact = nodePath.join(dir, 'cards', 'mine.html');
  assert.equal((await call('report.write', { runId: run.id, file: exact })).path, exact);
  await assert.rejects(call('report.write', { runId: run.id, dir: nodePath.join(dir, 'cards'), file: exact }), /Give a folder \(dir\) or a file \(file\)/);
});
