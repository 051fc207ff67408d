import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { TestProject } from '../data/test-project.ts';
import { findingKey, listFindings, openFindingCounts, replaceFindings, setFindingState, type DetectedFinding } from './findings-store.ts';

const projects: TestProject[] = [];
after(() => projects.forEach((p) => p.close()));

function project(): { p: TestProject; ids: number[] } {
  const p = new TestProject();
  projects.push(p);
  const ids = p.addImages(['/d/a.jpg', '/d/b.jpg', '/d/c.jpg', '/d/d.jpg'].map((path) => ({ path })));
  return { p, ids };
}

const blurry = (imageId: number, score = 0.8): DetectedFinding => ({ kind: 'blurry', imageIds: [imageId], score, explanation: `Image ${imageId} is blurry.` });

test('a finding is keyed by its kind and its images\' contents, not by ids or order', () => {
  const { p, ids } = project();
  const db = p.store.db;
  assert.equal(findingKey(db, 'near_duplicate', [ids[0]!, ids[1]!]), findingKey(db, 'near_duplicate', [ids[1]!, ids[0]!]));
  assert.notEqual(findingKey(db, 'near_duplicate', [ids[0]!, ids[1]!]), findingKey(db, 'exact_duplicate', [ids[0]!, ids[1]!]));
  assert.throws(() => findingKey(db, 'blurry', [999]), /not in the project/);
});

test('running a detector again keeps decisions: dismissed stays dismissed, gone problems disappear, new ones are added', () => {
  const { p, ids } = project();
  const db = p.store.db;
  const [a, b, c, d] = ids as [number, number, number, number];
  assert.deepEqual(replaceFindings(db, ['blurry', 'dark'], [blurry(a), blurry(b), { kind: 'dark', imageIds: [c], score: 0.7, explanation: 'Dark.' }], 10), {
    added: 3,
    kept: 0,
    removed: 0,
    stillDismissed: 0,
  });
  const first = listFindings(db, { kinds: ['blurry'] });
  assert.deepEqual(first.map((f) => f.imageIds), [[a], [b]]);
  const dismissed = first.find((f) => f.imageIds[0] === a)!;
  assert.equal(setFindingState(db, [dismissed.id], 'dismissed', 20), 1);

  // Second run of blurry only: a still blurry (dismissed), b no longer, d newly blurry; dark is untouched.
  assert.deepEqual(replaceFindings(db, ['blurry'], [blurry(a, 0.9), blurry(d)], 30), { added: 1, kept: 1, removed: 1, stillDismissed: 1 });
  const again = listFindings(db, { kinds: ['blurry'] });
  assert.deepEqual(again.map((f) => [f.imageIds[0], f.state]), [[a, 'dismissed'], [d, 'open']]);
  assert.equal(again[0]!.id, dismissed.id, 'the same finding, not a new one');
  assert.equal(again[0]!.score, 0.9);
  assert.deepEqual(openFindingCounts(db), { blurry: 1, dark: 1 });
  assert.deepEqual(listFindings(db, { state: 'dismissed' }).map((f) => f.id), [dismissed.id]);
});

test('group findings keep their images in order, and deleting an image takes it out of its findings', () => {
  const { p, ids } = project();
  const db = p.store.db;
  replaceFindings(db, ['near_duplicate'], [{ kind: 'near_duplicate', imageIds: [ids[2]!, ids[0]!, ids[1]!], score: 0.97, explanation: 'Three copies.', suggestion: { action: 'keep', imageId: ids[2] } }]);
  const [group] = listFindings(db);
  assert.deepEqual(group!.imageIds, [ids[2], ids[0], ids[1]]);
  assert.deepEqual(group!.suggestion, { action: 'keep', imageId: ids[2] });
  db.prepare('DELETE FROM images WHERE id = ?').run(ids[0]);
  assert.deepEqual(listFindings(db)[0]!.imageIds, [ids[2], ids[1]]);
  assert.throws(() => replaceFindings(db, ['blurry'], [{ kind: 'dark', imageIds: [ids[1]!], score: 1, explanation: 'x' }]), /came from a run of blurry/);
});

test('a corrupt file that never became an image is a finding about its path, recognised again by it', () => {
  const { p } = project();
  const db = p.store.db;
  const corrupt = { kind: 'corrupt' as const, imageIds: [], files: ['/d/broken.jpg'], score: 1, explanation: '/d/broken.jpg is not a readable JPEG.' };
  replaceFindings(db, ['corrupt'], [corrupt], 10);
  const [found] = listFindings(db, { kinds: ['corrupt'] });
  assert.deepEqual(found!.files, ['/d/broken.jpg']);
  assert.deepEqual(found!.imageIds, []);
  setFindingState(db, [found!.id], 'dismissed');
  assert.deepEqual(replaceFindings(db, ['corrupt'], [corrupt], 20), { added: 0, kept: 1, removed: 0, stillDismissed: 1 });
  assert.throws(() => replaceFindings(db, ['corrupt'], [{ ...corrupt, files: [] }]), /names no image and no file/);
});
