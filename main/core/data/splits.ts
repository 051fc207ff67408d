/**
 * Train/val/test splits for training: stratified per class, seeded, stable when images are
 * added, and without leakage between an image and the images derived from it.
 *
 * Rules (the tests in splits.test.ts hold each of them):
 * - Candidates are active, labelled images with no row in `splits`. Every other image keeps
 *   what it has; 'imported' and 'manual' splits are never changed, 'assigned' ones only by
 *   `reassign`, which drops all of them (on any image) and assigns again as if they had
 *   never been.
 * - Per class, the target counts come from `splitTargets` over all of the class's active
 *   labelled images (those with a split and the candidates); new images fill the gaps
 *   between those targets and what the class already has, so a fresh set is exactly
 *   stratified and a grown one stays within one image of it unless earlier splits
 *   (imported, manual, or from a smaller set) already overshoot a target.
 * - An image and every image derived from it (images.derived_from, chains included) form a
 *   group that is always on one side. A group with a split anywhere takes its source's
 *   split, or when the source has none, the split most of its members have; a group with
 *   none is placed as one unit, counted by its labelled members in each of their classes.
 *   Unlabelled or excluded members get no split here, but do hold the group together.
 *   Near-duplicates the dataset check found (a finding not dismissed) join groups the same way.
 * - Which image goes where depends only on the seed and the images' content hashes, never on
 *   ids or insertion order: groups are taken largest first, then in the order of
 *   sha256(seed + ":" + source sha256), each to the split it leaves closest to the targets.
 */
import { createHash } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import type { Split } from '../../../shared/contract/index.ts';
import { CoreError } from '../errors.ts';

export interface SplitRatios {
  train: number;
  val: number;
  test: number;
}

export const DEFAULT_SPLIT_RATIOS: SplitRatios = { train: 0.7, val: 0.15, test: 0.15 };

export interface AssignSplitsOptions {
  /** Decides which images go where; the same seed and images give the same splits. Default 1. */
  seed?: number;
  /** Fractions of each class that go to train, val and test; they sum to 1. Default 70/15/15. */
  ratios?: SplitRatios;
  /** Drops every 'assigned' split and assigns again; 'imported' and 'manual' ones stay. */
  reassign?: boolean;
}

export type SplitTotals = Record<Split, number>;

export interface SplitAssignment {
  /** Images given a split by this call. */
  assigned: number;
  /** Active labelled images that already had a split and kept it. */
  kept: number;
  /** Per class name, the split counts of its active labelled images after the call. */
  byClass: Record<string, SplitTotals>;
  /** What the user should know about the result, in words (no val images, tiny classes, …). */
  warnings: string[];
}

const SPLITS: readonly Split[] = ['train', 'val', 'test'];
const SPLIT_WORDS: Record<Split, string> = { train: 'training', val: 'validation', test: 'test' };
/** Floating-point slack: 0.7 × 137 is 95.89999999999999, and 0.15 × 100 must floor to 15. */
const EPSILON = 1e-9;

function emptyTotals(): SplitTotals {
  return { train: 0, val: 0, test: 0 };
}

function checkedRatios(ratios: SplitRatios): SplitRatios {
  const values = SPLITS.map((s) => ratios[s]);
  const sum = values.reduce((a, b) => a + b, 0);
  if (values.some((v) => !Number.isFinite(v) || v < 0) || Math.abs(sum - 1) > 1e-6 || !(ratios.train > 0)) {
    throw new CoreError(
      'invalid_input',
      `The split fractions train ${ratios.train}, val ${ratios.val}, test ${ratios.test} do not work: ` +
        'each must be 0 or more, train more than 0, and together they must add up to 1 (e.g. 0.7, 0.15, 0.15).',
    );
  }
  return { train: ratios.train / sum, val: ratios.val / sum, test: ratios.test / sum };
}

/**
 * How many of a class's `n` images each split should hold. Largest remainder: each split gets
 * floor(n × ratio), and the images left over go one each to the splits with the largest
 * fractional parts, ties in the order train, val, test. Then, when n is at least the number of
 * splits with a non-zero ratio, each such split left empty takes one image from the fullest
 * (ties: train first). Fewer images than that: train is filled first.
 * E.g. 100 → 70/15/15, 137 → 96/21/20, 10 → 7/2/1, 3 → 1/1/1, 2 → 2/0/0, 1 → 1/0/0.
 */
export function splitTargets(n: number, ratios: SplitRatios = DEFAULT_SPLIT_RATIOS): SplitTotals {
  const normal = checkedRatios(ratios);
  const exact = SPLITS.map((s) => n * normal[s]);
  const counts = exact.map((x) => Math.floor(x + EPSILON));
  const fraction = exact.map((x, i) => x - counts[i]!);
  const byFraction = [0, 1, 2].sort((a, b) => {
    const d = fraction[b]! - fraction[a]!;
    return Math.abs(d) > EPSILON ? d : a - b;
  });
  let left = n - counts.reduce((a, b) => a + b, 0);
  for (let k = 0; left > 0; k++, left--) counts[byFraction[k % 3]!]!++;
  for (; left < 0; left++) counts[fullest(counts, [0, 1, 2])]!--; // only float noise gets here

  const positive = [0, 1, 2].filter((i) => normal[SPLITS[i]!] > 0);
  if (n >= positive.length) {
    for (const i of positive) {
      if (counts[i] === 0) {
        counts[fullest(counts, positive)]!--;
        counts[i] = 1;
      }
    }
  } else if (n > 0 && counts[0] === 0) {
    counts[fullest(counts, positive)]!--;
    counts[0] = 1;
  }
  return { train: counts[0]!, val: counts[1]!, test: counts[2]! };
}

/** Index (among `among`) of the largest count; ties go to the earliest split. */
function fullest(counts: readonly number[], among: readonly number[]): number {
  let best = among[0]!;
  for (const i of among) if (counts[i]! > counts[best]!) best = i;
  return best;
}

interface ImageRow {
  id: number;
  sha256: string;
  status: 'active' | 'excluded';
  derivedFrom: number | null;
  className: string | null;
  split: Split | null;
}

/** Active and labelled: the images a run trains and tests on. */
function isCounted(row: ImageRow): row is ImageRow & { className: string } {
  return row.status === 'active' && row.className !== null;
}

/**
 * Near-duplicates the dataset check found (findings not dismissed): copies of one photo are
 * one group for the split, like derived images, so a resized copy cannot sit in test while its
 * original trains.
 */
function nearDuplicateLinks(db: Database): [number, number][] {
  const rows = db
    .prepare(
      `SELECT fi.finding_id AS findingId, fi.image_id AS imageId FROM finding_images fi JOIN findings f ON f.id = fi.finding_id
       WHERE f.kind = 'near_duplicate' AND f.state <> 'dismissed' ORDER BY fi.finding_id, fi.position`,
    )
    .all() as { findingId: number; imageId: number }[];
  const links: [number, number][] = [];
  for (let i = 1; i < rows.length; i++) {
    if (rows[i]!.findingId === rows[i - 1]!.findingId) links.push([rows[i - 1]!.imageId, rows[i]!.imageId]);
  }
  return links;
}

/** Groups of images joined by derived_from (chains and, should one exist, cycles included) and by near-duplicate links. */
function derivationGroups(rows: readonly ImageRow[], links: readonly [number, number][] = []): ImageRow[][] {
  const parent = new Map<number, number>();
  const find = (id: number): number => {
    let root = id;
    while (parent.get(root) !== root) root = parent.get(root)!;
    for (let at = id; at !== root; ) {
      const next = parent.get(at)!;
      parent.set(at, root);
      at = next;
    }
    return root;
  };
  for (const row of rows) parent.set(row.id, row.id);
  for (const row of rows) {
    if (row.derivedFrom !== null && parent.has(row.derivedFrom)) parent.set(find(row.id), find(row.derivedFrom));
  }
  for (const [a, b] of links) {
    if (parent.has(a) && parent.has(b) && find(a) !== find(b)) parent.set(find(b), find(a));
  }
  const groups = new Map<number, ImageRow[]>();
  for (const row of rows) {
    const root = find(row.id);
    const group = groups.get(root);
    if (group) group.push(row);
    else groups.set(root, [row]);
  }
  return [...groups.values()];
}

/** The image the others derive from; in a cycle (no such image), the one with the smallest hash. */
function sourceOf(group: readonly ImageRow[]): ImageRow {
  const root = group.find((r) => r.derivedFrom === null);
  if (root) return root;
  return group.reduce((a, b) => (b.sha256 < a.sha256 ? b : a));
}

/** The split a group already has: its source's, else the one most of its members have. */
function groupSplit(group: readonly ImageRow[], source: ImageRow): Split | null {
  if (source.split) return source.split;
  const votes = emptyTotals();
  for (const row of group) if (row.split) votes[row.split]++;
  const best = SPLITS.reduce((a, b) => (votes[b] > votes[a] ? b : a));
  return votes[best] > 0 ? best : null;
}

function seededKey(seed: number, sha256: string): string {
  return createHash('sha256').update(`${seed}:${sha256}`).digest('hex');
}

/** A group without a split, placed as one: its candidates, counted per class. */
interface Unit {
  key: string;
  images: ImageRow[];
  perClass: Map<string, number>;
}

function loadImages(db: Database): ImageRow[] {
  return db
    .prepare(
      `SELECT i.id, i.sha256, i.status, i.derived_from AS derivedFrom, c.name AS className, s.split
       FROM images i
       LEFT JOIN labels l ON l.image_id = i.id
       LEFT JOIN classes c ON c.id = l.class_id
       LEFT JOIN splits s ON s.image_id = i.id`,
    )
    .all() as ImageRow[];
}

/** Class names in the order the user arranged them. */
function classOrder(db: Database): string[] {
  return db.prepare('SELECT name FROM classes ORDER BY position, name').pluck().all() as string[];
}

/**
 * Gives every active labelled image without a split one: stratified per class, seeded, stable,
 * and with derived images on their source's side. Writes in one transaction.
 */
export function assignSplits(db: Database, options: AssignSplitsOptions = {}): SplitAssignment {
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed)) {
    throw new CoreError('invalid_input', `The split seed must be a whole number; ${seed} is not.`);
  }
  const ratios = checkedRatios(options.ratios ?? DEFAULT_SPLIT_RATIOS);
  // Immediate: the reads below must still hold when the writes land.
  return db
    .transaction(() => {
      if (options.reassign) db.prepare("DELETE FROM splits WHERE source = 'assigned'").run();
      const rows = loadImages(db);
      const chosen = new Map<ImageRow, Split>();
      const units: Unit[] = [];
      let strays = 0;

      for (const group of derivationGroups(rows, nearDuplicateLinks(db))) {
        const candidates = group.filter((r) => isCounted(r) && r.split === null);
        const source = sourceOf(group);
        const split = groupSplit(group, source);
        strays += group.filter((r) => r.split !== null && r.split !== split).length;
        if (!candidates.length) continue;
        if (split) {
          for (const row of candidates) chosen.set(row, split);
          continue;
        }
        const perClass = new Map<string, number>();
        for (const row of candidates) perClass.set(row.className!, (perClass.get(row.className!) ?? 0) + 1);
        units.push({ key: seededKey(seed, source.sha256), images: candidates, perClass });
      }

      // Gaps between each class's targets and what it has (existing splits and forced ones).
      const totals = new Map<string, number>();
      const have = new Map<string, SplitTotals>();
      const haveOf = (name: string) => {
        let t = have.get(name);
        if (!t) have.set(name, (t = emptyTotals()));
        return t;
      };
      for (const row of rows) {
        if (!isCounted(row)) continue;
        totals.set(row.className, (totals.get(row.className) ?? 0) + 1);
        const split = row.split ?? chosen.get(row);
        if (split) haveOf(row.className)[split]++;
      }
      const gap = new Map<string, SplitTotals>();
      const targets = new Map<string, SplitTotals>();
      for (const [name, n] of totals) {
        const target = splitTargets(n, ratios);
        targets.set(name, target);
        const current = haveOf(name);
        gap.set(name, { train: target.train - current.train, val: target.val - current.val, test: target.test - current.test });
      }

      const open = SPLITS.filter((s) => ratios[s] > 0);
      units.sort((a, b) => b.images.length - a.images.length || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (const unit of units) {
        let best: Split = open[0]!;
        let bestCost = Infinity;
        let bestGap = -Infinity;
        for (const split of open) {
          // Cost: how much further from the targets (summed over classes) this placement leaves
          // the split. Among equals, the split with the largest share of its target still open,
          // so that groups spread over the splits in proportion instead of filling train first;
          // then train, val, test.
          let cost = 0;
          let room = 0;
          for (const [name, count] of unit.perClass) {
            const g = gap.get(name)![split];
            const target = targets.get(name)![split];
            cost += Math.abs(g - count) - Math.abs(g);
            room += count * (target > 0 ? g / target : -1);
          }
          if (cost < bestCost || (cost === bestCost && room > bestGap)) {
            best = split;
            bestCost = cost;
            bestGap = room;
          }
        }
        for (const [name, count] of unit.perClass) gap.get(name)![best] -= count;
        for (const row of unit.images) chosen.set(row, best);
      }

      const insert = db.prepare(
        "INSERT INTO splits (image_id, split, source, updated_at) VALUES (@id, @split, 'assigned', @at)",
      );
      const at = Date.now();
      for (const [row, split] of chosen) insert.run({ id: row.id, split, at });

      const counted = rows.filter(isCounted);
      const byClass: Record<string, SplitTotals> = {};
      for (const name of classOrder(db)) if (totals.has(name)) byClass[name] = emptyTotals();
      for (const row of counted) byClass[row.className]![(row.split ?? chosen.get(row))!]++;
      return {
        assigned: chosen.size,
        kept: counted.filter((r) => r.split !== null).length,
        byClass,
        warnings: splitWarnings(byClass, ratios, strays),
      };
    })
    .immediate();
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function splitWarnings(byClass: Record<string, SplitTotals>, ratios: SplitRatios, strays: number): string[] {
  const warnings: string[] = [];
  const classes = Object.entries(byClass);
  const wanted = SPLITS.filter((s) => ratios[s] > 0);
  const emptyEverywhere = new Set<Split>();
  if (classes.length) {
    for (const split of wanted) {
      if (classes.every(([, t]) => t[split] === 0)) emptyEverywhere.add(split);
    }
  }
  if (emptyEverywhere.has('val')) {
    warnings.push(
      `No validation images: early stopping will use ${Math.round(ratios.val * 100)}% of train. ` +
        'Imported and hand-set splits are never moved; put some images in val to choose them yourself.',
    );
  }
  if (emptyEverywhere.has('test')) {
    warnings.push(
      'No test images: a trained model cannot be tested. Imported and hand-set splits are never moved; ' +
        'put some images in test, or label more images so that some can be assigned there.',
    );
  }
  for (const [name, totals] of classes) {
    const missing = wanted.filter((s) => !emptyEverywhere.has(s) && totals[s] === 0);
    if (!missing.length) continue;
    const n = totals.train + totals.val + totals.test;
    const why =
      n < wanted.length
        ? `with only ${plural(n, 'labelled image')} it cannot have one in every split`
        : 'the splits its images already had leave none there';
    warnings.push(`Class "${name}" has no ${missing.map((s) => SPLIT_WORDS[s]).join(' or ')} images: ${why}.`);
  }
  if (strays) {
    warnings.push(
      `${plural(strays, 'image')} ${strays === 1 ? 'is' : 'are'} in a different split from the image ${strays === 1 ? 'it was' : 'they were'} ` +
        'derived from, or from a near-duplicate of ' + (strays === 1 ? 'it' : 'them') + ' the dataset check found, so test results may be too good. ' +
        'Seedbed left those splits as they are; move them to their source\'s split, or keep one copy in the Clean view.',
    );
  }
  return warnings;
}

/** Per class name, the split counts of its active labelled images ('none': not yet in a split). */
export function splitCounts(db: Database): Record<string, SplitTotals & { none: number }> {
  const rows = db
    .prepare(
      `SELECT c.name AS name, s.split AS split, count(*) AS n
       FROM images i
       JOIN labels l ON l.image_id = i.id
       JOIN classes c ON c.id = l.class_id
       LEFT JOIN splits s ON s.image_id = i.id
       WHERE i.status = 'active'
       GROUP BY c.id, s.split
       ORDER BY c.position, c.name`,
    )
    .all() as { name: string; split: Split | null; n: number }[];
  const counts: Record<string, SplitTotals & { none: number }> = {};
  for (const row of rows) {
    const entry = (counts[row.name] ??= { train: 0, val: 0, test: 0, none: 0 });
    entry[row.split ?? 'none'] += row.n;
  }
  return counts;
}

/**
 * A short hash of what a run trains and tests on: the (content hash, class name, split) of every
 * active labelled image, 'none' where it has no split. Ids, paths, tags and times do not count.
 */
export function splitFingerprint(db: Database): string {
  const rows = db
    .prepare(
      `SELECT i.sha256 AS sha256, c.name AS name, coalesce(s.split, 'none') AS split
       FROM images i
       JOIN labels l ON l.image_id = i.id
       JOIN classes c ON c.id = l.class_id
       LEFT JOIN splits s ON s.image_id = i.id
       WHERE i.status = 'active'`,
    )
    .raw()
    .all() as [string, string, string][];
  // Plain code-unit order: the same on every machine, unlike a collation or localeCompare.
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(rows)).digest('hex').slice(0, 16);
}
