import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { GalleryFilter } from '../../../shared/contract/index.ts';
import { escapeLike } from './gallery.ts';
import { TestProject } from './test-project.ts';

let project: TestProject;
beforeEach(() => {
  project = new TestProject();
});
afterEach(() => project.close());

/** Six images over two classes, splits, an excluded one and awkward names. */
async function seed() {
  const glass = (await project.must('classes.create', { name: 'glass' })).id;
  const metal = (await project.must('classes.create', { name: 'metal' })).id;
  const [a, b, c, d, e, f] = project.addImages([
    { path: '/photos/glass/b_2.jpg', split: 'train' },
    { path: '/photos/glass/A1.jpg', split: 'val' },
    { path: '/photos/metal/100%_steel.jpg', split: 'train' },
    { path: '/photos/metal/1000x_steel.jpg', status: 'excluded', split: 'test' },
    { path: '/photos/loose/Photo One.PNG' },
    { path: '/photos/loose/b_2.jpg' },
  ]) as [number, number, number, number, number, number];
  project.importLabels([a, b], glass);
  project.importLabels([c, d], metal);
  return { glass, metal, a, b, c, d, e, f };
}

async function pathsOf(filter: GalleryFilter): Promise<string[]> {
  return (await project.must('images.query', { filter, offset: 0, limit: 100 })).rows.map((r) => r.path);
}

describe('gallery query', () => {
  test('shows active images ordered by path, then id, with their label, split and file name', async () => {
    const { glass, a, f } = await seed();
    // Same path twice (a file replaced by different content): the id breaks the tie.
    const twin = Number(
      project.db
        .prepare(
          `INSERT INTO images (path, sha256, width, height, format, bytes, added_at)
           VALUES ('/photos/glass/b_2.jpg', 'twin', 1, 1, 'png', 1, 1)`,
        )
        .run().lastInsertRowid,
    );
    const page = await project.must('images.query', { filter: {}, offset: 0, limit: 100 });
    assert.equal(page.total, 6);
    assert.deepEqual(
      page.rows.map((r) => [r.path, r.id]),
      [
        ['/photos/glass/A1.jpg', a + 1],
        ['/photos/glass/b_2.jpg', a],
        ['/photos/glass/b_2.jpg', twin],
        ['/photos/loose/Photo One.PNG', f - 1],
        ['/photos/loose/b_2.jpg', f],
        ['/photos/metal/100%_steel.jpg', a + 2],
      ],
    );
    const first = page.rows.find((r) => r.id === a)!;
    assert.deepEqual(first, {
      id: a,
      path: '/photos/glass/b_2.jpg',
      fileName: 'b_2.jpg',
      sha256: first.sha256,
      width: 320,
      height: 240,
      format: 'jpeg',
      bytes: 1000,
      status: 'active',
      classId: glass,
      split: 'train',
      prediction: null,
      derivedFrom: null,
    });
    assert.equal(page.rows.find((r) => r.id === f)!.classId, null);
    assert.equal(page.rows.find((r) => r.id === f)!.split, null);
  });

  test('pages with offset and limit; total counts the whole filter', async () => {
    const ids = project.addImages(Array.from({ length: 25 }, (_, i) => ({ path: `/p/img_${String(i).padStart(2, '0')}.jpg` })));
    const page = await project.must('images.query', { filter: {}, offset: 10, limit: 5 });
    assert.equal(page.total, 25);
    assert.equal(page.offset, 10);
    assert.deepEqual(page.rows.map((r) => r.id), ids.slice(10, 15));
    const tail = await project.must('images.query', { filter: {}, offset: 22, limit: 5 });
    assert.deepEqual(tail.rows.map((r) => r.id), ids.slice(22));
    const beyond = await project.must('images.query', { filter: {}, offset: 40, limit: 5 });
    assert.deepEqual(beyond, { total: 25, offset: 40, rows: [] });
  });

  test('filters by status: active by default, excluded, or all', async () => {
    const { d } = await seed();
    assert.equal((await project.must('images.query', { filter: {}, offset: 0, limit: 100 })).total, 5);
    const excluded = await project.must('images.query', { filter: { status: 'excluded' }, offset: 0, limit: 100 });
    assert.deepEqual(excluded.rows.map((r) => [r.id, r.status]), [[d, 'excluded']]);
    assert.equal((await project.must('images.query', { filter: { status: 'all' }, offset: 0, limit: 100 })).total, 6);
  });

  test('filters by class, unlabeled, or both (OR)', async () => {
    const { glass, metal } = await seed();
    assert.deepEqual(await pathsOf({ classIds: [glass] }), ['/photos/glass/A1.jpg', '/photos/glass/b_2.jpg']);
    // Byte order: '%' sorts before '0'.
    assert.deepEqual(await pathsOf({ classIds: [metal], status: 'all' }), ['/photos/metal/100%_steel.jpg', '/photos/metal/1000x_steel.jpg']);
    assert.deepEqual(await pathsOf({ unlabeled: true }), ['/photos/loose/Photo One.PNG', '/photos/loose/b_2.jpg']);
    assert.deepEqual(await pathsOf({ classIds: [metal], unlabeled: true }), [
      '/photos/loose/Photo One.PNG',
      '/photos/loose/b_2.jpg',
      '/photos/metal/100%_steel.jpg',
    ]);
    assert.deepEqual(await pathsOf({ classIds: [glass, metal] }), [
      '/photos/glass/A1.jpg',
      '/photos/glass/b_2.jpg',
      '/photos/metal/100%_steel.jpg',
    ]);
    assert.equal((await pathsOf({ classIds: [] })).length, 5, 'an empty class list does not filter');
    assert.deepEqual(await pathsOf({ classIds: [9999] }), [], 'an unknown class matches nothing');
  });

  test('filters by split, with none = no split', async () => {
    await seed();
    assert.deepEqual(await pathsOf({ splits: ['train'] }), ['/photos/glass/b_2.jpg', '/photos/metal/100%_steel.jpg']);
    assert.deepEqual(await pathsOf({ splits: ['none'] }), ['/photos/loose/Photo One.PNG', '/photos/loose/b_2.jpg']);
    assert.deepEqual(await pathsOf({ splits: ['val', 'none'] }), [
      '/photos/glass/A1.jpg',
      '/photos/loose/Photo One.PNG',
      '/photos/loose/b_2.jpg',
    ]);
    assert.deepEqual(await pathsOf({ splits: ['test'], status: 'all' }), ['/photos/metal/1000x_steel.jpg']);
    assert.equal((await pathsOf({ splits: ['train', 'val', 'test', 'none'] })).length, 5);
  });

  test('searches the path case-insensitively, and % _ \\ match themselves', async () => {
    await seed();
    const [backslash] = project.addImages([{ path: 'C:\\scans\\x.jpg' }]);
    assert.deepEqual(await pathsOf({ search: 'photo one' }), ['/photos/loose/Photo One.PNG']);
    assert.deepEqual(await pathsOf({ search: 'GLASS/a1' }), ['/photos/glass/A1.jpg']);
    // Unescaped, "_" would match any character ("b12") and "%" anything ("1000x").
    assert.deepEqual(await pathsOf({ search: 'b_2' }), ['/photos/glass/b_2.jpg', '/photos/loose/b_2.jpg']);
    assert.deepEqual(await pathsOf({ search: '100%' }), ['/photos/metal/100%_steel.jpg']);
    assert.deepEqual(await pathsOf({ search: '0%_s', status: 'all' }), ['/photos/metal/100%_steel.jpg']);
    assert.deepEqual(
      (await project.must('images.query', { filter: { search: 's\\x' }, offset: 0, limit: 10 })).rows.map((r) => r.id),
      [backslash],
    );
    assert.deepEqual(await pathsOf({ search: 'nothing like this' }), []);
    assert.equal(escapeLike('a%b_c\\d'), 'a\\%b\\_c\\\\d');
  });

  test('filters by tag key, or key and value', async () => {
    const { a, b, e } = await seed();
    await project.must('tags.set', { imageIds: [a, b], key: 'site', value: 'north' });
    await project.must('tags.set', { imageIds: [e], key: 'site', value: 'south' });
    assert.deepEqual(
      (await project.must('images.ids', { filter: { tag: { key: 'site' } } })).sort(),
      [a, b, e].sort(),
    );
    assert.deepEqual(await project.must('images.ids', { filter: { tag: { key: 'site', value: 'north' } } }), [b, a]);
    assert.deepEqual(await project.must('images.ids', { filter: { tag: { key: 'site', value: 'east' } } }), []);
    assert.deepEqual(await project.must('images.ids', { filter: { tag: { key: 'Site' } } }), [], 'keys are case-sensitive');
  });

  test('combines filters with AND', async () => {
    const { glass, metal } = await seed();
    assert.deepEqual(await pathsOf({ classIds: [glass], splits: ['val'] }), ['/photos/glass/A1.jpg']);
    assert.deepEqual(await pathsOf({ classIds: [metal], search: 'steel', splits: ['test'] }), []);
    assert.deepEqual(await pathsOf({ classIds: [metal], search: 'steel', splits: ['test'], status: 'excluded' }), [
      '/photos/metal/1000x_steel.jpg',
    ]);
  });

  test('images.ids lists every match in gallery order; images.indexOf finds an image in it', async () => {
    const ids = project.addImages(Array.from({ length: 30 }, (_, i) => ({ path: `/p/${String(29 - i).padStart(2, '0')}.jpg` })));
    const ordered = [...ids].reverse();
    assert.deepEqual(await project.must('images.ids', { filter: {} }), ordered);
    assert.equal(await project.must('images.indexOf', { id: ids[0]!, filter: {} }), 29);
    assert.equal(await project.must('images.indexOf', { id: ids[29]!, filter: {} }), 0);
    assert.equal(await project.must('images.indexOf', { id: ids[5]!, filter: { search: '/24.' } }), 0);
    assert.equal(await project.must('images.indexOf', { id: ids[5]!, filter: { search: '/23.' } }), null);
    assert.equal(await project.must('images.indexOf', { id: 99999, filter: {} }), null);
  });

  test('a query after a change sees the change (no stale pages)', async () => {
    const { glass, e, f } = await seed();
    const before = await project.must('images.query', { filter: { unlabeled: true }, offset: 0, limit: 10 });
    assert.equal(before.total, 2);
    await project.must('labels.set', { imageIds: [e], classId: glass });
    const after = await project.must('images.query', { filter: { unlabeled: true }, offset: 0, limit: 10 });
    assert.deepEqual(after.rows.map((r) => r.id), [f]);
    // A write that bypasses the handlers (an import) is seen too.
    project.db.prepare('DELETE FROM labels WHERE image_id = ?').run(e);
    assert.equal((await project.must('images.query', { filter: { unlabeled: true }, offset: 0, limit: 10 })).total, 2);
    await project.must('images.exclude', { imageIds: [f] });
    assert.equal(await project.must('images.indexOf', { id: f, filter: {} }), null);
    assert.deepEqual(await project.must('images.ids', { filter: { unlabeled: true } }), [e]);
  });

  test('a change made by another connection is seen too', async () => {
    const { e } = await seed();
    assert.equal((await project.must('images.query', { filter: {}, offset: 0, limit: 1 })).total, 5);
    const { default: Database } = await import('better-sqlite3');
    const other = new Database(project.store.path);
    other.prepare("UPDATE images SET status = 'excluded' WHERE id = ?").run(e);
    other.close();
    assert.equal((await project.must('images.query', { filter: {}, offset: 0, limit: 1 })).total, 4);
  });
});

describe('images.get', () => {
  test('returns every path, tags, label history oldest first, label source and added time', async () => {
    const { glass, metal, a } = await seed();
    project.db
      .prepare('INSERT INTO image_paths (path, image_id, size, mtime_ms, added_at) VALUES (?, ?, 1000, 0, 5000)')
      .run('/backup/copy of b_2.jpg', a);
    await project.must('tags.set', { imageIds: [a], key: 'site', value: 'north' });
    await project.must('tags.set', { imageIds: [a], key: 'camera', value: 'x100' });
    await project.must('labels.set', { imageIds: [a], classId: metal });
    await project.must('classes.update', { id: metal, name: 'steel' });

    const detail = await project.must('images.get', { id: a });
    assert.equal(detail.id, a);
    assert.equal(detail.fileName, 'b_2.jpg');
    assert.deepEqual(detail.paths, ['/photos/glass/b_2.jpg', '/backup/copy of b_2.jpg']);
    assert.deepEqual(detail.tags, { camera: 'x100', site: 'north' });
    assert.equal(detail.classId, metal);
    assert.equal(detail.labelSource, 'human');
    assert.equal(detail.addedAt, 1000);
    assert.equal(detail.split, 'train');
    // The history keeps the name the class had then.
    assert.deepEqual(
      detail.labelHistory.map((h) => [h.className, h.source]),
      [
        ['glass', 'imported'],
        ['metal', 'human'],
      ],
    );
    assert.ok(detail.labelHistory[0]!.at <= detail.labelHistory[1]!.at);
    assert.ok(glass > 0);
  });

  test('an unknown id is not_found', async () => {
    const result = await project.call('images.get', { id: 4242 });
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.error.code, 'not_found');
    assert.match(!result.ok ? result.error.message : '', /4242/);
  });
});

describe('dataset.summary', () => {
  test('counts images, classes per split over active images, unlabeled, splits and tags', async () => {
    const { glass, metal, a, c, d, e } = await seed();
    const empty = (await project.must('classes.create', { name: 'paper' })).id;
    await project.must('tags.set', { imageIds: [a, c, d], key: 'site', value: 'north' });
    await project.must('tags.set', { imageIds: [e], key: 'site', value: 'south' });
    await project.must('tags.set', { imageIds: [e], key: 'reviewed', value: '' });
    const summary = await project.must('dataset.summary', {});
    assert.deepEqual(summary, {
      images: 6,
      active: 5,
      excluded: 1,
      unlabeled: 2,
      derived: 0,
      byClass: {
        [glass]: { total: 2, train: 1, val: 1, test: 0, none: 0 },
        // The excluded metal image (split test) is not counted.
        [metal]: { total: 1, train: 1, val: 0, test: 0, none: 0 },
        [empty]: { total: 0, train: 0, val: 0, test: 0, none: 0 },
      },
      bySplit: { total: 5, train: 2, val: 1, test: 0, none: 2 },
      // The excluded image d carries site=north too, but counts are over active images.
      tags: { reviewed: { '': 1 }, site: { north: 2, south: 1 } },
    });
  });

  test('follows changes, and lists at most 200 values per tag', async () => {
    const { glass, e, f, d } = await seed();
    const ids = project.addImages(Array.from({ length: 250 }, (_, i) => ({ path: `/t/${i}.jpg` })));
    for (const [i, id] of ids.entries()) {
      await project.must('tags.set', { imageIds: [id], key: 'serial', value: `s${String(i).padStart(3, '0')}` });
    }
    await project.must('labels.set', { imageIds: [e, f], classId: glass });
    await project.must('images.restore', { imageIds: [d] });
    const summary = await project.must('dataset.summary', {});
    assert.equal(summary.active, 256);
    assert.equal(summary.excluded, 0);
    assert.equal(summary.unlabeled, 250);
    assert.equal(summary.byClass[glass]!.total, 4);
    assert.equal(summary.byClass[glass]!.none, 2);
    assert.equal(summary.bySplit.test, 1);
    const serials = Object.keys(summary.tags.serial!);
    assert.equal(serials.length, 200);
    assert.equal(serials[0], 's000');
    assert.equal(serials[199], 's199');
    assert.equal(summary.tags.serial!.s000, 1, 'each value carries its image count');
  });

  test('an empty project has zero counts', async () => {
    assert.deepEqual(await project.must('dataset.summary', {}), {
      images: 0,
      active: 0,
      excluded: 0,
      unlabeled: 0,
      derived: 0,
      byClass: {},
      bySplit: { total: 0, train: 0, val: 0, test: 0, none: 0 },
      tags: {},
    });
  });
});
