import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { CLASS_COLOURS } from '../../../shared/domain/palette.ts';
import { ensureClass } from './labels-store.ts';
import { TestProject } from './test-project.ts';

let project: TestProject;
beforeEach(() => {
  project = new TestProject();
});
afterEach(() => project.close());

const classRows = () =>
  project.db.prepare('SELECT id, name, colour, hotkey, position FROM classes ORDER BY position, id').all() as {
    id: number;
    name: string;
    colour: string;
    hotkey: number | null;
    position: number;
  }[];

async function create(name: string, colour?: string): Promise<number> {
  return (await project.must('classes.create', colour ? { name, colour } : { name })).id;
}

async function errorOf(result: Promise<{ ok: boolean; error?: { code: string; message: string } }>) {
  const r = await result;
  assert.equal(r.ok, false, 'the call fails');
  return r.error!;
}

describe('classes.create', () => {
  test('gives the next palette colour, the first free key 1–9 and the last position', async () => {
    const glass = await project.must('classes.create', { name: '  glass ' });
    assert.deepEqual(glass, { id: glass.id, name: 'glass', colour: CLASS_COLOURS[0], hotkey: 1, position: 0 });
    const metal = await project.must('classes.create', { name: 'metal', colour: '#AABBCC' });
    assert.deepEqual(metal, { id: metal.id, name: 'metal', colour: '#aabbcc', hotkey: 2, position: 1 });
    await create('paper');
    assert.equal(classRows()[2]!.colour, CLASS_COLOURS[1], 'a chosen colour does not use up a palette colour');
    for (let i = 4; i <= 10; i++) await create(`class ${i}`);
    const rows = classRows();
    assert.deepEqual(rows.map((r) => r.hotkey), [1, 2, 3, 4, 5, 6, 7, 8, 9, null]);
    // A freed key goes to the next new class.
    await project.must('classes.delete', { id: rows[1]!.id });
    assert.equal((await project.must('classes.create', { name: 'eleventh' })).hotkey, 2);
    assert.deepEqual((await project.must('classes.list', {})).map((c) => c.name).slice(-2), ['class 10', 'eleventh']);
  });

  test('refuses a name already used, whatever its case, with a clear message', async () => {
    await create('Glass');
    const error = await errorOf(project.call('classes.create', { name: 'gLASS' }));
    assert.equal(error.code, 'conflict');
    assert.equal(error.message, 'There is already a class named "Glass". Choose another name.');
    assert.equal(classRows().length, 1);
  });

  test('undo removes the new class, redo brings it back with the same id, colour and key', async () => {
    const id = await create('glass');
    const created = classRows();
    assert.equal((await project.must('history.state', {})).undoLabel, 'Create class glass');
    await project.must('history.undo', {});
    assert.deepEqual(classRows(), []);
    await project.must('history.redo', {});
    assert.deepEqual(classRows(), created);
    assert.equal(classRows()[0]!.id, id);
  });

  test('undoing the creation of a class an import has since used unlabels those images, with history', async () => {
    const id = await create('glass');
    const [image] = project.addImages([{ path: '/a.jpg' }]);
    assert.equal(ensureClass(project.db, 'GLASS'), id, 'the import finds the class by name');
    project.importLabels([image!], id);
    await project.must('history.undo', {});
    assert.equal(project.db.prepare('SELECT count(*) FROM labels').pluck().get(), 0);
    assert.deepEqual(
      project.db.prepare('SELECT class_name, source FROM label_history WHERE image_id = ? ORDER BY id').all(image),
      [
        { class_name: 'glass', source: 'imported' },
        { class_name: null, source: 'human' },
      ],
    );
  });
});

describe('classes.update', () => {
  test('renames and recolours; undo and redo each', async () => {
    const id = await create('glass');
    await create('metal');
    const initial = project.snapshot();
    assert.deepEqual(await project.must('classes.update', { id, name: 'bottles' }), {
      id,
      name: 'bottles',
      colour: CLASS_COLOURS[0],
      hotkey: 1,
      position: 0,
    });
    assert.equal((await project.must('history.state', {})).undoLabel, 'Rename class glass to bottles');
    await project.must('classes.update', { id, colour: '#123456' });
    assert.equal((await project.must('history.state', {})).undoLabel, 'Recolour class bottles');
    await project.must('classes.update', { id, name: 'jars', colour: '#654321' });
    assert.equal((await project.must('history.state', {})).undoLabel, 'Rename class bottles to jars and recolour it');
    const final = project.snapshot();
    for (let i = 0; i < 3; i++) await project.must('history.undo', {});
    assert.deepEqual(project.snapshot(), initial);
    for (let i = 0; i < 3; i++) await project.must('history.redo', {});
    assert.deepEqual(project.snapshot(), final);
  });

  test('may change the case of its own name, not take another class\'s name; unknown ids are not_found', async () => {
    const id = await create('glass');
    await create('Metal');
    assert.equal((await project.must('classes.update', { id, name: 'Glass' })).name, 'Glass');
    const taken = await errorOf(project.call('classes.update', { id, name: 'metal' }));
    assert.equal(taken.code, 'conflict');
    assert.match(taken.message, /"Metal"/);
    const missing = await errorOf(project.call('classes.update', { id: 404, name: 'x' }));
    assert.equal(missing.code, 'not_found');
    assert.match(missing.message, /404/);
  });

  test('an update that changes nothing adds no undo entry', async () => {
    const id = await create('glass');
    await project.must('history.undo', {});
    await project.must('history.redo', {});
    project.db.prepare('DELETE FROM history').run();
    await project.must('classes.update', { id, name: 'glass', colour: CLASS_COLOURS[0] });
    assert.equal((await project.must('history.state', {})).canUndo, false);
  });
});

describe('classes.reorder', () => {
  test('positions and keys 1–9 follow the new order, later classes have no key; undo restores', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 11; i++) ids.push(await create(`c${i}`));
    const initial = project.snapshot();
    // Reverse: keys trade places between classes, which the UNIQUE key must allow.
    const reversed = [...ids].reverse();
    const result = await project.must('classes.reorder', { ids: reversed });
    assert.deepEqual(result.map((c) => c.id), reversed);
    assert.deepEqual(result.map((c) => c.position), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(result.map((c) => c.hotkey), [1, 2, 3, 4, 5, 6, 7, 8, 9, null, null]);
    assert.deepEqual(classRows().map((c) => [c.id, c.hotkey]), reversed.map((id, i) => [id, i < 9 ? i + 1 : null]));
    assert.equal((await project.must('history.state', {})).undoLabel, 'Reorder classes');
    const reordered = project.snapshot();
    await project.must('history.undo', {});
    assert.deepEqual(project.snapshot(), initial);
    await project.must('history.redo', {});
    assert.deepEqual(project.snapshot(), reordered);
  });

  test('needs every class exactly once', async () => {
    const a = await create('a');
    const b = await create('b');
    assert.equal((await errorOf(project.call('classes.reorder', { ids: [a] }))).code, 'invalid_input');
    assert.equal((await errorOf(project.call('classes.reorder', { ids: [a, b, a] }))).code, 'invalid_input');
    assert.equal((await errorOf(project.call('classes.reorder', { ids: [a, 77] }))).code, 'not_found');
    assert.deepEqual(classRows().map((c) => c.id), [a, b]);
  });
});

describe('classes.merge', () => {
  test('moves every image of the source (excluded ones too) to the target, with history, and deletes the source', async () => {
    const glass = await create('glass');
    const jars = await create('jars');
    const metal = await create('metal');
    const ids = project.addImages([
      { path: '/1.jpg' },
      { path: '/2.jpg', status: 'excluded' },
      { path: '/3.jpg' },
      { path: '/4.jpg' },
    ]);
    project.importLabels([ids[0]!, ids[1]!], jars, 2_000);
    await project.must('labels.set', { imageIds: [ids[2]!], classId: jars });
    project.importLabels([ids[3]!], glass, 2_000);
    const initial = project.snapshot();
    const historyBefore = project.db.prepare('SELECT count(*) FROM label_history').pluck().get() as number;

    assert.deepEqual(await project.must('classes.merge', { sourceId: jars, targetId: glass }), { moved: 3 });
    assert.deepEqual(classRows().map((c) => c.name), ['glass', 'metal']);
    assert.deepEqual(
      project.db.prepare('SELECT image_id, class_id, source FROM labels ORDER BY image_id').all(),
      ids.map((id) => ({ image_id: id, class_id: glass, source: id === ids[3] ? 'imported' : 'human' })),
    );
    assert.deepEqual(
      project.db.prepare('SELECT class_name, source FROM label_history WHERE id > ? ORDER BY id').all(historyBefore),
      [0, 1, 2].map(() => ({ class_name: 'glass', source: 'human' })),
    );
    assert.equal((await project.must('history.state', {})).undoLabel, 'Merge class jars into glass (3 images moved)');
    const merged = project.snapshot();

    await project.must('history.undo', {});
    assert.deepEqual(project.snapshot(), initial, 'jars is back with its id, colour, key and position, and its images');
    await project.must('history.redo', {});
    assert.deepEqual(project.snapshot(), merged);
    assert.ok(metal);
  });

  test('refuses merging a class into itself or with an unknown class', async () => {
    const glass = await create('glass');
    assert.equal((await errorOf(project.call('classes.merge', { sourceId: glass, targetId: glass }))).code, 'invalid_input');
    assert.equal((await errorOf(project.call('classes.merge', { sourceId: glass, targetId: 55 }))).code, 'not_found');
    assert.equal((await errorOf(project.call('classes.merge', { sourceId: 55, targetId: glass }))).code, 'not_found');
    assert.equal(classRows().length, 1);
  });
});

describe('classes.delete', () => {
  test('unlabels its images with history and returns how many; undo restores class and labels exactly', async () => {
    const glass = await create('glass');
    const trash = await create('trash');
    const paper = await create('paper');
    const ids = project.addImages([{ path: '/1.jpg' }, { path: '/2.jpg', status: 'excluded' }, { path: '/3.jpg' }]);
    project.importLabels([ids[0]!, ids[1]!], trash, 2_000);
    await project.must('labels.set', { imageIds: [ids[2]!], classId: trash });
    const initial = project.snapshot();

    assert.deepEqual(await project.must('classes.delete', { id: trash }), { unlabeled: 3 });
    assert.deepEqual(classRows().map((c) => [c.name, c.hotkey]), [
      ['glass', 1],
      ['paper', 3],
    ]);
    assert.equal(project.db.prepare('SELECT count(*) FROM labels').pluck().get(), 0);
    const detail = await project.must('images.get', { id: ids[0]! });
    assert.deepEqual(
      detail.labelHistory.map((h) => [h.className, h.source]),
      [
        ['trash', 'imported'],
        [null, 'human'],
      ],
    );
    assert.equal((await project.must('history.state', {})).undoLabel, 'Delete class trash (3 images unlabeled)');
    const deleted = project.snapshot();

    await project.must('history.undo', {});
    assert.deepEqual(project.snapshot(), initial);
    const restored = await project.must('images.get', { id: ids[0]! });
    assert.deepEqual(restored.labelHistory.at(-1), { at: restored.labelHistory.at(-1)!.at, className: 'trash', source: 'imported' });
    assert.equal(restored.labelSource, 'imported');
    await project.must('history.redo', {});
    assert.deepEqual(project.snapshot(), deleted);
    assert.ok(glass && paper);
  });

  test('an unknown class is not_found', async () => {
    const error = await errorOf(project.call('classes.delete', { id: 12 }));
    assert.equal(error.code, 'not_found');
  });

  test('when an import took the name of a deleted class, its undo fails clearly and leaves the list', async () => {
    const trash = await create('trash');
    await create('glass');
    await project.must('classes.delete', { id: trash });
    ensureClass(project.db, 'Trash');
    const before = project.snapshot();
    const error = await errorOf(project.call('history.undo', {}));
    assert.equal(error.code, 'conflict');
    assert.match(error.message, /could not undo "Delete class trash \(0 images unlabeled\)"/);
    assert.match(error.message, /"Trash"/);
    assert.deepEqual(project.snapshot(), before, 'nothing half-done');
    // The entry is gone; the one before it (create glass) is next.
    assert.equal((await project.must('history.state', {})).undoLabel, 'Create class glass');
    assert.ok(project.emitted.some((m) => m.event === 'history.changed'));
  });
});
