import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Database } from 'better-sqlite3';
import type { Split } from '../../../shared/contract/index.ts';
import { CoreError } from '../errors.ts';
import { replaceFindings, setFindingState } from '../clean/findings-store.ts';
import { assignSplits, DEFAULT_SPLIT_RATIOS, splitCounts, splitFingerprint, splitTargets } from './splits.ts';
import { TestProject } from './test-project.ts';

let projects: TestProject[] = [];
function newProject(): TestProject {
  const project = new TestProject();
  projects.push(project);
  return project;
}
let project: TestProject;
beforeEach(() => {
  project = newProject();
});
afterEach(() => {
  for (const p of projects) p.close();
  projects = [];
});

interface ImageSpec {
  /** Stands for the content: the image's sha256 is the hash of this name. */
  name: string;
  className?: string;
  status?: 'active' | 'excluded';
  derivedFrom?: string;
  split?: Split;
  splitSource?: 'imported' | 'manual' | 'assigned';
}

const shaOf = (name: string) => createHash('sha256').update(name).digest('hex');

function classId(db: Database, name: string): number {
  const found = db.prepare('SELECT id FROM classes WHERE name = ?').pluck().get(name) as number | undefined;
  if (found !== undefined) return found;
  return Number(
    db
      .prepare(
        `INSERT INTO classes (name, colour, position, created_at)
         VALUES (?, '#808080', (SELECT coalesce(max(position), -1) + 1 FROM classes), 0)`,
      )
      .run(name).lastInsertRowid,
  );
}

/** Inserts image rows (and their labels and splits) as an import would leave them. */
function addImages(db: Database, specs: readonly ImageSpec[]): void {
  const insertImage = db.prepare(
    `INSERT INTO images (path, sha256, width, height, format, bytes, status, derived_from, added_at)
     VALUES (@path, @sha, 512, 384, 'jpeg', 1000, @status,
             (SELECT id FROM images WHERE sha256 = @derivedFromSha), 1000)`,
  );
  const label = db.prepare("INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (?, ?, 'imported', 1000)");
  const split = db.prepare('INSERT INTO splits (image_id, split, source, updated_at) VALUES (?, ?, ?, 1000)');
  db.transaction(() => {
    for (const spec of specs) {
      const id = Number(
        insertImage.run({
          path: `/data/${spec.name}.jpg`,
          sha: shaOf(spec.name),
          status: spec.status ?? 'active',
          derivedFromSha: spec.derivedFrom ? shaOf(spec.derivedFrom) : null,
        }).lastInsertRowid,
      );
      if (spec.derivedFrom) assert.ok(db.prepare('SELECT derived_from FROM images WHERE id = ?').pluck().get(id));
      if (spec.className) label.run(id, classId(db, spec.className));
      if (spec.split) split.run(id, spec.split, spec.splitSource ?? 'imported');
    }
  })();
}

function many(className: string, n: number, prefix = className): ImageSpec[] {
  return Array.from({ length: n }, (_, i) => ({ name: `${prefix}-${i}`, className }));
}

/** Split (or null) per image name, for images added with `addImages`. */
function splitsByName(db: Database, names: readonly string[]): Record<string, Split | null> {
  const get = db.prepare('SELECT s.split FROM images i LEFT JOIN splits s ON s.image_id = i.id WHERE i.sha256 = ?').pluck();
  return Object.fromEntries(names.map((n) => [n, (get.get(shaOf(n)) as Split | null | undefined) ?? null]));
}

function allSplitRows(db: Database) {
  return db
    .prepare('SELECT i.sha256, s.split, s.source, s.updated_at FROM splits s JOIN images i ON i.id = s.image_id ORDER BY i.sha256')
    .all() as { sha256: string; split: Split; source: string; updated_at: number }[];
}

function withoutNone(counts: ReturnType<typeof splitCounts>) {
  return Object.fromEntries(Object.entries(counts).map(([k, { train, val, test }]) => [k, { train, val, test }]));
}

describe('splitTargets (largest remainder, then one per split)', () => {
  test('rounds as documented', () => {
    const cases: [number, [number, number, number]][] = [
      [0, [0, 0, 0]],
      [1, [1, 0, 0]],
      [2, [2, 0, 0]],
      [3, [1, 1, 1]],
      [4, [2, 1, 1]],
      [10, [7, 2, 1]],
      [45, [31, 7, 7]],
      [100, [70, 15, 15]],
      [137, [96, 21, 20]],
      [150, [105, 23, 22]],
      [403, [282, 61, 60]],
      [594, [416, 89, 89]],
    ];
    for (const [n, [train, val, test]] of cases) {
      assert.deepEqual(splitTargets(n), { train, val, test }, `n = ${n}`);
      const t = splitTargets(n);
      assert.equal(t.train + t.val + t.test, n);
    }
    assert.deepEqual(splitTargets(10, { train: 0.8, val: 0.2, test: 0 }), { train: 8, val: 2, test: 0 });
    assert.deepEqual(splitTargets(2, { train: 0.8, val: 0.2, test: 0 }), { train: 1, val: 1, test: 0 });
    assert.deepEqual(splitTargets(1, { train: 0.2, val: 0.4, test: 0.4 }), { train: 1, val: 0, test: 0 }, 'train first');
  });

  test('refuses fractions that do not add up to 1', () => {
    for (const ratios of [
      { train: 0.7, val: 0.2, test: 0.2 },
      { train: 0, val: 0.5, test: 0.5 },
      { train: 1.2, val: -0.1, test: -0.1 },
      { train: Number.NaN, val: 0.5, test: 0.5 },
    ]) {
      assert.throws(
        () => assignSplits(project.db, { ratios }),
        (err) => err instanceof CoreError && err.code === 'invalid_input' && /add up to 1/.test(err.message),
      );
    }
    assert.throws(() => assignSplits(project.db, { seed: 1.5 }), (err) => err instanceof CoreError && err.code === 'invalid_input');
  });
});

describe('assignSplits', () => {
  test('a fresh set is exactly stratified per class, in one write of assigned rows', () => {
    addImages(project.db, [...many('glass', 100), ...many('trash', 137), ...many('metal', 10)]);
    const before = Date.now();
    const result = assignSplits(project.db);
    const expected = {
      glass: { train: 70, val: 15, test: 15 },
      trash: { train: 96, val: 21, test: 20 },
      metal: { train: 7, val: 2, test: 1 },
    };
    assert.deepEqual(result, { assigned: 247, kept: 0, byClass: expected, warnings: [] });
    assert.deepEqual(withoutNone(splitCounts(project.db)), expected);
    assert.ok(Object.values(splitCounts(project.db)).every((c) => c.none === 0));
    const rows = allSplitRows(project.db);
    assert.equal(rows.length, 247);
    assert.ok(rows.every((r) => r.source === 'assigned' && r.updated_at >= before && r.updated_at <= Date.now()));
    assert.equal(new Set(rows.map((r) => r.updated_at)).size, 1, 'one time for one assignment');
  });

  test('the same seed and images give the same splits whatever the insertion order; another seed does not', () => {
    const specs = [...many('glass', 60), ...many('paper', 45)];
    const names = specs.map((s) => s.name);
    addImages(project.db, specs);
    assignSplits(project.db, { seed: 7 });
    const first = splitsByName(project.db, names);

    const reversed = newProject();
    addImages(reversed.db, [...specs].reverse());
    // Different ids for the same content: the assignment must not depend on them.
    assert.notEqual(
      reversed.db.prepare('SELECT id FROM images WHERE sha256 = ?').pluck().get(shaOf('glass-0')),
      project.db.prepare('SELECT id FROM images WHERE sha256 = ?').pluck().get(shaOf('glass-0')),
    );
    assignSplits(reversed.db, { seed: 7 });
    assert.deepEqual(splitsByName(reversed.db, names), first);

    const again = assignSplits(project.db, { seed: 7, reassign: true });
    assert.equal(again.assigned, 105);
    assert.deepEqual(splitsByName(project.db, names), first);

    const other = assignSplits(project.db, { seed: 8, reassign: true });
    const second = splitsByName(project.db, names);
    const moved = names.filter((n) => first[n] !== second[n]).length;
    assert.ok(moved > 20, `another seed moves many images (moved ${moved})`);
    assert.deepEqual(other.byClass, {
      glass: { train: 42, val: 9, test: 9 },
      paper: { train: 31, val: 7, test: 7 }, // 31.5, 6.75, 6.75: the two left over go to the larger fractions
    });
    // Not simply the first n of each class in hash order to train: val and test take images from all over.
    const valOrTest = names.filter((n) => n.startsWith('glass') && second[n] !== 'train').map((n) => Number(n.split('-')[1]));
    assert.ok(Math.max(...valOrTest) - Math.min(...valOrTest) > 30);
  });

  test('adding 50 images later moves no image; the new ones fill the gaps', () => {
    const old = [...many('glass', 100), ...many('paper', 60)];
    addImages(project.db, old);
    assignSplits(project.db);
    const oldNames = old.map((s) => s.name);
    const before = splitsByName(project.db, oldNames);
    const beforeCounts = withoutNone(splitCounts(project.db));
    const oldRows = allSplitRows(project.db);

    const added = [...many('glass', 30, 'glass-new'), ...many('paper', 20, 'paper-new')];
    addImages(project.db, added);
    const result = assignSplits(project.db);
    assert.equal(result.assigned, 50);
    assert.equal(result.kept, 160);
    assert.deepEqual(splitsByName(project.db, oldNames), before);
    const oldShas = new Set(oldRows.map((r) => r.sha256));
    assert.deepEqual(
      allSplitRows(project.db).filter((r) => oldShas.has(r.sha256)),
      oldRows,
      'old rows are untouched, times included',
    );

    const after = withoutNone(splitCounts(project.db));
    assert.deepEqual(after, { glass: splitTargets(130), paper: splitTargets(80) });
    assert.deepEqual(after.glass, { train: 91, val: 20, test: 19 });
    assert.deepEqual(beforeCounts.glass, { train: 70, val: 15, test: 15 });
    for (const [name, n] of [['glass', 130], ['paper', 80]] as const) {
      for (const split of ['train', 'val', 'test'] as const) {
        assert.ok(Math.abs(after[name]![split] - n * DEFAULT_SPLIT_RATIOS[split]) <= 1, `${name} ${split}`);
      }
    }
    const newSplits = splitsByName(project.db, added.map((s) => s.name));
    assert.ok(Object.values(newSplits).every((s) => s !== null));
  });

  test('imported and manual splits are kept and counted; only the rest is assigned', () => {
    addImages(project.db, [
      ...many('glass', 20, 'imported-train').map((s) => ({ ...s, split: 'train' as const })),
      ...many('glass', 5, 'manual-test').map((s) => ({ ...s, split: 'test' as const, splitSource: 'manual' as const })),
      ...many('glass', 75, 'fresh'),
    ]);
    const existing = allSplitRows(project.db);
    const result = assignSplits(project.db);
    assert.equal(result.assigned, 75);
    assert.equal(result.kept, 25);
    assert.deepEqual(result.byClass, { glass: { train: 70, val: 15, test: 15 } });
    const shas = new Set(existing.map((r) => r.sha256));
    assert.deepEqual(allSplitRows(project.db).filter((r) => shas.has(r.sha256)), existing);
    const fresh = Object.values(splitsByName(project.db, many('glass', 75, 'fresh').map((s) => s.name)));
    assert.deepEqual(
      { train: fresh.filter((s) => s === 'train').length, val: fresh.filter((s) => s === 'val').length, test: fresh.filter((s) => s === 'test').length },
      { train: 50, val: 15, test: 10 },
    );
  });

  test('imported train and test folders with no val: nothing moves, and the result says so', () => {
    addImages(project.db, [
      ...many('glass', 40, 'g-train').map((s) => ({ ...s, split: 'train' as const })),
      ...many('glass', 10, 'g-test').map((s) => ({ ...s, split: 'test' as const })),
      ...many('metal', 30, 'm-train').map((s) => ({ ...s, split: 'train' as const })),
      ...many('metal', 8, 'm-test').map((s) => ({ ...s, split: 'test' as const })),
    ]);
    const existing = allSplitRows(project.db);
    const result = assignSplits(project.db);
    assert.equal(result.assigned, 0);
    assert.equal(result.kept, 88);
    assert.deepEqual(allSplitRows(project.db), existing);
    assert.deepEqual(result.warnings, [
      "No validation images: early stopping will use 15% of train. Imported and hand-set splits are never moved; put some images in val to choose them yourself.",
    ]);
  });

  test('reassign redoes only the assigned splits', () => {
    addImages(project.db, [
      ...many('glass', 80),
      ...many('glass', 10, 'imported').map((s) => ({ ...s, split: 'val' as const })),
      ...many('glass', 10, 'manual').map((s) => ({ ...s, split: 'train' as const, splitSource: 'manual' as const })),
    ]);
    const kept = allSplitRows(project.db);
    assignSplits(project.db, { seed: 1 });
    const names = many('glass', 80).map((s) => s.name);
    const seed1 = splitsByName(project.db, names);

    assert.equal(assignSplits(project.db, { seed: 2 }).assigned, 0, 'without reassign, a second call changes nothing');
    assert.deepEqual(splitsByName(project.db, names), seed1);

    const result = assignSplits(project.db, { seed: 2, reassign: true });
    assert.equal(result.assigned, 80);
    assert.equal(result.kept, 20);
    assert.deepEqual(result.byClass, { glass: { train: 70, val: 15, test: 15 } });
    const keptShas = new Set(kept.map((r) => r.sha256));
    assert.deepEqual(allSplitRows(project.db).filter((r) => keptShas.has(r.sha256)), kept);
    const seed2 = splitsByName(project.db, names);
    assert.ok(names.some((n) => seed1[n] !== seed2[n]));

    // The same as assigning seed 2 to a project that never had assigned splits.
    const fresh = newProject();
    addImages(fresh.db, [
      ...many('glass', 80),
      ...many('glass', 10, 'imported').map((s) => ({ ...s, split: 'val' as const })),
      ...many('glass', 10, 'manual').map((s) => ({ ...s, split: 'train' as const, splitSource: 'manual' as const })),
    ]);
    assignSplits(fresh.db, { seed: 2 });
    assert.deepEqual(splitsByName(fresh.db, names), seed2);
  });

  test('derived images, chains included, are always on their source\'s side', () => {
    // 20 chains of three (source → copy → copy of copy) and 40 single images in one class.
    const chains = Array.from({ length: 20 }, (_, i) => [
      { name: `src-${i}`, className: 'glass' },
      { name: `copy-${i}`, className: 'glass', derivedFrom: `src-${i}` },
      { name: `copy2-${i}`, className: 'glass', derivedFrom: `copy-${i}` },
    ]).flat();
    addImages(project.db, [...chains, ...many('glass', 40)]);
    const result = assignSplits(project.db, { seed: 3 });
    assert.deepEqual(result.byClass, { glass: { train: 70, val: 15, test: 15 } }, 'groups count by their images');
    const splits = splitsByName(project.db, chains.map((c) => c.name));
    const sidesUsed = new Set<Split | null>();
    for (let i = 0; i < 20; i++) {
      assert.equal(splits[`copy-${i}`], splits[`src-${i}`], `chain ${i}`);
      assert.equal(splits[`copy2-${i}`], splits[`src-${i}`], `chain ${i}`);
      sidesUsed.add(splits[`src-${i}`]!);
    }
    assert.equal(sidesUsed.size, 3, 'chains are spread over the splits, not all in train');

    // Images derived later from placed sources follow them, whatever the gaps say.
    const test = Object.keys(splits).find((n) => n.startsWith('src-') && splits[n] === 'test')!;
    addImages(project.db, [
      { name: 'late-1', className: 'glass', derivedFrom: test },
      { name: 'late-2', className: 'glass', derivedFrom: 'late-1' },
    ]);
    assignSplits(project.db, { seed: 3 });
    assert.deepEqual(splitsByName(project.db, ['late-1', 'late-2']), { 'late-1': 'test', 'late-2': 'test' });
  });

  test('a source with an imported or manual split takes its whole group there', () => {
    addImages(project.db, [
      ...many('glass', 50),
      { name: 'imported-src', className: 'glass', split: 'test' },
      { name: 'imported-copy', className: 'glass', derivedFrom: 'imported-src' },
      { name: 'imported-copy2', className: 'glass', derivedFrom: 'imported-copy' },
      { name: 'manual-src', className: 'glass', split: 'val', splitSource: 'manual' },
      { name: 'manual-copy', className: 'glass', derivedFrom: 'manual-src' },
      // A copy with a split and a source without one: the source joins its copy.
      { name: 'plain-src', className: 'glass' },
      { name: 'split-copy', className: 'glass', derivedFrom: 'plain-src', split: 'test', splitSource: 'manual' },
      // An unlabelled source: it gets no split, but its labelled copies stay together.
      { name: 'unlabelled-src' },
      ...Array.from({ length: 4 }, (_, i) => ({ name: `orphan-${i}`, className: 'glass', derivedFrom: 'unlabelled-src' })),
      // An excluded source with a split still holds its copies.
      { name: 'excluded-src', className: 'glass', status: 'excluded' as const, split: 'val' as const },
      { name: 'excluded-copy', className: 'glass', derivedFrom: 'excluded-src' },
    ]);
    assignSplits(project.db, { seed: 5 });
    const s = splitsByName(project.db, [
      'imported-copy',
      'imported-copy2',
      'manual-copy',
      'plain-src',
      'unlabelled-src',
      'excluded-src',
      'excluded-copy',
    ]);
    assert.deepEqual(s, {
      'imported-copy': 'test',
      'imported-copy2': 'test',
      'manual-copy': 'val',
      'plain-src': 'test',
      'unlabelled-src': null,
      'excluded-src': 'val',
      'excluded-copy': 'val',
    });
    const orphans = Object.values(splitsByName(project.db, ['orphan-0', 'orphan-1', 'orphan-2', 'orphan-3']));
    assert.ok(orphans[0] !== null && orphans.every((x) => x === orphans[0]), `orphans together: ${orphans.join()}`);

    // With every seed, a group of four unlabelled-source copies moves as one.
    for (let seed = 10; seed < 20; seed++) {
      assignSplits(project.db, { seed, reassign: true });
      const o = Object.values(splitsByName(project.db, ['orphan-0', 'orphan-1', 'orphan-2', 'orphan-3']));
      assert.ok(o.every((x) => x === o[0]), `seed ${seed}`);
    }
  });

  test('a derived image split away from its source is reported, never moved', () => {
    addImages(project.db, [
      ...many('glass', 10),
      { name: 'src', className: 'glass', split: 'train' },
      { name: 'copy', className: 'glass', derivedFrom: 'src', split: 'test' },
      { name: 'copy2', className: 'glass', derivedFrom: 'copy', split: 'test', splitSource: 'manual' },
      { name: 'copy3', className: 'glass', derivedFrom: 'copy2' },
    ]);
    const result = assignSplits(project.db);
    assert.deepEqual(splitsByName(project.db, ['src', 'copy', 'copy2', 'copy3']), {
      src: 'train',
      copy: 'test',
      copy2: 'test',
      copy3: 'train', // the root source decides, though most of the group is in test
    });
    assert.ok(
      result.warnings.includes(
        "2 images are in a different split from the image they were derived from, or from a near-duplicate of them the dataset check found, so test results may be too good. Seedbed left those splits as they are; move them to their source's split, or keep one copy in the Clean view.",
      ),
      result.warnings.join('\n'),
    );
  });

  test('near-duplicates the dataset check found stay on one side, unless the finding was dismissed', () => {
    addImages(project.db, [...many('glass', 30), ...many('metal', 30)]);
    const ids = (names: string[]) => names.map((n) => project.db.prepare('SELECT id FROM images WHERE sha256 = ?').pluck().get(shaOf(n)) as number);
    const pairs = Array.from({ length: 8 }, (_, i) => [`glass-${i}`, `glass-${i + 10}`, `metal-${i}`]);
    replaceFindings(
      project.db,
      ['near_duplicate'],
      pairs.map((names) => ({ kind: 'near_duplicate' as const, imageIds: ids(names), score: 1, explanation: 'copies' })),
    );
    const dismissed = ['glass-20', 'glass-21'];
    replaceFindings(project.db, ['near_duplicate'], [
      ...pairs.map((names) => ({ kind: 'near_duplicate' as const, imageIds: ids(names), score: 1, explanation: 'copies' })),
      { kind: 'near_duplicate' as const, imageIds: ids(dismissed), score: 1, explanation: 'copies' },
    ]);
    setFindingState(project.db, project.db.prepare('SELECT finding_id FROM finding_images WHERE image_id = ?').pluck().all(ids(['glass-20'])[0]) as number[], 'dismissed');
    for (let seed = 1; seed <= 6; seed++) {
      assignSplits(project.db, { seed, reassign: true });
      for (const names of pairs) {
        const got = Object.values(splitsByName(project.db, names));
        assert.ok(got.every((x) => x === got[0]), `seed ${seed}: ${names.join(', ')} split as ${got.join(', ')}`);
      }
    }
    // A dismissed group holds nothing together: over a few seeds its two images part at least once.
    const parted = [1, 2, 3, 4, 5, 6, 7, 8].some((seed) => {
      assignSplits(project.db, { seed, reassign: true });
      const got = Object.values(splitsByName(project.db, dismissed));
      return got[0] !== got[1];
    });
    assert.ok(parted, 'a dismissed near-duplicate group does not bind its images');
  });

  test('tiny classes: 1 and 2 images train, 3 get one in each split', () => {
    addImages(project.db, [...many('big', 40), ...many('one', 1), ...many('two', 2), ...many('three', 3)]);
    const result = assignSplits(project.db);
    assert.deepEqual(result.byClass, {
      big: { train: 28, val: 6, test: 6 },
      one: { train: 1, val: 0, test: 0 },
      two: { train: 2, val: 0, test: 0 },
      three: { train: 1, val: 1, test: 1 },
    });
    assert.deepEqual(result.warnings, [
      'Class "one" has no validation or test images: with only 1 labelled image it cannot have one in every split.',
      'Class "two" has no validation or test images: with only 2 labelled images it cannot have one in every split.',
    ]);
    // Train is filled first as a tiny class grows, and nothing moves.
    addImages(project.db, [{ name: 'one-1', className: 'one' }]);
    assert.deepEqual(assignSplits(project.db).byClass.one, { train: 2, val: 0, test: 0 });
    addImages(project.db, [{ name: 'one-2', className: 'one' }]);
    assert.deepEqual(assignSplits(project.db).byClass.one, { train: 2, val: 1, test: 0 }, 'the gap train -1, val 1, test 1: val');
  });

  test('a split with ratio 0 stays empty without a warning', () => {
    addImages(project.db, many('glass', 20));
    const result = assignSplits(project.db, { ratios: { train: 0.8, val: 0.2, test: 0 } });
    assert.deepEqual(result.byClass, { glass: { train: 16, val: 4, test: 0 } });
    assert.deepEqual(result.warnings, []);
  });

  test('excluded and unlabelled images are left alone', () => {
    addImages(project.db, [
      ...many('glass', 30),
      ...Array.from({ length: 5 }, (_, i) => ({ name: `excluded-${i}`, className: 'glass', status: 'excluded' as const })),
      ...Array.from({ length: 5 }, (_, i) => ({ name: `unlabelled-${i}` })),
      { name: 'excluded-unlabelled', status: 'excluded' as const },
    ]);
    const result = assignSplits(project.db);
    assert.equal(result.assigned, 30);
    assert.deepEqual(result.byClass, { glass: { train: 21, val: 5, test: 4 } });
    const others = [...Array.from({ length: 5 }, (_, i) => [`excluded-${i}`, `unlabelled-${i}`]).flat(), 'excluded-unlabelled'];
    assert.ok(Object.values(splitsByName(project.db, others)).every((s) => s === null));
    assert.equal(allSplitRows(project.db).length, 30);
  });
});

describe('splitFingerprint', () => {
  test('changes when a label or a split changes, and not otherwise', () => {
    addImages(project.db, [...many('glass', 10), ...many('metal', 10), { name: 'unlabelled' }]);
    const fingerprint = () => splitFingerprint(project.db);
    const start = fingerprint();
    assert.match(start, /^[0-9a-f]{16}$/);

    assignSplits(project.db);
    const assigned = fingerprint();
    assert.notEqual(assigned, start, 'splits were added');
    assert.equal(fingerprint(), assigned, 'stable when nothing changed');

    // Same content, other ids and insertion order, in another project: same fingerprint.
    const twin = newProject();
    addImages(twin.db, [{ name: 'unlabelled' }, ...many('metal', 10), ...many('glass', 10)]);
    const put = twin.db.prepare("INSERT INTO splits (image_id, split, source, updated_at) SELECT id, ?, 'manual', 5 FROM images WHERE sha256 = ?");
    for (const r of project.db.prepare('SELECT i.sha256, s.split FROM splits s JOIN images i ON i.id = s.image_id').all() as { sha256: string; split: Split }[]) {
      put.run(r.split, r.sha256);
    }
    assert.equal(splitFingerprint(twin.db), assigned, 'ids, sources and times do not count');

    // Things a run does not see.
    addImages(project.db, [{ name: 'unlabelled-2' }, { name: 'excluded-new', className: 'glass', status: 'excluded' }]);
    project.db.prepare("INSERT INTO tags (image_id, key, value) SELECT id, 'camera', 'a' FROM images LIMIT 3").run();
    project.db.prepare("UPDATE splits SET source = 'manual', updated_at = 99").run();
    project.db.prepare('UPDATE labels SET updated_at = 42').run();
    project.db.prepare("INSERT INTO splits (image_id, split, source, updated_at) SELECT id, 'test', 'manual', 1 FROM images WHERE sha256 = ?").run(shaOf('unlabelled'));
    project.reopen();
    assert.equal(fingerprint(), assigned);

    // A split changes.
    const glass0 = project.db.prepare('SELECT id FROM images WHERE sha256 = ?').pluck().get(shaOf('glass-0')) as number;
    const split0 = project.db.prepare('SELECT split FROM splits WHERE image_id = ?').pluck().get(glass0) as Split;
    const other: Split = split0 === 'train' ? 'val' : 'train';
    project.db.prepare('UPDATE splits SET split = ? WHERE image_id = ?').run(other, glass0);
    const moved = fingerprint();
    assert.notEqual(moved, assigned);
    project.db.prepare('UPDATE splits SET split = ? WHERE image_id = ?').run(split0, glass0);
    assert.equal(fingerprint(), assigned, 'moving it back gives the old fingerprint');

    // A label changes, is removed, or a class is renamed.
    const metal = classId(project.db, 'metal');
    project.db.prepare('UPDATE labels SET class_id = ? WHERE image_id = ?').run(metal, glass0);
    const relabelled = fingerprint();
    assert.notEqual(relabelled, assigned);
    project.db.prepare('UPDATE labels SET class_id = ? WHERE image_id = ?').run(classId(project.db, 'glass'), glass0);
    assert.equal(fingerprint(), assigned);
    project.db.prepare("UPDATE classes SET name = 'steel' WHERE id = ?").run(metal);
    assert.notEqual(fingerprint(), assigned);
    project.db.prepare("UPDATE classes SET name = 'metal' WHERE id = ?").run(metal);
    project.db.prepare('DELETE FROM labels WHERE image_id = ?').run(glass0);
    assert.notEqual(fingerprint(), assigned);
    project.db.prepare("INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (?, ?, 'human', 7)").run(glass0, classId(project.db, 'glass'));
    assert.equal(fingerprint(), assigned);

    // Excluding a labelled image changes what a run sees; labelling a new active image too.
    project.db.prepare("UPDATE images SET status = 'excluded' WHERE id = ?").run(glass0);
    assert.notEqual(fingerprint(), assigned);
    project.db.prepare("UPDATE images SET status = 'active' WHERE id = ?").run(glass0);
    assert.equal(fingerprint(), assigned);
    project.db
      .prepare("INSERT INTO labels (image_id, class_id, source, updated_at) SELECT id, ?, 'human', 1 FROM images WHERE sha256 = ?")
      .run(metal, shaOf('unlabelled-2'));
    assert.notEqual(fingerprint(), assigned);
  });
});

describe('splitCounts', () => {
  test('counts active labelled images per class and split, none included, in class order', () => {
    addImages(project.db, [
      ...many('paper', 4).map((s, i) => (i < 2 ? { ...s, split: 'train' as const } : s)),
      { name: 'glass-val', className: 'glass', split: 'val' },
      { name: 'glass-excluded', className: 'glass', split: 'test', status: 'excluded' },
      { name: 'unlabelled', split: 'train' },
    ]);
    const counts = splitCounts(project.db);
    assert.deepEqual(counts, {
      paper: { train: 2, val: 0, test: 0, none: 2 },
      glass: { train: 0, val: 1, test: 0, none: 0 },
    });
    assert.deepEqual(Object.keys(counts), ['paper', 'glass']);
  });
});
