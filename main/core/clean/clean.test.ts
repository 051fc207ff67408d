/**
 * The cleaning check end to end through the core's contract, on real TrashNet photos with
 * problems injected (flipped labels, near-duplicate copies, blurred and darkened copies,
 * chest X-rays as strays), plus an exact copy in two class folders and a truncated file.
 * Real decode workers, real wasm embeddings with the smallest shared backbone, real head
 * training for the label check. Then the review: dismiss, relabel, keep, undo, re-check.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { after, before, test } from 'node:test';
import type { EventMessage, FindingKind, FindingView, JobInfo, MethodName, ParamsOf, ResultOf } from '../../../shared/contract/index.ts';
import { injectProblems, type InjectedProblems } from '../../bench/clean-inject.ts';
import type { Core } from '../core.ts';
import { callCore, jobEnded, testCore } from '../core-calls.ts';

const DATA = nodePath.resolve(import.meta.dirname, '../../../../shared/data');
const MODELS = nodePath.resolve(import.meta.dirname, '../../../../shared/models');
const BACKBONE = 'mobilenet_v1_0.25_224';
const haveData = fs.existsSync(nodePath.join(DATA, 'trashnet')) && fs.existsSync(nodePath.join(MODELS, BACKBONE));
const skip = haveData ? false : `needs ../shared/data/trashnet and ../shared/models/${BACKBONE}`;

const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-clean-test-'));
let core: Core;
let injected: InjectedProblems;
const events: EventMessage[] = [];
let truncated: string;
let twin: { a: string; b: string };

const call = <M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> => callCore(core, method, params);
const waitJob = (jobId: string): Promise<JobInfo> => jobEnded(core, jobId, events);

async function check(kinds?: FindingKind[]): Promise<JobInfo> {
  const { jobId } = await call('clean.start', { backbone: BACKBONE, ...(kinds ? { kinds } : {}) });
  const job = await waitJob(jobId);
  assert.equal(job.status, 'done', `the check ended ${job.status}: ${job.error}`);
  return job;
}

async function findings(kind: FindingKind, state: 'open' | 'fixed' | 'dismissed' | 'all' = 'open'): Promise<FindingView[]> {
  return (await call('findings.list', { kinds: [kind], state, limit: 500 })).findings;
}

const pathsOf = (f: FindingView) => f.images.map((i) => i.path);

before(async () => {
  if (!haveData) return;
  process.env.SEEDBED_MODELS_DIR = MODELS;
  injected = await injectProblems({
    source: nodePath.join(DATA, 'trashnet'),
    outlierSource: nodePath.join(DATA, 'chest_xray'),
    out: nodePath.join(dir, 'data'),
    limitPerClass: 30,
    nearDuplicatesPerKind: 3,
    blurred: 4,
    darkened: 4,
    outliers: 3,
  });
  // The same file in two class folders, and a JPEG cut off half-way.
  const source = fs.readdirSync(nodePath.join(injected.root, 'paper')).sort().find((f) => !f.includes('__'))!;
  twin = { a: nodePath.join(injected.root, 'paper', source), b: nodePath.join(injected.root, 'cardboard', `copy-of-${source}`) };
  fs.copyFileSync(twin.a, twin.b);
  truncated = nodePath.join(injected.root, 'glass', 'cut-off.jpg');
  const whole = fs.readFileSync(nodePath.join(injected.root, 'glass', fs.readdirSync(nodePath.join(injected.root, 'glass')).sort()[0]!));
  fs.writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 3)));

  core = testCore(dir, { events });
  await call('project.create', { path: nodePath.join(dir, 'p.seedbed') });
  const { jobId } = await call('import.start', { paths: [injected.root], split: 'auto' });
  await waitJob(jobId);
  await call('splits.assign', {});
});

after(async () => {
  await core?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a check finds every kind of injected problem, and leaves the clean photos alone', { skip }, async () => {
  const job = await check();
  assert.ok(job.done === job.total, `progress ends complete (${job.done}/${job.total})`);

  const exact = await findings('exact_duplicate');
  assert.equal(exact.length, 1, 'one exact duplicate: the file copied into a second class folder');
  assert.deepEqual([...exact[0]!.files].sort(), [twin.a, twin.b].sort(), 'it names both paths');
  assert.ok(exact[0]!.spansClasses, 'the copies sit in two class folders: a label conflict');

  const corrupt = await findings('corrupt');
  assert.ok(corrupt.some((f) => f.files.includes(truncated) && /cut-off\.jpg/.test(f.explanation)), 'the truncated JPEG is reported by path');

  const blurry = new Set((await findings('blurry')).flatMap(pathsOf));
  const dark = new Set((await findings('dark')).flatMap(pathsOf));
  assert.ok(injected.blurred.filter((b) => blurry.has(b.path)).length >= 3, `blurred copies found: ${[...blurry].join(', ')}`);
  assert.ok(injected.darkened.filter((d) => dark.has(d.path)).length >= 3, `darkened copies found: ${[...dark].join(', ')}`);
  const originals = Object.keys(injected.truth).length - injected.nearDuplicates.length - injected.blurred.length - injected.darkened.length - injected.outliers.length;
  const flaggedOriginals = [...blurry, ...dark].filter((p) => !/__(blur|dark)\.jpg$/.test(p));
  assert.ok(flaggedOriginals.length <= Math.ceil(originals * 0.02), `originals flagged blurry or dark: ${flaggedOriginals.join(', ')}`);
  // Sharp photos of objects on a white background are not "low information" nor "too bright".
  const lowInfo = (await findings('low_information')).flatMap(pathsOf);
  assert.deepEqual(lowInfo, [], 'no TrashNet photo is low information');

  const near = await findings('near_duplicate');
  const groupOf = new Map(near.flatMap((f) => pathsOf(f).map((p) => [p, f] as const)));
  const caught = injected.nearDuplicates.filter((d) => groupOf.get(d.path) && pathsOf(groupOf.get(d.path)!).includes(d.original));
  assert.ok(caught.length >= injected.nearDuplicates.length - 1, `near-duplicates grouped with their original: ${caught.length}/${injected.nearDuplicates.length}`);
  // Two different photos of one object are not duplicates: cardboard11 and cardboard113 show one
  // box from two framings (the embeddings alone call them 94.5% alike). TrashNet's own burst
  // shots (paper101 and paper108: the same framing) are real near-duplicates and may be found.
  const base = (p: string) => nodePath.basename(p);
  for (const f of near) {
    const names = pathsOf(f).map(base);
    assert.ok(!(names.includes('cardboard11.jpg') && names.includes('cardboard113.jpg')), `two framings of one box were called duplicates: ${names.join(', ')}`);
    const originalsIn = names.filter((p) => !/__(nd_|blur|dark)/.test(p));
    assert.ok(originalsIn.length <= 2, `a near-duplicate group joins several different photos: ${names.join(', ')}`);
  }
  assert.ok(near.every((f) => f.suggestion?.action === 'keep'), 'groups suggest a copy to keep');

  const outliers = new Set((await findings('outlier')).flatMap(pathsOf));
  assert.ok(injected.outliers.filter((o) => outliers.has(o.path)).length >= 2, `chest X-rays among TrashNet are outliers: ${[...outliers].join(', ')}`);

  const issues = await findings('label_issue');
  const flipped = new Set(injected.flips.map((f) => f.path));
  const hits = issues.filter((f) => flipped.has(f.images[0]!.path));
  assert.ok(hits.length >= injected.flips.length * 0.4, `label issues found ${hits.length} of ${injected.flips.length} flips`);
  assert.ok(hits.length >= issues.length * 0.5, `label issues: ${hits.length} of ${issues.length} are real flips`);
  for (const f of hits) {
    const truth = injected.flips.find((x) => x.path === f.images[0]!.path)!;
    assert.equal(f.suggestion?.action, 'relabel', 'a label issue suggests a class');
  }
  const right = hits.filter((f) => f.suggestion?.action === 'relabel' && f.suggestion.className === injected.flips.find((x) => x.path === f.images[0]!.path)!.truth);
  assert.ok(right.length >= hits.length * 0.7, `suggested classes right for ${right.length} of ${hits.length}`);

  const overlap = await findings('class_overlap');
  assert.ok(overlap.length >= 1 && overlap[0]!.classes?.length === 2, 'class overlap names two classes');

  const health = await call('health.summary', {});
  assert.equal(health.findings.blurry.open, (await findings('blurry')).length, 'the health summary counts open findings');
  assert.ok(health.lastCheck && health.lastCheck.backbone === BACKBONE, 'the last check is recorded with its backbone');
  assert.equal(health.classes.length, 6, 'six classes');
});

test('review actions are undoable, recorded in label history, and dismissals survive a re-check', { skip }, async () => {
  const issue = (await findings('label_issue'))[0]!;
  const image = issue.images[0]!;
  assert.equal(issue.suggestion?.action, 'relabel', 'the first label issue suggests a class');
  const target = issue.suggestion!.action === 'relabel' ? issue.suggestion!.classId : 0;
  await call('findings.act', { findingIds: [issue.id], action: 'relabel' });
  let detail = await call('images.get', { id: image.id });
  assert.equal(detail.classId, target, 'relabelled to the suggestion');
  assert.equal(detail.labelHistory.at(-1)?.source, 'human', 'the relabel is in the label history as a person’s decision');
  assert.equal((await findings('label_issue', 'fixed')).some((f) => f.id === issue.id), true, 'the finding is fixed');
  const undone = await call('history.undo', {});
  assert.match(undone ?? '', /^Relabel 1 image as /, 'undo names the action');
  detail = await call('images.get', { id: image.id });
  assert.equal(detail.classId, image.classId, 'undo restores the label');
  assert.equal((await findings('label_issue')).some((f) => f.id === issue.id), true, 'undo reopens the finding');

  const group = (await findings('near_duplicate'))[0]!;
  const keeper = group.suggestion?.action === 'keep' ? group.suggestion.imageId : -1;
  await call('findings.act', { findingIds: [group.id], action: 'keep' });
  for (const i of group.images) {
    const d = await call('images.get', { id: i.id });
    assert.equal(d.status, i.id === keeper ? 'active' : 'excluded', `keep: ${d.path} is ${d.status}`);
  }

  const blurry = await findings('blurry');
  await call('findings.act', { findingIds: blurry.map((f) => f.id), action: 'dismiss' });
  await check(['blurry', 'dark']);
  assert.equal((await findings('blurry')).length, 0, 'dismissed findings stay dismissed after a re-check');
  assert.equal((await findings('blurry', 'dismissed')).length, blurry.length, 'and are all still there, dismissed');
  assert.ok((await findings('near_duplicate', 'fixed')).some((f) => f.id === group.id), 'a check of other kinds leaves the fixed group alone');

  await assert.rejects(call('findings.act', { findingIds: [999_999], action: 'dismiss' }), /no longer there/, 'an unknown finding is refused in words');
  await assert.rejects(call('findings.act', { findingIds: [blurry[0]!.id], action: 'relabel' }), /suggests no class/, 'a blurry image has no class to relabel to');
});

test('a cancelled check changes no finding, and a second check at once is refused', { skip }, async () => {
  const before = await call('findings.list', { state: 'all', limit: 500 });
  const { jobId } = await call('clean.start', { backbone: BACKBONE });
  await assert.rejects(call('clean.start', {}), /running already/, 'one check at a time');
  await call('jobs.cancel', { jobId });
  const job = await waitJob(jobId);
  assert.equal(job.status, 'cancelled', 'the check was cancelled');
  const after = await call('findings.list', { state: 'all', limit: 500 });
  assert.deepEqual(after.counts, before.counts, 'the findings are as they were');
});

test('the health report is one self-contained HTML file', { skip }, async () => {
  const out = nodePath.join(dir, 'report');
  const { path, bytes } = await call('health.report', { dir: out });
  const html = fs.readFileSync(path, 'utf8');
  assert.equal(Buffer.byteLength(html), bytes, 'the size reported is the size written');
  assert.ok(html.includes('data:image/jpeg;base64,'), 'thumbnails are embedded');
  assert.ok(!/(src|href)="https?:/.test(html), 'nothing is loaded from elsewhere');
});
