import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { TestProject } from './test-project.ts';

let project: TestProject;
beforeEach(() => {
  project = new TestProject();
});
afterEach(() => project.close());

const historyRows = () =>
  project.db
    .prepare('SELECT image_id AS imageId, class_id AS classId, class_name AS className, source FROM label_history ORDER BY id')
    .all() as { imageId: number; classId: number | null; className: string | null; source: string }[];

async function seed() {
  const glass = (await project.must('classes.create', { name: 'glass' })).id;
  const metal = (await project.must('classes.create', { name: 'metal' })).id;
  const ids = project.addImages(Array.from({ length: 6 }, (_, i) => ({ path: `/img/${i}.jpg` })));
  // 0, 1: imported glass; 2: imported metal; 3–5 unlabeled.
  project.importLabels(ids.slice(0, 2), glass, 2_000);
  project.importLabels(ids.slice(2, 3), metal, 3_000);
  project.db.prepare('DELETE FROM history').run(); // start with an empty undo list
  return { glass, metal, ids };
}

describe('labels.set', () => {
  test('labels images as the person\'s, skips those already in the class, and writes history', async () => {
    const { glass, metal, ids } = await seed();
    const result = await project.must('labels.set', { imageIds: [ids[0]!, ids[2]!, ids[3]!, ids[3]!], classId: glass });
    assert.deepEqual(result, { changed: 2 }, 'image 0 already was glass; a repeated id counts once');
    const labels = project.db.prepare('SELECT image_id, class_id, source FROM labels ORDER BY image_id').all();
    assert.deepEqual(labels, [
      { image_id: ids[0], class_id: glass, source: 'imported' },
      { image_id: ids[1], class_id: glass, source: 'imported' },
      { image_id: ids[2], class_id: glass, source: 'human' },
      { image_id: ids[3], class_id: glass, source: 'human' },
    ]);
    assert.deepEqual(historyRows().slice(-2), [
      { imageId: ids[2], classId: glass, className: 'glass', source: 'human' },
      { imageId: ids[3], classId: glass, className: 'glass', source: 'human' },
    ]);
    const state = await project.must('history.state', {});
    assert.deepEqual(state, { canUndo: true, canRedo: false, undoLabel: 'Label 2 images as glass', redoLabel: null });
    assert.ok(metal);
  });

  test('undo puts back each image\'s previous label and source exactly; redo re-applies it', async () => {
    const { glass, metal, ids } = await seed();
    const initial = project.snapshot();
    const historyBefore = historyRows().length;
    await project.must('labels.set', { imageIds: ids, classId: metal });
    const labelled = project.snapshot();
    assert.equal(project.db.prepare('SELECT count(*) FROM labels WHERE class_id = ?').pluck().get(metal), 6);

    assert.equal(await project.must('history.undo', {}), 'Label 5 images as metal');
    assert.deepEqual(project.snapshot(), initial, 'labels, sources and times are as before');
    // The undo is itself history: 0 and 1 back to glass (imported), 3–5 unlabeled.
    const undoRows = historyRows().slice(historyBefore + 5);
    assert.deepEqual(
      undoRows.map((r) => [r.imageId, r.className, r.source]).sort((x, y) => Number(x[0]) - Number(y[0])),
      [
        [ids[0], 'glass', 'imported'],
        [ids[1], 'glass', 'imported'],
        [ids[3], null, 'human'],
        [ids[4], null, 'human'],
        [ids[5], null, 'human'],
      ],
    );
    assert.deepEqual(await project.must('history.state', {}), {
      canUndo: false,
      canRedo: true,
      undoLabel: null,
      redoLabel: 'Label 5 images as metal',
    });

    assert.equal(await project.must('history.redo', {}), 'Label 5 images as metal');
    assert.deepEqual(project.snapshot(), labelled);
    assert.equal(historyRows().length, historyBefore + 15, 'set, undo and redo each wrote 5 rows');
    assert.ok(glass);
  });

  test('removing labels (classId null) and undoing it', async () => {
    const { glass, ids } = await seed();
    const initial = project.snapshot();
    assert.deepEqual(await project.must('labels.set', { imageIds: [ids[0]!, ids[4]!], classId: null }), { changed: 1 });
    assert.equal(project.db.prepare('SELECT count(*) FROM labels').pluck().get(), 2);
    assert.deepEqual(historyRows().at(-1), { imageId: ids[0], classId: null, className: null, source: 'human' });
    assert.equal((await project.must('history.state', {})).undoLabel, 'Remove the label from 1 image');
    await project.must('history.undo', {});
    assert.deepEqual(project.snapshot(), initial);
    assert.deepEqual(historyRows().at(-1), { imageId: ids[0], classId: glass, className: 'glass', source: 'imported' });
  });

  test('a change that changes nothing adds no undo entry and emits nothing', async () => {
    const { glass, ids } = await seed();
    project.emitted.length = 0;
    assert.deepEqual(await project.must('labels.set', { imageIds: [ids[0]!], classId: glass }), { changed: 0 });
    assert.equal((await project.must('history.state', {})).canUndo, false);
    assert.deepEqual(project.emitted, []);
  });

  test('emits dataset.changed and history.changed after a change', async () => {
    const { glass, ids } = await seed();
    project.emitted.length = 0;
    await project.must('labels.set', { imageIds: [ids[4]!], classId: glass });
    assert.deepEqual(project.emitted, [
      { event: 'dataset.changed', data: { reason: 'labels' } },
      {
        event: 'history.changed',
        data: { canUndo: true, canRedo: false, undoLabel: 'Label 1 image as glass', redoLabel: null },
      },
    ]);
  });

  test('unknown images and classes are not_found and change nothing', async () => {
    const { glass, ids } = await seed();
    const before = project.snapshot();
    const badImage = await project.call('labels.set', { imageIds: [ids[0]!, 777, 778], classId: glass });
    assert.equal(!badImage.ok && badImage.error.code, 'not_found');
    assert.match(!badImage.ok ? badImage.error.message : '', /777, 778/);
    const badClass = await project.call('labels.set', { imageIds: [ids[3]!], classId: 999 });
    assert.equal(!badClass.ok && badClass.error.code, 'not_found');
    assert.match(!badClass.ok ? badClass.error.message : '', /class/);
    assert.deepEqual(project.snapshot(), before);
    assert.equal((await project.must('history.state', {})).canUndo, false);
  });

  test('a large selection is one undo entry', async () => {
    const { metal } = await seed();
    const many = project.addImages(Array.from({ length: 3000 }, (_, i) => ({ path: `/many/${i}.jpg` })));
    const before = project.snapshot();
    assert.deepEqual(await project.must('labels.set', { imageIds: many, classId: metal }), { changed: 3000 });
    assert.equal(project.db.prepare('SELECT count(*) FROM history').pluck().get(), 1);
    assert.equal(await project.must('history.undo', {}), 'Label 3,000 images as metal');
    assert.deepEqual(project.snapshot(), before);
  });
});

describe('exclude and restore', () => {
  test('exclude hides images, restore brings them back, both undoable; files are a status only', async () => {
    const { ids } = await seed();
    project.db.prepare("UPDATE images SET status = 'excluded' WHERE id = ?").run(ids[5]);
    const initial = project.snapshot();
    assert.deepEqual(await project.must('images.exclude', { imageIds: [ids[0]!, ids[1]!, ids[5]!] }), { changed: 2 });
    assert.equal((await project.must('history.state', {})).undoLabel, 'Exclude 2 images');
    assert.deepEqual(await project.must('images.ids', { filter: { status: 'excluded' } }), [ids[0], ids[1], ids[5]]);

    assert.equal(await project.must('history.undo', {}), 'Exclude 2 images');
    assert.deepEqual(project.snapshot(), initial, 'image 5 stays excluded: it was before');
    await project.must('history.redo', {});
    assert.deepEqual(await project.must('images.ids', { filter: { status: 'excluded' } }), [ids[0], ids[1], ids[5]]);

    assert.deepEqual(await project.must('images.restore', { imageIds: [ids[0]!, ids[5]!, ids[3]!] }), { changed: 2 });
    assert.equal((await project.must('history.state', {})).undoLabel, 'Restore 2 images');
    assert.deepEqual(await project.must('images.ids', { filter: { status: 'excluded' } }), [ids[1]]);
    await project.must('history.undo', {});
    assert.deepEqual(await project.must('images.ids', { filter: { status: 'excluded' } }), [ids[0], ids[1], ids[5]]);
    // Labels survive exclusion.
    assert.equal(project.db.prepare('SELECT count(*) FROM labels').pluck().get(), 3);
  });

  test('excluding an unknown image is not_found', async () => {
    await seed();
    const result = await project.call('images.exclude', { imageIds: [31337] });
    assert.equal(!result.ok && result.error.code, 'not_found');
  });
});

describe('tags.set', () => {
  test('sets, changes and removes a tag, each undoable back to the exact previous values', async () => {
    const { ids } = await seed();
    const tagsOf = async (id: number) => (await project.must('images.get', { id })).tags;
    const initial = project.snapshot();

    assert.deepEqual(await project.must('tags.set', { imageIds: [ids[0]!, ids[1]!], key: 'site', value: 'north' }), { changed: 2 });
    assert.equal((await project.must('history.state', {})).undoLabel, 'Tag 2 images site=north');
    const afterFirst = project.snapshot();
    assert.deepEqual(await project.must('tags.set', { imageIds: [ids[1]!, ids[2]!], key: 'site', value: ' south ' }), { changed: 2 });
    assert.deepEqual(await tagsOf(ids[1]!), { site: 'south' }, 'values are trimmed');
    assert.deepEqual(await tagsOf(ids[0]!), { site: 'north' });
    const afterSecond = project.snapshot();

    assert.deepEqual(await project.must('tags.set', { imageIds: [ids[0]!, ids[1]!, ids[2]!, ids[3]!], key: 'site', value: null }), {
      changed: 3,
    });
    assert.equal((await project.must('history.state', {})).undoLabel, 'Remove tag site from 3 images');
    assert.equal(project.db.prepare('SELECT count(*) FROM tags').pluck().get(), 0);

    await project.must('history.undo', {});
    assert.deepEqual(project.snapshot(), afterSecond, 'north and south come back where they were');
    await project.must('history.undo', {});
    assert.deepEqual(project.snapshot(), afterFirst, 'image 1 is north again, image 2 untagged');
    await project.must('history.undo', {});
    assert.deepEqual(project.snapshot(), initial);
    await project.must('history.redo', {});
    await project.must('history.redo', {});
    assert.deepEqual(project.snapshot(), afterSecond);
  });

  test('tags with a key only (empty value) and keys that look like object internals', async () => {
    const { ids } = await seed();
    await project.must('tags.set', { imageIds: [ids[0]!], key: 'reviewed', value: '' });
    assert.equal((await project.must('history.state', {})).undoLabel, 'Tag 1 image reviewed');
    await project.must('tags.set', { imageIds: [ids[0]!], key: '__proto__', value: 'x' });
    const detail = await project.must('images.get', { id: ids[0]! });
    assert.deepEqual(Object.entries(detail.tags).sort(), [
      ['__proto__', 'x'],
      ['reviewed', ''],
    ]);
    const summary = await project.must('dataset.summary', {});
    assert.deepEqual(
      Object.entries(summary.tags)
        .map(([key, values]) => [key, Object.entries(values)])
        .sort(),
      [
        ['__proto__', [['x', 1]]],
        ['reviewed', [['', 1]]],
      ],
    );
  });
});
