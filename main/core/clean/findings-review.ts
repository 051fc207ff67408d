/**
 * Reviewing findings: the view the renderer and the CLI show, and the actions that fix them
 * (keep one copy, exclude, relabel to the suggestion, dismiss, reopen). Every action is one
 * undoable step; relabels go through the label store, so they are in each image's label
 * history. Files are never touched: excluding is a status.
 */
import type { Database } from 'better-sqlite3';
import type {
  FindingAction,
  FindingCounts,
  FindingKind,
  FindingsPage,
  FindingState,
  FindingSuggestion,
  FindingView,
  ImageRow,
} from '../../../shared/contract/index.ts';
import { FINDING_KINDS } from '../../../shared/contract/index.ts';
import { CoreError } from '../errors.ts';
import { imageRows } from '../data/gallery.ts';
import type { Change, HistoryEntry, HistoryStep } from '../data/history.ts';
import { countImages } from '../data/image-ids.ts';
import { labelImages, setImagesStatus } from '../data/labeling.ts';
import { listFindings, type StoredFinding } from './findings-store.ts';

/** Stored suggestions may carry more than the contract shows (class overlap keeps its class ids). */
type StoredSuggestion = FindingSuggestion | { action: 'review'; classIds?: number[] };

export function emptyCounts(): Record<FindingKind, FindingCounts> {
  return Object.fromEntries(FINDING_KINDS.map((k) => [k, { open: 0, fixed: 0, dismissed: 0 }])) as Record<FindingKind, FindingCounts>;
}

export function findingCounts(db: Database): Record<FindingKind, FindingCounts> {
  const counts = emptyCounts();
  for (const r of db.prepare('SELECT kind, state, COUNT(*) AS n FROM findings GROUP BY kind, state').all() as { kind: FindingKind; state: FindingState; n: number }[]) {
    counts[r.kind][r.state] = r.n;
  }
  return counts;
}

/** The distinct class names (as the classes spell them) among the folders holding these paths: copies filed under several classes. */
export function classFoldersOf(paths: readonly string[], classNames: Iterable<string>): string[] {
  const byLower = new Map([...classNames].map((n) => [n.toLowerCase(), n]));
  const found = new Set<string>();
  for (const path of paths) {
    const parts = path.split(/[\\/]/);
    const name = byLower.get((parts[parts.length - 2] ?? '').toLowerCase());
    if (name) found.add(name);
  }
  return [...found];
}

export function findingView(db: Database, f: StoredFinding, rows: Map<number, ImageRow>, classNames: Map<number, string>): FindingView {
  const images = f.imageIds.map((id) => rows.get(id)).filter((r): r is ImageRow => r !== undefined);
  const stored = (f.suggestion ?? null) as StoredSuggestion | null;
  let suggestion: FindingSuggestion | null = stored;
  let classes: { id: number; name: string }[] | undefined;
  if (stored && stored.action === 'review') {
    const ids = 'classIds' in stored ? (stored.classIds ?? []) : [];
    classes = ids.filter((id) => classNames.has(id)).map((id) => ({ id, name: classNames.get(id)! }));
    suggestion = { action: 'review' };
  }
  if (suggestion?.action === 'relabel' && classNames.has(suggestion.classId)) suggestion = { ...suggestion, className: classNames.get(suggestion.classId)! };
  const files = f.files ?? [];
  let spansSplits = false;
  let spansClasses = false;
  if (f.kind === 'near_duplicate') {
    spansSplits = new Set(images.map((i) => i.split ?? 'none')).size > 1;
    spansClasses = new Set(images.filter((i) => i.classId !== null).map((i) => i.classId)).size > 1;
  } else if (f.kind === 'exact_duplicate') {
    spansClasses = classFoldersOf(files, classNames.values()).length > 1;
  }
  return {
    id: f.id,
    kind: f.kind,
    state: f.state,
    score: f.score,
    explanation: f.explanation,
    suggestion,
    images,
    files,
    spansSplits,
    spansClasses,
    ...(classes ? { classes } : {}),
    detectedAt: f.detectedAt,
    updatedAt: f.updatedAt,
  };
}

function classNameMap(db: Database): Map<number, string> {
  return new Map((db.prepare('SELECT id, name FROM classes').all() as { id: number; name: string }[]).map((c) => [c.id, c.name]));
}

export function viewFindings(db: Database, found: StoredFinding[]): FindingView[] {
  const rows = new Map(imageRows(db, [...new Set(found.flatMap((f) => f.imageIds))]).map((r) => [r.id, r]));
  const names = classNameMap(db);
  return found.map((f) => findingView(db, f, rows, names));
}

export function queryFindings(db: Database, q: { kinds?: FindingKind[]; state?: FindingState | 'all'; offset?: number; limit?: number }): FindingsPage {
  const state = q.state ?? 'open';
  const all = listFindings(db, { ...(q.kinds ? { kinds: q.kinds } : {}), ...(state === 'all' ? {} : { state }) });
  // Kinds in their fixed order, the most severe first within each.
  const order = new Map(FINDING_KINDS.map((k, i) => [k, i]));
  all.sort((a, b) => order.get(a.kind)! - order.get(b.kind)! || b.score - a.score || a.id - b.id);
  const offset = q.offset ?? 0;
  const page = all.slice(offset, offset + (q.limit ?? 100));
  return { total: all.length, offset, findings: viewFindings(db, page), counts: findingCounts(db) };
}

function loadFindings(db: Database, ids: readonly number[]): StoredFinding[] {
  const found = listFindings(db, { ids });
  const missing = ids.filter((id) => !found.some((f) => f.id === id));
  if (missing.length) {
    throw new CoreError('not_found', `Finding ${missing.join(', ')} is no longer there: the dataset check that found it has run again. Refresh the list.`);
  }
  return found;
}

/** The state a finding ends in after an action, and the images it excludes / relabels. */
interface Plan {
  exclude: Set<number>;
  relabel: Map<number, number[]>;
  states: Map<number, FindingState>;
}

function planAction(f: StoredFinding, action: FindingAction, imageId: number | undefined, plan: Plan): void {
  const s = (f.suggestion ?? null) as StoredSuggestion | null;
  if (imageId !== undefined && !f.imageIds.includes(imageId)) {
    throw new CoreError('invalid_input', `Image ${imageId} is not one of the images of this finding.`);
  }
  switch (action) {
    case 'dismiss':
      plan.states.set(f.id, 'dismissed');
      return;
    case 'reopen':
      plan.states.set(f.id, 'open');
      return;
    case 'exclude': {
      const targets = imageId !== undefined ? [imageId] : f.imageIds;
      if (!targets.length) throw new CoreError('invalid_input', 'This finding is about a file that never became an image of the project: fix or delete the file on disk, or dismiss the finding.');
      targets.forEach((id) => plan.exclude.add(id));
      plan.states.set(f.id, 'fixed');
      return;
    }
    case 'keep': {
      if (f.kind === 'near_duplicate') {
        const keeper = imageId ?? (s?.action === 'keep' ? s.imageId : f.imageIds[0]);
        f.imageIds.filter((id) => id !== keeper).forEach((id) => plan.exclude.add(id));
        plan.states.set(f.id, 'fixed');
      } else {
        // One image (or an exact duplicate, which is one image already): keeping it means it is fine.
        plan.states.set(f.id, 'dismissed');
      }
      return;
    }
    case 'relabel': {
      if (s?.action !== 'relabel') throw new CoreError('invalid_input', `A ${f.kind.replace(/_/g, ' ')} finding suggests no class to relabel to.`);
      const target = imageId ?? f.imageIds[0]!;
      const list = plan.relabel.get(s.classId) ?? [];
      list.push(target);
      plan.relabel.set(s.classId, list);
      plan.states.set(f.id, 'fixed');
      return;
    }
  }
}

/** One undoable step for an action on findings; see the 'findings.act' method. */
export function actOnFindings(db: Database, findingIds: readonly number[], action: FindingAction, imageId: number | undefined, at: number): Change<{ changed: number; findings: number }> {
  const found = loadFindings(db, [...new Set(findingIds)]);
  if (imageId !== undefined && found.length !== 1) throw new CoreError('invalid_input', 'An image can only be chosen when acting on one finding.');
  const plan: Plan = { exclude: new Set(), relabel: new Map(), states: new Map() };
  for (const f of found) planAction(f, action, imageId, plan);

  const undo: HistoryStep[] = [];
  const redo: HistoryStep[] = [];
  let changed = 0;
  const entries: HistoryEntry[] = [];
  const classNames = classNameMap(db);
  for (const [classId, ids] of plan.relabel) {
    if (!classNames.has(classId)) throw new CoreError('conflict', 'The suggested class has been deleted since the check ran. Run the check again.');
    const done = labelImages(db, ids, classId, at);
    changed += done.result.changed;
    if (done.entry) entries.push(done.entry);
  }
  if (plan.exclude.size) {
    const done = setImagesStatus(db, [...plan.exclude], 'excluded');
    changed += done.result.changed;
    if (done.entry) entries.push(done.entry);
  }
  for (const e of entries) {
    redo.push(...e.redo);
    undo.unshift(...e.undo);
  }
  const before = found.filter((f) => plan.states.has(f.id) && plan.states.get(f.id) !== f.state);
  if (before.length) {
    const update = db.prepare('UPDATE findings SET state = ?, updated_at = ? WHERE id = ?');
    for (const f of before) update.run(plan.states.get(f.id)!, at, f.id);
    undo.push({ kind: 'findings', states: before.map((f) => ({ id: f.id, state: f.state })) });
    redo.push({ kind: 'findings', states: before.map((f) => ({ id: f.id, state: plan.states.get(f.id)! })) });
  }
  if (!undo.length) return { result: { changed: 0, findings: 0 }, entry: null };
  return {
    result: { changed, findings: before.length },
    entry: { description: describe(action, found.length, changed, plan, classNames), undo, redo },
  };
}

function describe(action: FindingAction, findings: number, changed: number, plan: Plan, classNames: Map<number, string>): string {
  const nf = findings === 1 ? '1 finding' : `${findings} findings`;
  switch (action) {
    case 'dismiss':
      return `Dismiss ${nf}`;
    case 'reopen':
      return `Reopen ${nf}`;
    case 'exclude':
      return `Exclude ${countImages(plan.exclude.size)} (${nf})`;
    case 'keep':
      return plan.exclude.size ? `Keep one copy, exclude ${countImages(plan.exclude.size)} (${nf})` : `Keep the image${findings === 1 ? '' : 's'} (${nf})`;
    case 'relabel': {
      const targets = [...plan.relabel.keys()].map((id) => classNames.get(id) ?? '?');
      return `Relabel ${countImages(changed)} as ${targets.length === 1 ? targets[0] : 'suggested'} (${nf})`;
    }
  }
}
