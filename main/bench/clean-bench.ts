/**
 * The cleaning benchmark: copies TrashNet into a temporary folder with known problems
 * injected (clean-inject.ts: 10% flipped labels, near-duplicates of four kinds, blurred and
 * darkened copies, chest X-rays as strays), imports it, runs every detector, and scores each
 * against what was injected. The first check computes statistics and embeddings; the second
 * runs on cached ones (the "all detectors under 60 s" target).
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { EventMessage, FindingKind, FindingsPage, FindingView, JobInfo, Result } from '../../shared/contract/index.ts';
import { Core } from '../core/core.ts';
import { jobEnded, unwrap } from '../core/core-calls.ts';
import { injectProblems, NEAR_DUPLICATE_KINDS, type InjectedProblems } from './clean-inject.ts';

async function runJob(core: Core, start: Promise<Result<unknown>>): Promise<{ job: JobInfo; seconds: number }> {
  const started = performance.now();
  const seen: EventMessage[] = [];
  const off = core.events.on((m) => seen.push(m));
  const { jobId } = unwrap<{ jobId: string }>(await start);
  const job = await jobEnded(core, jobId, seen);
  off();
  if (job.status !== 'done') throw new Error(`${job.title} ${job.status}: ${job.error}`);
  return { job, seconds: (performance.now() - started) / 1000 };
}

async function allFindings(core: Core, kind: FindingKind): Promise<FindingView[]> {
  const out: FindingView[] = [];
  for (let offset = 0; ; offset += 500) {
    const page = unwrap<FindingsPage>(await core.dispatch('findings.list', { kinds: [kind], state: 'all', offset, limit: 500 }));
    out.push(...page.findings);
    if (out.length >= page.total) return out;
  }
}

const ratio = (a: number, b: number) => (b === 0 ? NaN : a / b);

export interface CleaningFigures {
  images: number;
  injected: { flips: number; nearDuplicates: number; blurred: number; darkened: number; outliers: number };
  backbone: string | null;
  seconds: { inject: number; import: number; firstCheck: number; cachedCheck: number };
  labelIssues: { flagged: number; hits: number; precision: number; recall: number; suggestedRight: number; flaggedOutliers: number };
  nearDuplicates: {
    recall: number;
    recallByKind: Record<string, number>;
    precision: number;
    /** Groups made only of original TrashNet photos: duplicates the dataset already had. */
    originalGroups: number;
    originalGroupExamples: string[][];
  };
  blurry: { recall: number; originalsFlagged: number; originalsShare: number };
  dark: { recall: number; originalsFlagged: number; originalsShare: number };
  outliers: { recall: number; flagged: number };
  counts: Partial<Record<FindingKind, number>>;
  notes: string[];
  /** Seconds per stage of the first check and of the cached one. */
  stages: { first: Record<string, number>; cached: Record<string, number> };
}

export async function benchCleaning(dir: string, o: { trashnet: string; chestXray: string; sampleDir: string; backbone?: string }): Promise<CleaningFigures> {
  const t0 = performance.now();
  const injected: InjectedProblems = await injectProblems({ source: o.trashnet, outlierSource: o.chestXray, out: path.join(dir, 'cleaning-data'), seed: 1 });
  const injectSeconds = (performance.now() - t0) / 1000;
  const core = new Core({
    host: { kind: 'cli', appVersion: 'bench', nativeDialogs: false, uploads: false, platform: process.platform },
    stateDir: path.join(dir, 'cleaning-state'),
    sampleDir: o.sampleDir,
  });
  try {
    unwrap(await core.dispatch('project.create', { path: path.join(dir, 'cleaning.seedbed') }));
    const imported = await runJob(core, core.dispatch('import.start', { paths: [injected.root], split: 'auto' }));
    unwrap(await core.dispatch('splits.assign', {}));
    const params = o.backbone ? { backbone: o.backbone } : {};
    const first = await runJob(core, core.dispatch('clean.start', params));
    const firstStages = unwrap<{ lastCheck: { stages?: Record<string, number> } | null }>(await core.dispatch('health.summary', {})).lastCheck?.stages ?? {};
    const cached = await runJob(core, core.dispatch('clean.start', params));

    const byKind = async (kind: FindingKind) => allFindings(core, kind);
    const counts: Partial<Record<FindingKind, number>> = {};
    const found = new Map<FindingKind, FindingView[]>();
    for (const kind of ['exact_duplicate', 'near_duplicate', 'corrupt', 'blurry', 'dark', 'bright', 'low_information', 'too_small', 'odd_aspect', 'grayscale', 'outlier', 'label_issue', 'class_overlap'] as FindingKind[]) {
      found.set(kind, await byKind(kind));
      counts[kind] = found.get(kind)!.length;
    }
    const paths = (kind: FindingKind) => new Set(found.get(kind)!.flatMap((f) => f.images.map((i) => i.path)));

    // Label issues against the flipped files.
    const flips = new Map(injected.flips.map((f) => [f.path, f]));
    const outlierPaths = new Set(injected.outliers.map((x) => x.path));
    const issues = found.get('label_issue')!;
    const hits = issues.filter((f) => flips.has(f.images[0]!.path));
    const suggestedRight = hits.filter((f) => f.suggestion?.action === 'relabel' && f.suggestion.className === flips.get(f.images[0]!.path)!.truth).length;

    // Near-duplicates: each injected copy must share a group with its original. A group's
    // pairs are right when both belong to one family (an original and its copies).
    const family = new Map<string, string>();
    for (const d of injected.nearDuplicates) {
      family.set(d.path, d.original);
      family.set(d.original, d.original);
    }
    const groupOf = new Map<string, Set<string>>();
    for (const f of found.get('near_duplicate')!) {
      const members = new Set(f.images.map((i) => i.path));
      for (const p of members) groupOf.set(p, members);
    }
    const caught = injected.nearDuplicates.filter((d) => groupOf.get(d.path)?.has(d.original));
    const recallByKind = Object.fromEntries(
      NEAR_DUPLICATE_KINDS.map((k) => {
        const all = injected.nearDuplicates.filter((d) => d.how === k);
        return [k, ratio(all.filter((d) => groupOf.get(d.path)?.has(d.original)).length, all.length)];
      }),
    );
    let rightPairs = 0;
    let injectedPairs = 0;
    let originalGroups = 0;
    const originalGroupExamples: string[][] = [];
    const copies = new Set([...injected.nearDuplicates, ...injected.blurred, ...injected.darkened].map((d) => d.path));
    for (const f of found.get('near_duplicate')!) {
      const members = f.images.map((i) => i.path);
      if (!members.some((p) => family.has(p) || copies.has(p))) {
        originalGroups++;
        if (originalGroupExamples.length < 8) originalGroupExamples.push(members.map((p) => path.relative(injected.root, p)));
        continue;
      }
      for (let i = 0; i < members.length; i++) {
        for (let j = i + 1; j < members.length; j++) {
          const a = members[i]!;
          const b = members[j]!;
          if (!(family.has(a) || family.has(b))) continue;
          injectedPairs++;
          if (family.get(a) !== undefined && family.get(a) === family.get(b)) rightPairs++;
        }
      }
    }

    const quality = (kind: 'blurry' | 'dark', list: { path: string }[]) => {
      const flagged = paths(kind);
      const mine = new Set(list.map((x) => x.path));
      const originalsFlagged = [...flagged].filter((p) => !copies.has(p) && !outlierPaths.has(p)).length;
      const originals = injected.files - injected.nearDuplicates.length - injected.blurred.length - injected.darkened.length - injected.outliers.length;
      return { recall: ratio([...mine].filter((p) => flagged.has(p)).length, mine.size), originalsFlagged, originalsShare: originalsFlagged / originals };
    };
    const outliersFound = paths('outlier');
    const health = unwrap<{ lastCheck: { backbone: string | null; notes: string[]; stages?: Record<string, number> } | null }>(await core.dispatch('health.summary', {}));
    return {
      images: injected.files,
      injected: { flips: injected.flips.length, nearDuplicates: injected.nearDuplicates.length, blurred: injected.blurred.length, darkened: injected.darkened.length, outliers: injected.outliers.length },
      backbone: health.lastCheck?.backbone ?? null,
      seconds: { inject: injectSeconds, import: imported.seconds, firstCheck: first.seconds, cachedCheck: cached.seconds },
      labelIssues: {
        flagged: issues.length,
        hits: hits.length,
        precision: ratio(hits.length, issues.length),
        recall: ratio(hits.length, injected.flips.length),
        suggestedRight,
        flaggedOutliers: issues.filter((f) => outlierPaths.has(f.images[0]!.path)).length,
      },
      nearDuplicates: { recall: ratio(caught.length, injected.nearDuplicates.length), recallByKind, precision: ratio(rightPairs, injectedPairs), originalGroups, originalGroupExamples },
      blurry: quality('blurry', injected.blurred),
      dark: quality('dark', injected.darkened),
      outliers: { recall: ratio(injected.outliers.filter((x) => outliersFound.has(x.path)).length, injected.outliers.length), flagged: outliersFound.size },
      counts,
      notes: health.lastCheck?.notes ?? [],
      stages: { first: firstStages, cached: health.lastCheck?.stages ?? {} },
    };
  } finally {
    await core.close();
  }
}

export function printCleaning(c: CleaningFigures): void {
  const f = (x: number) => (Number.isNaN(x) ? '—' : x.toFixed(2));
  const i = c.injected;
  console.log(`  ${c.images} images: ${i.flips} labels flipped, ${i.nearDuplicates} near-duplicates, ${i.blurred} blurred, ${i.darkened} darkened, ${i.outliers} chest X-rays as strays; backbone ${c.backbone}`);
  console.log(`  inject ${c.seconds.inject.toFixed(1)} s, import ${c.seconds.import.toFixed(1)} s, first check ${c.seconds.firstCheck.toFixed(1)} s (statistics + embeddings), all detectors on cached embeddings ${c.seconds.cachedCheck.toFixed(1)} s (target < 60 s)`);
  const st = (r: Record<string, number>) => Object.entries(r).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ');
  console.log(`    first check: ${st(c.stages.first)}; cached: ${st(c.stages.cached)}`);
  const l = c.labelIssues;
  console.log(`  label issues: precision ${f(l.precision)} (target ≥ 0.7), recall ${f(l.recall)} (target ≥ 0.6): ${l.hits} of ${l.flagged} flagged are flips; suggested class right for ${l.suggestedRight} of ${l.hits}; ${l.flaggedOutliers} strays flagged too`);
  const n = c.nearDuplicates;
  console.log(`  near-duplicates: recall ${f(n.recall)} (target ≥ 0.95) [${Object.entries(n.recallByKind).map(([k, v]) => `${k} ${f(v)}`).join(', ')}], precision ${f(n.precision)} (target ≥ 0.95) over pairs with an injected copy`);
  console.log(`    plus ${n.originalGroups} groups of original TrashNet photos only (duplicates the dataset already has), e.g. ${n.originalGroupExamples.slice(0, 4).map((g) => g.join(' + ')).join('; ')}`);
  console.log(`  blurry: recall ${f(c.blurry.recall)} (target ≥ 0.9); originals flagged ${c.blurry.originalsFlagged} (${(c.blurry.originalsShare * 100).toFixed(1)}%, target < 2%)`);
  console.log(`  dark: recall ${f(c.dark.recall)} (target ≥ 0.9); originals flagged ${c.dark.originalsFlagged} (${(c.dark.originalsShare * 100).toFixed(1)}%, target < 2%)`);
  console.log(`  outliers: ${f(c.outliers.recall)} of the strays found; ${c.outliers.flagged} images flagged in all`);
  console.log(`  open findings per kind: ${Object.entries(c.counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  for (const note of c.notes) console.log(`  note: ${note}`);
}
