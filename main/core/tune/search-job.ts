/**
 * Auto-tune searches as jobs and as stored records. A search varies the head's settings (and,
 * when asked, augmentation and backbones) over the search space, trains each trial on cached
 * embeddings in the training worker and scores it on the validation images; test images are
 * never loaded. Every finished trial is written at once with the halving state that follows
 * it, so a search cancelled, crashed or closed resumes from its last finished trial.
 */
import os from 'node:os';
import type { Database } from 'better-sqlite3';
import {
  NO_AUGMENT,
  type AugmentSettings,
  type TrainConfig,
  type TrainConfigPatch,
  type TrialRung,
  type TrialState,
  type TuneBudget,
  type TuneDetail,
  type TuneParamInfo,
  type TuneStartParams,
  type TuneSummary,
  type TuneTrial,
} from '../../../shared/contract/index.ts';
import type { CoreContext } from '../context.ts';
import { assignSplits, splitFingerprint } from '../data/splits.ts';
import { CoreError } from '../errors.ts';
import type { RunningJob } from '../jobs/manager.ts';
import { ensureEmbeddings, ensureViewEmbeddings, loadPresentEmbeddings, loadViewEmbeddings } from '../ml/embeddings.ts';
import { backboneInfos, chooseDefaultBackbone, featureKey, modelDirFor } from '../ml/models.ts';
import { renameRun } from '../ml/runs.ts';
import type { ExampleSet, TrialOutcome } from '../ml/train-protocol.ts';
import { CancelledError, WarmTrainWorker } from '../ml/train-runner.ts';
import { embedPool, exampleSet, holdOutValidation, resolveConfig, startTraining, trainingSet, type Labelled } from '../ml/training.ts';
import { createHalving, restoreHalving, type HalvingState } from './halving.ts';
import { augmentKey, searchLoop, type SearchData, type TrialReport } from './run-search.ts';
import { DEFAULT_HEAD_SPACE, valueLabel, withRunChoices, type SearchParam, type SearchSpace } from './space.ts';

/** Epochs of a trial at the top rung, at the lowest, and the share kept at each rung (1/ETA). */
// 2 → 7 → 21: three rungs. With 3 → 9 → 27, fifty TrashNet trials took 265–300 s here, at the edge of
// the 5-minute target; 21 at the top trims about a fifth of that.
export const TUNE_MAX_EPOCHS = 21;
export const TUNE_MIN_EPOCHS = 2;
export const TUNE_ETA = 3;
export const DEFAULT_TUNE_BUDGET: TuneBudget = { trials: 50 };


const PARAM_LABELS: Partial<Record<keyof TrainConfig, string>> = {
  learningRate: 'Learning rate',
  dropout: 'Dropout',
  l2: 'L2 weight decay',
  hiddenUnits: 'Hidden units',
  batchSize: 'Batch size',
  labelSmoothing: 'Label smoothing',
  balance: 'Class weighting',
  backbone: 'Backbone',
  augment: 'Augmentation',
};

interface SearchRow {
  id: number;
  name: string;
  status: TuneSummary['status'];
  job_id: string | null;
  seed: number;
  budget: string;
  base: string;
  space: string;
  state: string;
  baseline: string | null;
  data: string | null;
  fingerprint: string;
  seconds: number;
  run_id: number | null;
  error: string | null;
  created_at: number;
  finished_at: number | null;
}

interface TrialRow {
  trial: number;
  config: string;
  rungs: string;
  error: string | null;
}

interface SearchDataNotes {
  train: number;
  val: number;
  notes: string[];
}

// ---------- reading ----------

function searchRow(db: Database, searchId: number): SearchRow {
  const row = db.prepare('SELECT * FROM searches WHERE id = ?').get(searchId) as SearchRow | undefined;
  if (!row) throw new CoreError('not_found', `There is no search ${searchId}; it may have been deleted.`);
  return row;
}

function paramInfo(p: SearchParam): TuneParamInfo {
  const label = PARAM_LABELS[p.key] ?? p.key;
  if (p.kind === 'choice') return { key: p.key, label, kind: 'choice', choices: p.values.map((v) => valueLabel(p, v)), ordered: p.ordered };
  return { key: p.key, label, kind: p.kind, low: p.low, high: p.high };
}

/** A trial's value of one parameter as a number for plots: the value itself, or a choice's index. */
function numberOf(p: SearchParam, value: unknown): number {
  if (p.kind !== 'choice') return typeof value === 'number' ? value : Number.NaN;
  const label = valueLabel(p, value);
  return p.values.findIndex((v) => valueLabel(p, v) === label);
}

/** What the halving state says of a trial: still in the race, stopped by a rung, or through. */
function trialState(state: HalvingState, trialId: number, rungs: TrialRung[], searchEnded: boolean): TrialState {
  const last = rungs[rungs.length - 1];
  if (last && last.score === null) return 'diverged';
  const top = state.rungEpochs[state.rungEpochs.length - 1]!;
  if (last && last.epochs >= top) return 'finished';
  const trial = state.trials[trialId];
  const bracket = trial ? state.bracketList[trial.bracket] : undefined;
  if (searchEnded || !trial || !bracket) return 'stopped';
  const lastRung = trial.results[trial.results.length - 1]?.rung ?? 0;
  if (bracket.finished || (bracket.rung > lastRung && !bracket.members.includes(trialId))) return 'stopped';
  return 'pending';
}

function summaryOf(row: SearchRow, trials: TuneTrial[], baseline: TrialRung | null): TuneSummary {
  const state = JSON.parse(row.state) as HalvingState;
  const top = state.rungEpochs[state.rungEpochs.length - 1]!;
  const best = bestTrial(trials);
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    budget: JSON.parse(row.budget) as TuneBudget,
    seed: row.seed,
    trialCount: trials.length,
    best: best ? { trial: best.trial, score: best.score, epochs: best.epochs } : null,
    baseline: baseline && baseline.epochs >= top ? baseline.score : null,
    seconds: row.seconds,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
    jobId: row.job_id,
    runId: row.run_id,
    error: row.error,
  };
}

/** Trials with a score first (a diverged one is never best), then the most epochs, then the best validation score there, then the earliest trial. */
function bestTrial(trials: readonly TuneTrial[]): TuneTrial | null {
  let best: TuneTrial | null = null;
  for (const t of trials) {
    if (!t.rungs.length) continue;
    const scored = t.score !== null;
    const bestScored = best?.score !== null && best?.score !== undefined;
    const better = !best || (scored && !bestScored) || (scored === bestScored && (t.epochs > best.epochs || (t.epochs === best.epochs && (t.score ?? -Infinity) > (best.score ?? -Infinity))));
    if (better) best = t;
  }
  return best;
}

function trialsOf(db: Database, row: SearchRow, space: SearchSpace, baseline: TrialRung | null): TuneTrial[] {
  const state = JSON.parse(row.state) as HalvingState;
  const top = state.rungEpochs[state.rungEpochs.length - 1]!;
  const ended = row.status === 'done';
  const rows = db.prepare('SELECT trial, config, rungs, error FROM search_trials WHERE search_id = ? ORDER BY trial').all(row.id) as TrialRow[];
  return rows.map((r) => {
    const config = JSON.parse(r.config) as TrainConfigPatch;
    let rungs = JSON.parse(r.rungs) as TrialRung[];
    // Trial 0 is the starting settings, which were also trained at full length as the baseline.
    if (r.trial === 0 && baseline && (rungs[rungs.length - 1]?.epochs ?? 0) < top) rungs = [...rungs, baseline];
    const last = rungs[rungs.length - 1];
    const given = config as Record<string, unknown>;
    return {
      trial: r.trial,
      config,
      values: Object.fromEntries(space.map((p) => [p.key, valueLabel(p, given[p.key])])),
      numbers: Object.fromEntries(space.map((p) => [p.key, numberOf(p, given[p.key])])),
      rungs,
      score: last?.score ?? null,
      epochs: last?.epochs ?? 0,
      seconds: rungs.reduce((a, g) => a + g.seconds, 0),
      state: trialState(state, r.trial, rungs, ended),
      error: r.error,
    };
  });
}

export function getSearch(db: Database, searchId: number): TuneDetail {
  const row = searchRow(db, searchId);
  const space = JSON.parse(row.space) as SearchSpace;
  const base = JSON.parse(row.base) as TrainConfig;
  const baseline = row.baseline ? (JSON.parse(row.baseline) as TrialRung) : null;
  const trials = trialsOf(db, row, space, baseline);
  const summary = summaryOf(row, trials, baseline);
  const best = summary.best ? trials.find((t) => t.trial === summary.best!.trial)! : null;
  return {
    ...summary,
    params: space.map(paramInfo),
    rungEpochs: (JSON.parse(row.state) as HalvingState).rungEpochs,
    base,
    trials,
    bestConfig: best && best.score !== null ? promotedConfig(base, best.config) : null,
    data: row.data ? (JSON.parse(row.data) as SearchDataNotes) : { train: 0, val: 0, notes: [] },
    stale: row.fingerprint !== splitFingerprint(db),
  };
}

export function listSearches(db: Database): TuneSummary[] {
  const ids = db.prepare('SELECT id FROM searches ORDER BY id DESC').pluck().all() as number[];
  return ids.map((id) => {
    const { params: _p, rungEpochs: _r, base: _b, trials: _t, bestConfig: _c, data: _d, stale: _s, ...summary } = getSearch(db, id);
    return summary;
  });
}

/** A trial's settings as a run trains them: the search's base with the trial's changes, and the base's own epochs and fine-tuning. */
function promotedConfig(base: TrainConfig, patch: TrainConfigPatch): TrainConfig {
  return resolveConfig({ ...base, ...patch });
}

// ---------- starting, resuming, stopping ----------

function defaultName(db: Database): string {
  const n = (db.prepare('SELECT COUNT(*) FROM searches').pluck().get() as number) + 1;
  return `Search ${n}`;
}

/** Augmentation choices: none, the base's own and each one asked for (duplicates and no-ops dropped). */
function augmentChoices(base: TrainConfig, asked: readonly AugmentSettings[] | undefined): AugmentSettings[] {
  const choices = new Map<string, AugmentSettings>([['', NO_AUGMENT]]);
  for (const a of asked ?? []) if (augmentKey(a)) choices.set(augmentKey(a), a);
  if (augmentKey(base.augment)) choices.set(augmentKey(base.augment), base.augment);
  return [...choices.values()];
}

export function startSearch(ctx: CoreContext, params: TuneStartParams): { jobId: string; searchId: number } {
  const store = ctx.requireStore();
  const db = store.db;
  const seed = params.seed ?? 1;
  const base = resolveConfig({ ...(params.base ?? {}), seed });
  base.backbone = base.backbone ?? chooseDefaultBackbone(ctx);
  base.fineTuneBlocks = params.base?.fineTuneBlocks ?? 0;
  const available = new Set(backboneInfos(ctx).filter((b) => b.dir).map((b) => b.id));
  const backbones = [...new Set([base.backbone, ...(params.backbones ?? [])])];
  for (const b of backbones) {
    if (!available.has(b)) throw new CoreError('invalid_input', `The backbone "${b}" is not on this computer; download it in Train › Backbone first, or leave it out of the search.`);
    modelDirFor(ctx, b);
  }
  // Trials weigh classes or not; they do not oversample or undersample (that needs a plan per run).
  const notes: string[] = [];
  if (base.balance.strategy !== 'none' && base.balance.strategy !== 'weights') {
    notes.push(`Your settings rebalance by ${base.balance.strategy}; the search tries class weights on and off instead, and trial 0 uses ${base.balance.strategy.includes('weights') ? 'class weights' : 'none'}.`);
    base.balance = { strategy: base.balance.strategy.includes('weights') ? 'weights' : 'none' };
    base.classWeights = base.balance.strategy === 'weights' ? 'balanced' : 'none';
  }
  const augments = augmentChoices(base, params.augment);
  // With one augmentation choice there is nothing to choose: trials use it (or none).
  if (augments.length === 1) base.augment = augments[0]!;
  const space = withRunChoices(DEFAULT_HEAD_SPACE, { backbones, augment: augments });

  const assignment = assignSplits(db, { seed });
  if (assignment.assigned) ctx.events.emit('dataset.changed', { reason: 'splits' });
  const { classes } = trainingSet(db);
  if (classes.length < 2) {
    throw new CoreError('invalid_input', 'Auto-tune needs labelled training images of at least two classes. Label more images first.');
  }
  const budget = params.budget ?? DEFAULT_TUNE_BUDGET;
  const halving = createHalving({
    budget: { trials: 'trials' in budget ? budget.trials : undefined, maxEpochs: TUNE_MAX_EPOCHS },
    minEpochs: TUNE_MIN_EPOCHS,
    eta: TUNE_ETA,
  });
  const searchId = Number(
    db
      .prepare(
        `INSERT INTO searches (name, status, seed, budget, base, space, state, data, fingerprint, created_at)
         VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        params.name ?? defaultName(db),
        seed,
        JSON.stringify(budget),
        JSON.stringify(base),
        JSON.stringify(space),
        JSON.stringify(halving.state()),
        JSON.stringify({ train: 0, val: 0, notes } satisfies SearchDataNotes),
        splitFingerprint(db),
        Date.now(),
      )
      .lastInsertRowid,
  );
  const jobId = launch(ctx, searchId);
  return { jobId, searchId };
}

export function resumeSearch(ctx: CoreContext, searchId: number): { jobId: string } {
  const db = ctx.requireStore().db;
  const row = searchRow(db, searchId);
  if (row.status === 'running') throw new CoreError('conflict', `${row.name} is already running.`);
  if (row.status === 'done') throw new CoreError('conflict', `${row.name} has finished: its budget is spent. Start a new search to look further.`);
  if (row.fingerprint !== splitFingerprint(db)) {
    throw new CoreError('conflict', `The project's images, labels or splits changed since ${row.name} began, so new trials would not be judged like the old ones. Start a new search.`);
  }
  const halving = restoreHalving(JSON.parse(row.state) as HalvingState);
  // A search whose trials all reported may still owe its baseline (stopped while it trained).
  if (halving.done && row.baseline !== null) throw new CoreError('conflict', `${row.name} has no trials left to run.`);
  db.prepare(`UPDATE searches SET status = 'running', error = NULL, finished_at = NULL WHERE id = ?`).run(searchId);
  return { jobId: launch(ctx, searchId) };
}

export function cancelSearch(ctx: CoreContext, searchId: number): { cancelled: boolean } {
  const row = searchRow(ctx.requireStore().db, searchId);
  if (row.status !== 'running' || !row.job_id || ctx.jobs.get(row.job_id)?.status !== 'running') return { cancelled: false };
  ctx.jobs.cancel(row.job_id);
  return { cancelled: true };
}

export function deleteSearch(ctx: CoreContext, searchId: number): { deleted: boolean } {
  const db = ctx.requireStore().db;
  const row = searchRow(db, searchId);
  if (row.status === 'running' && row.job_id && ctx.jobs.get(row.job_id)?.status === 'running') {
    throw new CoreError('busy', `${row.name} is running. Stop it first, then delete it.`);
  }
  db.prepare('DELETE FROM searches WHERE id = ?').run(searchId);
  ctx.events.emit('tune.changed', { searchId });
  return { deleted: true };
}

/** Trains an ordinary run with a trial's settings (default: the best) and names it after the search and trial. */
export function promoteTrial(ctx: CoreContext, searchId: number, trial?: number): { jobId: string; runId: number } {
  const db = ctx.requireStore().db;
  const detail = getSearch(db, searchId);
  const chosen = trial === undefined ? detail.trials.find((t) => t.trial === detail.best?.trial) : detail.trials.find((t) => t.trial === trial);
  if (!chosen) {
    throw new CoreError('not_found', trial === undefined ? `${detail.name} has no finished trial yet.` : `${detail.name} has no trial ${trial}.`);
  }
  if (chosen.state === 'diverged') throw new CoreError('invalid_input', `Trial ${chosen.trial} diverged (its loss became NaN); choose another trial.`);
  const started = startTraining(ctx, promotedConfig(detail.base, chosen.config));
  renameRun(db, started.runId, `${detail.name} · trial ${chosen.trial}`);
  db.prepare('UPDATE searches SET run_id = ? WHERE id = ?').run(started.runId, searchId);
  ctx.events.emit('runs.changed', { runId: started.runId });
  ctx.events.emit('tune.changed', { searchId });
  return started;
}

/** Searches left 'running' by a Seedbed that closed or crashed: paused, ready to resume. */
export function recoverInterruptedSearches(db: Database): number {
  return db
    .prepare(
      `UPDATE searches SET status = 'paused', error = 'Seedbed closed during this search. Resume it to go on from its last finished trial.'
       WHERE status = 'running' AND (job_id IS NULL OR job_id NOT IN (SELECT id FROM jobs WHERE status = 'running'))`,
    )
    .run().changes;
}

// ---------- the job ----------

/** Trials that train at once: one per core (wasm trains on one), at most 4, at least 1. */
function searchLanes(ctx: CoreContext): number {
  return Math.max(1, Math.min(4, ctx.options.workers ?? os.availableParallelism()));
}

/** How many rungs the halving will ask for in all (a dry run), for a trials budget's progress. */
function plannedAsks(state: HalvingState): number | null {
  if (state.maxTrials === null) return null;
  const dry = restoreHalving(state);
  let asks = state.trials.reduce((a, t) => a + t.results.length, 0);
  // Trials that were training when the state was stored count once (already above); their scores do not change the count.
  for (const p of dry.pending()) dry.report(p.trialId, 0);
  for (let guard = 0; guard < 100_000; guard++) {
    const ask = dry.next(() => []);
    if (!ask) break;
    asks++;
    dry.report(ask.trialId, 0);
  }
  return asks;
}

/** Training and validation images of the project as the trials see them; without validation images, 15% of training is held out. */
function searchImages(db: Database, seed: number): { train: Labelled[]; val: Labelled[]; notes: string[]; numClasses: number } {
  const { classes, images } = trainingSet(db);
  let train = images.filter((i) => i.split === 'train');
  let val = images.filter((i) => i.split === 'val');
  const notes: string[] = [];
  if (!val.length) {
    ({ train, val } = holdOutValidation(train, seed));
    const cut = val.length;
    notes.push(`The project has no validation images: ${cut} training images were held out to score the trials.`);
  }
  return { train, val, notes, numClasses: classes.length };
}

/** Embeddings (and augmented views) every trial may need, computing what is missing first. */
async function prepareData(
  ctx: CoreContext,
  job: RunningJob,
  space: SearchSpace,
  base: TrainConfig,
): Promise<{ data: SearchData[]; numClasses: number; notes: SearchDataNotes }> {
  const db = job.store.db;
  const pool = embedPool(ctx);
  const { train, val, notes, numClasses } = searchImages(db, base.seed);
  const backbones = (space.find((p) => p.key === 'backbone')?.values as string[] | undefined) ?? [base.backbone!];
  const augments = (space.find((p) => p.key === 'augment')?.values as AugmentSettings[] | undefined) ?? [base.augment];
  const data: SearchData[] = [];
  const leftOut = new Map<number, string>();
  let kept = { train: train.length, val: val.length };
  for (const backbone of backbones) {
    const key = featureKey(backbone);
    const modelDir = modelDirFor(ctx, backbone);
    const embedded = await ensureEmbeddings(
      db,
      pool,
      { backbone, featureKey: key, modelDir, view: 'center', targets: [...train, ...val] },
      { signal: job.signal, onProgress: ({ done, total }) => job.progress(done, total) },
    );
    for (const f of embedded.failed) leftOut.set(f.imageId, `${f.path}: ${f.reason}`);
    const loaded = loadPresentEmbeddings(db, key, 'center', [...train, ...val]);
    const present = new Set(loaded.kept.map((i) => i.sha256));
    const rowOf = new Map(loaded.kept.map((i, r) => [i.sha256, r]));
    const trainKept = train.filter((i) => present.has(i.sha256));
    const valKept = val.filter((i) => present.has(i.sha256));
    kept = { train: Math.min(kept.train, trainKept.length), val: Math.min(kept.val, valKept.length) };
    const views: Record<string, ExampleSet> = {};
    for (const a of augments) {
      if (!a.policy || !augmentKey(a)) continue;
      const targets = trainKept.map((i) => ({ imageId: i.imageId, sha256: i.sha256, path: i.path, views: a.views }));
      job.progress(0, targets.length * a.views);
      await ensureViewEmbeddings(
        db,
        pool,
        { backbone, featureKey: key, modelDir, policy: a.policy, seed: base.seed, targets },
        { signal: job.signal, onProgress: ({ done, total }) => job.progress(done, total) },
      );
      const made = loadViewEmbeddings(db, key, a.policy, base.seed, targets, loaded.dims);
      views[augmentKey(a)] = {
        x: new Float32Array(made.x),
        n: made.rows,
        dims: loaded.dims,
        y: Int32Array.from(made.owner, (t) => trainKept[t]!.classIndex),
      };
    }
    data.push({ backbone, train: exampleSet(trainKept, loaded.x, loaded.dims, rowOf), val: exampleSet(valKept, loaded.x, loaded.dims, rowOf), views });
  }
  if (leftOut.size) {
    const [first] = leftOut.values();
    notes.push(`${leftOut.size} image${leftOut.size === 1 ? '' : 's'} could not be read and ${leftOut.size === 1 ? 'was' : 'were'} left out (${first}).`);
  }
  if (!kept.val) throw new CoreError('invalid_input', 'Auto-tune scores trials on validation images, and none could be read. Check the images of the validation split.');
  return { data, numClasses, notes: { ...kept, notes } };
}

function launch(ctx: CoreContext, searchId: number): string {
  const db = ctx.requireStore().db;
  const row = searchRow(db, searchId);
  const job = ctx.jobs.start({ kind: 'tune', title: `Auto-tune: ${row.name}`, params: { searchId } }, async (running) => {
    const jdb = running.store.db;
    const launched = performance.now();
    const priorSeconds = row.seconds;
    const spent = () => priorSeconds + (performance.now() - launched) / 1000;
    // Every write is this job's own: a stopped job still settling must not overwrite a resumed search.
    jdb.prepare('UPDATE searches SET job_id = ? WHERE id = ?').run(running.id, searchId);
    const update = (set: string, ...values: unknown[]) => {
      if (jdb.open) jdb.prepare(`UPDATE searches SET ${set} WHERE id = ? AND job_id = ?`).run(...values, searchId, running.id);
    };
    // Cancelling (the user, or the project closing) pauses the search at once; the job's own listeners run before it is marked cancelled.
    const pause = () => {
      update('status = ?, seconds = ?, error = ?', 'paused', spent(), 'Stopped. Resume to go on from the last finished trial.');
      ctx.events.emit('tune.changed', { searchId });
    };
    running.signal.addEventListener('abort', pause, { once: true });
    try {
      const space = JSON.parse(row.space) as SearchSpace;
      const base = JSON.parse(row.base) as TrainConfig;
      const budget = JSON.parse(row.budget) as TuneBudget;
      let state = JSON.parse(row.state) as HalvingState;
      const prepared = await prepareData(ctx, running, space, base);
      const startNotes = row.data ? (JSON.parse(row.data) as SearchDataNotes).notes.filter((n) => n.startsWith('Your settings')) : [];
      update('data = ?', JSON.stringify({ ...prepared.notes, notes: [...startNotes, ...prepared.notes.notes] }));
      ctx.events.emit('tune.changed', { searchId });

      // The budget counts the search's whole time (embedding included), as its stored seconds do.
      const timeLeftMs = 'minutes' in budget ? Math.max(0, budget.minutes * 60_000 - spent() * 1000) : null;
      const planned = plannedAsks(state);
      let asks = state.trials.reduce((a, t) => a + t.results.filter((r) => r.done).length, 0);
      const progress = () => (planned !== null ? running.progress(asks, planned) : running.progress(Math.round(spent()), Math.round(('minutes' in budget ? budget.minutes : 0) * 60)));
      progress();
      const saveTrial = jdb.transaction((report: TrialReport) => {
        const existing = jdb.prepare('SELECT rungs FROM search_trials WHERE search_id = ? AND trial = ?').get(searchId, report.trialId) as { rungs: string } | undefined;
        const rungs = existing ? [...(JSON.parse(existing.rungs) as TrialRung[]), report.rung] : [report.rung];
        jdb
          .prepare('INSERT OR REPLACE INTO search_trials (search_id, trial, config, rungs, error) VALUES (?, ?, ?, ?, ?)')
          .run(searchId, report.trialId, JSON.stringify(report.patch), JSON.stringify(rungs), report.error);
        update('state = ?, seconds = ?', JSON.stringify(report.state), spent());
      });
      // One training worker per lane; wasm trains on one core each, so trials run side by side.
      const lanes = Array.from({ length: searchLanes(ctx) }, () => new WarmTrainWorker(5_000));
      const free = [...lanes];
      const closeLanes = () => void Promise.all(lanes.map((l) => l.close()));
      running.signal.addEventListener('abort', closeLanes, { once: true });
      let ended: 'budget' | 'time';
      try {
        ended = await searchLoop({
          space,
          base,
          seed: row.seed,
          state,
          lanes: lanes.length,
          timeLeftMs,
          baseline: row.baseline === null,
          train: async (config) => {
            if (running.signal.aborted) throw new CancelledError();
            const lane = free.pop()!;
            try {
              const data = prepared.data.find((d) => d.backbone === config.backbone) ?? prepared.data[0]!;
              const key = augmentKey(config.augment);
              const outcome = await lane.run<TrialOutcome>({
                type: 'tune-trial',
                config,
                numClasses: prepared.numClasses,
                data: { ...data, views: key && data.views[key] ? { [key]: data.views[key] } : {} },
              });
              return { rung: outcome.rung, error: outcome.error };
            } finally {
              free.push(lane);
            }
          },
          onTrial: (report) => {
            if (running.signal.aborted) return;
            saveTrial(report);
            state = report.state;
            asks++;
            progress();
            ctx.events.emit('tune.changed', { searchId });
          },
          onBaseline: (rung, error) => {
            if (running.signal.aborted) return;
            update('baseline = ?, seconds = ?', JSON.stringify(rung), spent());
            if (error) {
              const notes = (JSON.parse((jdb.prepare('SELECT data FROM searches WHERE id = ?').get(searchId) as { data: string }).data) as SearchDataNotes);
              update('data = ?', JSON.stringify({ ...notes, notes: [...notes.notes, `Your settings diverged when trained for the full length: ${error}`] }));
            }
            ctx.events.emit('tune.changed', { searchId });
          },
        });
      } finally {
        running.signal.removeEventListener('abort', closeLanes);
        closeLanes();
      }
      if (running.signal.aborted) throw new CancelledError();
      const ending = ended === 'time' ? 'Its time budget was spent.' : null;
      update('status = ?, seconds = ?, finished_at = ?, error = ?', 'done', spent(), Date.now(), ending);
      ctx.events.emit('tune.changed', { searchId });
      const detail = getSearch(jdb, searchId);
      return { searchId, trials: detail.trialCount, best: detail.best };
    } catch (err) {
      // A cancel has paused the search already.
      if (!(running.signal.aborted || err instanceof CancelledError)) {
        update('status = ?, seconds = ?, error = ?', 'failed', spent(), (err as Error).message);
        ctx.events.emit('tune.changed', { searchId });
      }
      throw err;
    } finally {
      running.signal.removeEventListener('abort', pause);
    }
  });
  ctx.events.emit('tune.changed', { searchId });
  return job.id;
}
