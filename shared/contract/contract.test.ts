import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EVENT_NAMES, isMethodName, methods, parseParams, type MethodName } from './index.ts';

function rejects(method: MethodName, params: unknown, message: RegExp, path?: string) {
  const result = parseParams(method, params);
  assert.equal(result.ok, false, `${method} ${JSON.stringify(params)} is refused`);
  if (result.ok) return;
  assert.equal(result.error.code, 'invalid_input');
  assert.match(result.error.message, message);
  if (path !== undefined) assert.ok(result.error.message.endsWith(`(${path})`), `"${result.error.message}" names ${path}`);
  assert.ok(Array.isArray(result.error.detail));
}

function accepts(method: MethodName, params: unknown): unknown {
  const result = parseParams(method, params);
  assert.ok(result.ok, `${method} ${JSON.stringify(params)} is accepted: ${!result.ok ? result.error.message : ''}`);
  return result.value;
}

describe('contract validation', () => {
  test('ids must be positive integers', () => {
    rejects('images.get', { id: 1.5 }, /Ids are whole numbers/, 'id');
    rejects('images.get', { id: 0 }, /Ids are positive numbers/, 'id');
    rejects('images.get', { id: '12' }, /Expected an id \(a whole number\)/, 'id');
    rejects('labels.set', { imageIds: [1, 2, -3], classId: 1 }, /Ids are positive numbers/, 'imageIds.2');
    rejects('labels.set', { imageIds: [1], classId: 2.5 }, /Ids are whole numbers/, 'classId');
    rejects('classes.merge', { sourceId: 1, targetId: Number.NaN }, /./, 'targetId');
    assert.deepEqual(accepts('labels.set', { imageIds: [1, 2], classId: null }), { imageIds: [1, 2], classId: null });
  });

  test('class names are trimmed and must not be empty or too long', () => {
    rejects('classes.create', { name: '' }, /^A class needs a name\./, 'name');
    rejects('classes.create', { name: '    ' }, /^A class needs a name\./, 'name');
    rejects('classes.create', { name: 'x'.repeat(81) }, /at most 80 characters/, 'name');
    rejects('classes.update', { id: 1, name: ' ' }, /A class needs a name/);
    assert.deepEqual(accepts('classes.create', { name: '  glass  ' }), { name: 'glass' });
  });

  test('colours are #rrggbb', () => {
    for (const colour of ['red', '#fff', '#12345g', '123456', '#1234567']) {
      rejects('classes.create', { name: 'glass', colour }, /Colours are written as #rrggbb\./, 'colour');
    }
    assert.deepEqual(accepts('classes.update', { id: 3, colour: '#A0b1C2' }), { id: 3, colour: '#A0b1C2' });
  });

  test('unknown fields and missing fields are refused', () => {
    rejects('labels.set', { imageIds: [1], classId: 1, extra: true }, /extra|unrecognized/i);
    rejects('labels.set', { imageIds: [1] }, /./, 'classId');
    rejects('dataset.summary', { anything: 1 }, /anything|unrecognized/i);
    assert.deepEqual(accepts('dataset.summary', undefined), {});
    assert.deepEqual(accepts('history.undo', null), {});
  });

  test('tags: keys cannot hold "=" or start with a space; a null value removes', () => {
    rejects('tags.set', { imageIds: [1], key: 'a=b', value: 'x' }, /cannot contain "="/, 'key');
    rejects('tags.set', { imageIds: [1], key: '   ', value: 'x' }, /A tag needs a key\./, 'key');
    rejects('tags.set', { imageIds: [1], key: 'site', value: 'v'.repeat(257) }, /./, 'value');
    assert.deepEqual(accepts('tags.set', { imageIds: [1], key: ' site ', value: null }), { imageIds: [1], key: 'site', value: null });
  });

  test('gallery queries: bounded page size, known splits and statuses', () => {
    const filter = { classIds: [1], unlabeled: true, splits: ['train', 'none'], status: 'all', search: '100%', tag: { key: 'k' } };
    assert.deepEqual(accepts('images.query', { filter, offset: 0, limit: 200 }), { filter, offset: 0, limit: 200 });
    rejects('images.query', { filter: {}, offset: 0, limit: 0 }, /./, 'limit');
    rejects('images.query', { filter: {}, offset: 0, limit: 2001 }, /./, 'limit');
    rejects('images.query', { filter: {}, offset: -1, limit: 10 }, /./, 'offset');
    rejects('images.query', { filter: { splits: ['holdout'] }, offset: 0, limit: 10 }, /./, 'filter.splits.0');
    rejects('images.query', { filter: { status: 'deleted' }, offset: 0, limit: 10 }, /./, 'filter.status');
    rejects('images.ids', { filter: { classIds: [0] } }, /./, 'filter.classIds.0');
  });

  test('method and event names', () => {
    assert.ok(isMethodName('labels.set'));
    assert.ok(!isMethodName('labels.drop'));
    assert.ok(!isMethodName('toString'), 'inherited object keys are not methods');
    for (const name of Object.keys(methods)) assert.match(name, /^[a-z]+\.[a-zA-Z]+$/);
    assert.deepEqual([...EVENT_NAMES].sort(), ['dataset.changed', 'findings.changed', 'history.changed', 'job.done', 'job.progress', 'project.changed', 'run.epoch', 'runs.changed', 'tune.changed']);
  });
});
