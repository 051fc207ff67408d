import assert from 'node:assert/strict';
import fs from 'node:fs';
import nodePath from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { HISTORY_LIMIT } from './history.ts';
import { TestProject } from './test-project.ts';

let project: TestProject;
beforeEach(() => {
  project = new TestProject();
});
afterEach(() => project.close());

const state = () => project.must('history.state', {});

describe('undo and redo', () => {
  test('with nothing to undo or redo they return null and emit nothing', async () => {
    assert.equal(await project.must('history.undo', {}), null);
    assert.equal(await project.must('history.redo', {}), null);
    assert.deepEqual(await state(), { canUndo: false, canRedo: false, undoLabel: null, redoLabel: null });
    assert.deepEqual(project.emitted, []);
  });

  test('a new action clears the redo list', async () => {
    const glass = (await project.must('classes.create', { name: 'glass' })).id;
    const [a, b] = project.addImages([{ path: '/a.jpg' }, { path: '/b.jpg' }]);
    await project.must('labels.set', { imageIds: [a!], classId: glass });
    await project.must('images.exclude', { imageIds: [b!] });
    await project.must('history.undo', {});
    await project.must('history.undo', {});
    assert.deepEqual(await state(), {
      canUndo: true,
      canRedo: true,
      undoLabel: 'Create class glass',
      redoLabel: 'Label 1 image as glass',
    });
    await project.must('tags.set', { imageIds: [b!], key: 'site', value: 'x' });
    assert.deepEqual(await state(), { canUndo: true, canRedo: false, undoLabel: 'Tag 1 image site=x', redoLabel: null });
    assert.equal(await project.must('history.redo', {}), null);
    assert.equal(project.db.prepare("SELECT count(*) FROM history WHERE state = 'undone'").pluck().get(), 0);
  });

  test('a mixed session undone step by step passes through every earlier state, and redone comes back', async () => {
    const [a, b, c] = project.addImages([{ path: '/a.jpg' }, { path: '/b.jpg' }, { path: '/c.jpg' }]);
    const states = [project.snapshot()];
    const labels: string[] = [];
    const step = async (run: () => Promise<unknown>) => {
      await run();
      states.push(project.snapshot());
      labels.push((await state()).undoLabel!);
    };
    let glass = 0;
    let metal = 0;
    await step(async () => (glass = (await project.must('classes.create', { name: 'glass' })).id));
    await step(async () => (metal = (await project.must('classes.create', { name: 'metal' })).id));
    await step(() => project.must('labels.set', { imageIds: [a!, b!], classId: glass }));
    await step(() => project.must('labels.set', { imageIds: [b!, c!], classId: metal }));
    await step(() => project.must('tags.set', { imageIds: [a!, c!], key: 'site', value: 'north' }));
    await step(() => project.must('images.exclude', { imageIds: [c!] }));
    await step(() => project.must('classes.update', { id: metal, name: 'steel', colour: '#101010' }));
    await step(() => project.must('classes.reorder', { ids: [metal, glass] }));
    await step(() => project.must('classes.merge', { sourceId: metal, targetId: glass }));
    await step(() => project.must('labels.set', { imageIds: [a!], classId: null }));
    await step(() => project.must('classes.delete', { id: glass }));
    await step(() => project.must('images.restore', { imageIds: [c!] }));

    for (let i = states.length - 1; i > 0; i--) {
      assert.equal(await project.must('history.undo', {}), labels[i - 1]);
      assert.deepEqual(project.snapshot(), states[i - 1], `undo of "${labels[i - 1]}"`);
    }
    assert.equal((await state()).canUndo, false);
    for (let i = 1; i < states.length; i++) {
      assert.equal(await project.must('history.redo', {}), labels[i - 1]);
      assert.deepEqual(project.snapshot(), states[i], `redo of "${labels[i - 1]}"`);
    }
    assert.equal((await state()).canRedo, false);
  });

  test('every undo and redo emits dataset.changed and history.changed', async () => {
    await project.must('classes.create', { name: 'glass' });
    project.emitted.length = 0;
    await project.must('history.undo', {});
    await project.must('history.redo', {});
    assert.deepEqual(
      project.emitted.map((m) => (m.event === 'dataset.changed' ? `${m.event}:${(m.data as { reason: string }).reason}` : m.event)),
      ['dataset.changed:undo', 'history.changed', 'dataset.changed:redo', 'history.changed'],
    );
    assert.deepEqual(project.emitted[1]!.data, { canUndo: false, canRedo: true, undoLabel: null, redoLabel: 'Create class glass' });
  });

  test('the undo list survives closing and reopening the project', async () => {
    const glass = (await project.must('classes.create', { name: 'glass' })).id;
    const [a] = project.addImages([{ path: '/a.jpg' }]);
    await project.must('labels.set', { imageIds: [a!], classId: glass });
    await project.must('images.exclude', { imageIds: [a!] });
    await project.must('history.undo', {});
    const before = project.snapshot();
    project.reopen();
    assert.deepEqual(project.snapshot(), before);
    assert.deepEqual(await state(), {
      canUndo: true,
      canRedo: true,
      undoLabel: 'Label 1 image as glass',
      redoLabel: 'Exclude 1 image',
    });
    await project.must('history.undo', {});
    assert.equal(project.db.prepare('SELECT count(*) FROM labels').pluck().get(), 0);
    await project.must('history.redo', {});
    await project.must('history.redo', {});
    assert.equal(project.db.prepare('SELECT status FROM images').pluck().get(), 'excluded');
  });

  test(`keeps the newest ${HISTORY_LIMIT} actions`, async () => {
    const [a] = project.addImages([{ path: '/a.jpg' }]);
    const total = HISTORY_LIMIT + 5;
    for (let i = 0; i < total; i++) await project.must('tags.set', { imageIds: [a!], key: 'n', value: String(i) });
    assert.equal(project.db.prepare('SELECT count(*) FROM history').pluck().get(), HISTORY_LIMIT);
    let undone = 0;
    while ((await project.must('history.undo', {})) !== null) undone++;
    assert.equal(undone, HISTORY_LIMIT);
    // The oldest five fell off: the value written by action 5 (index 4) is what is left.
    assert.deepEqual((await project.must('images.get', { id: a! })).tags, { n: '4' });
  });

  test('never touches image files', async () => {
    const folder = nodePath.join(project.dir, 'photos');
    fs.mkdirSync(folder);
    const file = nodePath.join(folder, 'a.jpg');
    fs.writeFileSync(file, 'not really a jpeg, but bytes to keep');
    const stat = fs.statSync(file);
    const glass = (await project.must('classes.create', { name: 'glass' })).id;
    const [a] = project.addImages([{ path: file }]);
    await project.must('labels.set', { imageIds: [a!], classId: glass });
    await project.must('images.exclude', { imageIds: [a!] });
    await project.must('classes.delete', { id: glass });
    while ((await project.must('history.undo', {})) !== null);
    while ((await project.must('history.redo', {})) !== null);
    assert.deepEqual(fs.readdirSync(folder), ['a.jpg']);
    assert.equal(fs.readFileSync(file, 'utf8'), 'not really a jpeg, but bytes to keep');
    assert.equal(fs.statSync(file).mtimeMs, stat.mtimeMs);
  });
});
