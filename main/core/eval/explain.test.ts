/**
 * Explanations through the core on a real run (wasm runtime, the smallest shared backbone) of
 * a synthetic task whose evidence is known to sit in one region: the class is the colour of a
 * square placed in the top-left quadrant of a textured background (a neutral square elsewhere
 * is a distractor). Grad-CAM puts most of its mass in that quadrant, occlusion peaks there,
 * a second request is served from the cache (a changed image is not), and a training image's
 * nearest training image is itself.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { EventMessage, Explanation, MethodName, ParamsOf, ResultOf, RunDetail } from '../../../shared/contract/index.ts';
import type { Core } from '../core.ts';
import { callCore, jobEnded, testCore } from '../core-calls.ts';
import { requireUsableRun, runProbabilities } from '../ml/predictions.ts';
import { runDir } from '../ml/runs.ts';
import { upsampleGrid } from './explain.ts';

const MODELS = nodePath.resolve(import.meta.dirname, '../../../../shared/models');
const BACKBONE = 'mobilenet_v1_0.25_224';
const skip = fs.existsSync(nodePath.join(MODELS, BACKBONE)) ? false : `needs ../shared/models/${BACKBONE}`;

const SIDE = 224;
const HALF = SIDE / 2;
const SQUARE = 72;
const COLOURS: Record<string, [number, number, number]> = { red: [220, 40, 40], green: [40, 190, 60], blue: [40, 70, 230] };
const PER_CLASS = 24;

const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-explain-test-'));
const previousModels = process.env.SEEDBED_MODELS_DIR;
let core: Core;
const events: EventMessage[] = [];
const call = <M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> => callCore(core, method, params);
const db = () => core.requireStore().db;
let run: RunDetail;
/** Where each generated file's coloured square is (top-left corner). */
const squareAt = new Map<string, { x: number; y: number }>();

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A textured background (stripes at a random angle + noise), a neutral square outside the top-left quadrant, the coloured square inside it. */
function syntheticImage(colour: [number, number, number], rand: () => number): { data: Buffer; square: { x: number; y: number } } {
  const data = Buffer.alloc(SIDE * SIDE * 3);
  const base = 90 + rand() * 70;
  const angle = rand() * Math.PI;
  const freq = 0.08 + rand() * 0.15;
    for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const stripe = 25 * Math.sin((x * Math.cos(angle) + y * Math.sin(angle)) * freq);
      for (let c = 0; c < 3; c++) data[(y * SIDE + x) * 3 + c] = Math.max(0, Math.min(255, base + stripe + (rand() - 0.5) * 30));
    }
  }
  const fill = (x0: number, y0: number, rgb: number[]) => {
    for (let y = y0; y < y0 + SQUARE; y++) for (let x = x0; x < x0 + SQUARE; x++) for (let c = 0; c < 3; c++) data[(y * SIDE + x) * 3 + c] = rgb[c]!;
  };
  // The distractor, in one of the other three quadrants: a square, but always the same mid grey, so it carries no class.
  const quadrant = 1 + Math.floor(rand() * 3);
  rand();
  const grey = 128;
  fill((quadrant % 2) * HALF + 4 + Math.floor(rand() * (HALF - SQUARE - 8)), Math.floor(quadrant / 2) * HALF + 4 + Math.floor(rand() * (HALF - SQUARE - 8)), [grey, grey, grey]);
  const square = { x: 4 + Math.floor(rand() * (HALF - SQUARE - 8)), y: 4 + Math.floor(rand() * (HALF - SQUARE - 8)) };
  fill(square.x, square.y, colour);
  return { data, square };
}

/** Share of the heatmap (resampled to 224 px, as the overlay shows it) in the top-left quadrant. */
function topLeftMass(e: Explanation): number {
  const heat = upsampleGrid(e.grid.values, e.grid.size, SIDE);
  let inside = 0;
  let total = 0;
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      total += heat[y * SIDE + x]!;
      if (x < HALF && y < HALF) inside += heat[y * SIDE + x]!;
    }
  }
  return total > 0 ? inside / total : 0;
}

function peakCell(e: Explanation): { row: number; col: number } {
  const v = e.grid.values;
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return { row: Math.floor(best / e.grid.size), col: best % e.grid.size };
}

interface TestImage {
  imageId: number;
  sha256: string;
  path: string;
  classIndex: number;
}

function splitImages(split: 'train' | 'test'): TestImage[] {
  const index = new Map(run.classes.map((c, i) => [c, i]));
  return (
    db()
      .prepare(
        `SELECT i.id AS imageId, i.sha256, i.path, c.name AS className FROM images i JOIN labels l ON l.image_id = i.id
         JOIN classes c ON c.id = l.class_id JOIN splits s ON s.image_id = i.id WHERE s.split = ? ORDER BY i.id`,
      )
      .all(split) as { imageId: number; sha256: string; path: string; className: string }[]
  ).map((r) => ({ imageId: r.imageId, sha256: r.sha256, path: r.path, classIndex: index.get(r.className)! }));
}

let correct: TestImage[] = [];

before(async () => {
  if (skip) return;
  process.env.SEEDBED_MODELS_DIR = MODELS;
  core = testCore(dir, { events });
  const rand = mulberry32(7);
  for (const [name, colour] of Object.entries(COLOURS)) {
    fs.mkdirSync(nodePath.join(dir, 'data', name), { recursive: true });
    for (let i = 0; i < PER_CLASS; i++) {
      const { data, square } = syntheticImage(colour, rand);
      const file = nodePath.join(dir, 'data', name, `${name}-${i}.png`);
      await sharp(data, { raw: { width: SIDE, height: SIDE, channels: 3 } }).png().toFile(file);
      squareAt.set(file, square);
    }
  }
  await call('project.create', { path: nodePath.join(dir, 'p.seedbed') });
  const imported = await call('import.start', { paths: [nodePath.join(dir, 'data')], split: 'auto' });
  assert.equal((await jobEnded(core, imported.jobId, events)).status, 'done', 'the synthetic images import');
  await call('splits.assign', { seed: 1 });
  const started = await call('train.start', { config: { backbone: BACKBONE, epochs: 25, patience: 0 } });
  const job = await jobEnded(core, started.jobId, events);
  assert.equal(job.status, 'done', `the run trains: ${job.error ?? ''}`);
  run = await call('runs.get', { runId: started.runId });

  // The test images the run gets right: an explanation of a wrong guess need not point at the evidence.
  const store = core.requireStore();
  const tests = splitImages('test');
  const { outcome, predicted } = await runProbabilities(core, store, requireUsableRun(store.db, run.id), tests);
  const k = outcome.numClasses;
  correct = predicted.filter((t, i) => {
    const row = Array.from(outcome.probabilities.subarray(i * k, (i + 1) * k));
    return row.indexOf(Math.max(...row)) === t.classIndex;
  });
});

after(async () => {
  await core?.close();
  if (previousModels === undefined) delete process.env.SEEDBED_MODELS_DIR;
  else process.env.SEEDBED_MODELS_DIR = previousModels;
  fs.rmSync(dir, { recursive: true, force: true });
});

test('Grad-CAM puts most of its mass in the quadrant that holds the evidence', { skip }, async () => {
  const tests = splitImages('test');
  assert.ok(correct.length >= Math.ceil(tests.length * 0.8), `the run gets most test images right (${correct.length} of ${tests.length}), so the task is learnt`);
  const masses: number[] = [];
  const times: number[] = [];
  for (const image of correct) {
    const e = await call('explain.image', { runId: run.id, imageId: image.imageId, method: 'gradcam' });
    times.push(e.ms);
    assert.equal(e.cached, false, 'the first explanation of an image is computed');
    assert.equal(e.className, run.classes[image.classIndex], 'by default the predicted (here: true) class is explained');
    assert.equal(e.top.length, run.classes.length, 'every class is listed');
    assert.ok(Math.abs(e.top.reduce((a, t) => a + t.probability, 0) - 1) < 1e-6, 'the probabilities sum to 1');
    assert.equal(e.top[0]!.className, e.className, 'the explained class is the most likely one');
    assert.equal(e.grid.values.length, e.grid.size * e.grid.size, 'the grid is size × size');
    assert.ok(e.grid.values.every((v) => v >= 0 && v <= 1) && Math.max(...e.grid.values) === 1, 'the heatmap is normalised to [0, 1]');
    assert.match(e.overlay, /^data:image\/png;base64,/, 'the overlay is a PNG');
    assert.match(e.input, /^data:image\/jpeg;base64,/, 'the input is a JPEG');
    const overlay = await sharp(Buffer.from(e.overlay.split(',')[1]!, 'base64')).metadata();
    assert.deepEqual([overlay.width, overlay.height, overlay.channels], [224, 224, 4], 'the overlay is a 224 px RGBA image');
    masses.push(topLeftMass(e));
  }
  const mean = masses.reduce((a, b) => a + b, 0) / masses.length;
  console.log(`Grad-CAM top-left mass per correct test image: ${masses.map((m) => m.toFixed(2)).join(' ')} (mean ${mean.toFixed(3)}); ms: ${times.map((t) => t.toFixed(0)).join(' ')}`);
  assert.ok(mean > 0.5, `on average most of the Grad-CAM mass is in the top-left quadrant (mean ${mean.toFixed(3)}, a quarter would be chance)`);
  const median = [...masses].sort((a, b) => a - b)[Math.floor(masses.length / 2)]!;
  assert.ok(median > 0.5, `for most images most of the mass is there (median ${median.toFixed(2)}: ${masses.map((m) => m.toFixed(2)).join(', ')})`);
});

test('occlusion peaks in the quadrant that holds the evidence', { skip }, async () => {
  const peaks: string[] = [];
  let inQuadrant = 0;
  const times: number[] = [];
  for (const image of correct) {
    const e = await call('explain.image', { runId: run.id, imageId: image.imageId, method: 'occlusion' });
    times.push(e.ms);
    assert.equal(e.method, 'occlusion');
    const peak = peakCell(e);
    peaks.push(`(${peak.row},${peak.col})`);
    // A cell straddling the quadrant's edge still lies over the evidence when the square touches it.
    if (peak.row * (SIDE / e.grid.size) < HALF && peak.col * (SIDE / e.grid.size) < HALF) inQuadrant++;
  }
  console.log(`occlusion peaks (row,col): ${peaks.join(' ')}; ${inQuadrant} of ${correct.length} in the quadrant; ms: ${times.map((t) => t.toFixed(0)).join(' ')}`);
  // Occlusion is the noisier check (a grey patch also changes the texture statistics the pooled features see): a majority, where chance is a quarter.
  assert.ok(inQuadrant > correct.length / 2, `occlusion peaks in the top-left quadrant for most correct test images (${inQuadrant} of ${correct.length}: ${peaks.join(' ')})`);
});

test('a second request is served from the cache; another class or a changed image is computed', { skip }, async () => {
  const image = correct[0]!;
  const first = await call('explain.image', { runId: run.id, imageId: image.imageId, method: 'gradcam' });
  assert.equal(first.cached, true, 'the explanation computed in the first test is cached');
  const named = await call('explain.image', { runId: run.id, imageId: image.imageId, method: 'gradcam', className: first.className });
  assert.equal(named.cached, true, 'asking for the predicted class by name hits the same cache entry');
  assert.deepEqual(named.grid, first.grid, 'the same heatmap');
  assert.ok(fs.existsSync(nodePath.join(runDir(core.requireStore(), run.id), 'explain', `${image.imageId}-gradcam-${image.classIndex}.json`)), 'cached as <imageId>-<method>-<class index>.json');

  const other = run.classes.find((c) => c !== first.className)!;
  const otherClass = await call('explain.image', { runId: run.id, imageId: image.imageId, method: 'gradcam', className: other });
  assert.equal(otherClass.cached, false, 'another class is computed');
  assert.equal(otherClass.className, other, 'and explains the class asked for');
  assert.deepEqual(otherClass.top, first.top, 'the probabilities do not depend on the class explained');
  assert.equal((await call('explain.image', { runId: run.id, imageId: image.imageId, method: 'gradcam', className: other })).cached, true, 'then cached too');

  // The file's content changes under the same image: its cached explanations no longer apply.
  const previous = image.sha256;
  db().prepare('UPDATE images SET sha256 = ? WHERE id = ?').run('f'.repeat(64), image.imageId);
  try {
    const again = await call('explain.image', { runId: run.id, imageId: image.imageId, method: 'gradcam' });
    assert.equal(again.cached, false, 'an image whose content hash changed is explained again');
  } finally {
    db().prepare('UPDATE images SET sha256 = ? WHERE id = ?').run(previous, image.imageId);
  }
  await assert.rejects(
    call('explain.image', { runId: run.id, imageId: image.imageId, method: 'gradcam', className: 'purple' }),
    /does not know the class "purple"/,
    'an unknown class is refused by name',
  );
});

test("a training image's nearest training image is itself; neighbours are sorted and labelled", { skip }, async () => {
  const training = splitImages('train');
  const image = training[0]!;
  const started = performance.now();
  const neighbours = await call('eval.neighbours', { runId: run.id, imageId: image.imageId, count: 5 });
  const ms = performance.now() - started;
  console.log(`neighbours of a training image among ${training.length}: ${ms.toFixed(1)} ms; ${neighbours.map((n) => `${n.className}:${n.similarity.toFixed(3)}`).join(' ')}`);
  assert.equal(neighbours.length, 5, 'as many as asked for');
  assert.equal(neighbours[0]!.imageId, image.imageId, 'the image itself comes first');
  assert.ok(Math.abs(neighbours[0]!.similarity - 1) < 1e-5, `with similarity 1 (${neighbours[0]!.similarity})`);
  for (let i = 1; i < neighbours.length; i++) assert.ok(neighbours[i]!.similarity <= neighbours[i - 1]!.similarity, 'most similar first');
  const trainIds = new Set(training.map((t) => t.imageId));
  assert.ok(neighbours.every((n) => trainIds.has(n.imageId)), 'only training images');
  assert.ok(neighbours.every((n) => n.className !== null && run.classes.includes(n.className)), 'each with its class');

  const test = splitImages('test')[0]!;
  const ofTest = await call('eval.neighbours', { runId: run.id, imageId: test.imageId, count: 3 });
  assert.ok(ofTest.every((n) => n.imageId !== test.imageId && trainIds.has(n.imageId)), "a test image's neighbours are training images, never itself");
});
