/**
 * Successive halving in Hyperband-style brackets (Li et al. 2018), as an ask/tell state
 * machine: `next()` says which trial to train for how many epochs, `report()` takes its
 * validation score. Many configurations get a few epochs; only the best 1/eta of each rung
 * earn eta times more, up to the full epochs. Brackets start at different rungs, so a search
 * also tries some configurations at full length from the start, in case short runs mislead.
 *
 * Rungs are synchronous: a rung promotes once every trial in it has reported, so exactly the
 * top 1/eta move on whatever order results arrive in. All state is a plain JSON object
 * (`state()`), so a search stored after every report resumes after a restart exactly where it
 * stopped. Higher scores are better; a score that is not a finite number (a diverged trial)
 * ranks below every other.
 */
import { CoreError } from '../errors.ts';

export interface HalvingOptions {
  /** trials: new configurations to try in all (none: go on until the caller stops); maxEpochs: the top rung. */
  budget: { trials?: number; maxEpochs: number };
  /** Each rung keeps the best 1/eta and gives them eta times the epochs. Default 3. */
  eta?: number;
  /** Epochs at the lowest rung (rounded from maxEpochs / eta^k). */
  minEpochs: number;
  /** 'hyperband' (default) cycles brackets from most to least aggressive; 'single' runs only the most aggressive. */
  brackets?: 'hyperband' | 'single';
}

/** One rung of one trial: planned (score pending) or done; score null when the trial diverged. */
export interface RungResult {
  rung: number;
  epochs: number;
  done: boolean;
  score: number | null;
}

export interface HalvingTrial {
  id: number;
  /** The point in [0,1)^d the sampler proposed; null when the caller chose the config itself. */
  point: number[] | null;
  bracket: number;
  /** One entry per rung the trial was asked to run, lowest first. */
  results: RungResult[];
}

export interface HalvingBracket {
  id: number;
  startRung: number;
  /** New trials this bracket starts with. */
  size: number;
  /** The rung being run now. */
  rung: number;
  /** Trials at the current rung: created so far at the start rung, the promoted ones above it. */
  members: number[];
  /** Members asked to run at the current rung. */
  issued: number;
  finished: boolean;
}

export interface HalvingState {
  version: 1;
  eta: number;
  maxTrials: number | null;
  brackets: 'hyperband' | 'single';
  /** Epochs of each rung, lowest first; the last is maxEpochs. */
  rungEpochs: number[];
  trials: HalvingTrial[];
  bracketList: HalvingBracket[];
}

/** What to train next. `previousEpochs`: what the trial already trained, for a caller that continues from its weights. */
export interface TrialAsk {
  trialId: number;
  point?: number[];
  epochs: number;
  previousEpochs: number;
  rung: number;
  bracket: number;
}

/** Proposes the point of a new trial; trialIndex counts new trials from 0. */
export type ProposePoint = (context: { trialIndex: number; trials: readonly HalvingTrial[] }) => number[];

export interface Halving {
  /** The next trial to run, or null when none can start until a report arrives, or the search is done. */
  next(propose?: ProposePoint): TrialAsk | null;
  /**
   * Asks issued but not reported, as they were asked: after a restore, the trials that were
   * running when the state was stored, to be run again before anything new.
   */
  pending(): TrialAsk[];
  /** Records the validation score of a trial's latest ask. */
  report(trialId: number, score: number): void;
  /** True when the trial budget is spent and every rung has reported. */
  readonly done: boolean;
  /** The best trial: the highest rung reached, then the best score there; null before any report. */
  best(): { trialId: number; point: number[] | null; epochs: number; score: number | null } | null;
  /** A deep copy of the state, for storing. */
  state(): HalvingState;
}

/** The epochs of each rung: maxEpochs / eta^k, down to minEpochs. */
export function rungEpochs(maxEpochs: number, minEpochs: number, eta: number): number[] {
  const steps = Math.floor(Math.log(maxEpochs / minEpochs) / Math.log(eta) + 1e-9);
  const rungs: number[] = [];
  for (let k = 0; k <= steps; k++) {
    const epochs = Math.max(minEpochs, Math.round(maxEpochs / eta ** (steps - k)));
    if (rungs.length === 0 || epochs > rungs[rungs.length - 1]!) rungs.push(epochs);
  }
  return rungs;
}

/** A fresh search. */
export function createHalving(options: HalvingOptions): Halving {
  const eta = options.eta ?? 3;
  const { maxEpochs, trials } = options.budget;
  const { minEpochs } = options;
  if (!Number.isInteger(maxEpochs) || maxEpochs < 1) {
    throw new CoreError('invalid_input', `The most epochs per trial must be a whole number of at least 1 (got ${maxEpochs}).`);
  }
  if (!Number.isInteger(minEpochs) || minEpochs < 1 || minEpochs > maxEpochs) {
    throw new CoreError('invalid_input', `The fewest epochs per trial must be a whole number from 1 to ${maxEpochs} (got ${minEpochs}).`);
  }
  if (!(eta >= 2) || !Number.isFinite(eta)) {
    throw new CoreError('invalid_input', `Each round must keep at most half of the trials: eta must be at least 2 (got ${eta}).`);
  }
  if (trials !== undefined && (!Number.isInteger(trials) || trials < 1)) {
    throw new CoreError('invalid_input', `The number of trials must be a whole number of at least 1 (got ${trials}).`);
  }
  return restoreHalving({
    version: 1,
    eta,
    maxTrials: trials ?? null,
    brackets: options.brackets ?? 'hyperband',
    rungEpochs: rungEpochs(maxEpochs, minEpochs, eta),
    trials: [],
    bracketList: [],
  });
}

/** Ranks trials at a rung: best score first, diverged trials last, ties by trial id. */
function rank(trials: HalvingTrial[], rung: number): HalvingTrial[] {
  const scoreAt = (t: HalvingTrial) => t.results.find((r) => r.rung === rung)?.score ?? -Infinity;
  return [...trials].sort((a, b) => scoreAt(b) - scoreAt(a) || a.id - b.id);
}

/** A search from a stored state (a copy is taken; the argument is never changed). */
export function restoreHalving(stored: HalvingState): Halving {
  if (stored?.version !== 1) {
    throw new CoreError('unsupported', 'This stored search was saved by a different version of Seedbed and cannot be resumed; start a new search.');
  }
  const s: HalvingState = structuredClone(stored);
  const topRung = s.rungEpochs.length - 1;
  const trialById = (id: number): HalvingTrial => {
    const trial = s.trials[id];
    if (!trial || trial.id !== id) throw new CoreError('internal', `The search has no trial ${id}.`);
    return trial;
  };

  const startBracket = (): HalvingBracket => {
    const id = s.bracketList.length;
    // Hyperband: bracket k of a cycle starts k rungs up with fewer trials, so every bracket costs about the same.
    const steps = s.brackets === 'single' ? 0 : id % (topRung + 1);
    const aggressiveness = topRung - steps;
    let size = Math.ceil(((topRung + 1) / (aggressiveness + 1)) * s.eta ** aggressiveness);
    if (s.maxTrials !== null) size = Math.min(size, s.maxTrials - s.trials.length);
    const bracket: HalvingBracket = { id, startRung: steps, size, rung: steps, members: [], issued: 0, finished: false };
    s.bracketList.push(bracket);
    return bracket;
  };

  const ask = (trial: HalvingTrial, bracket: HalvingBracket): TrialAsk => {
    const previous = trial.results[trial.results.length - 1];
    const epochs = s.rungEpochs[bracket.rung]!;
    trial.results.push({ rung: bracket.rung, epochs, done: false, score: null });
    bracket.issued++;
    const result: TrialAsk = { trialId: trial.id, epochs, previousEpochs: previous?.epochs ?? 0, rung: bracket.rung, bracket: bracket.id };
    if (trial.point) result.point = [...trial.point];
    return result;
  };

  const isDone = (): boolean => {
    const last = s.bracketList[s.bracketList.length - 1];
    return s.maxTrials !== null && s.trials.length >= s.maxTrials && (!last || last.finished);
  };

  return {
    next(propose) {
      let bracket = s.bracketList[s.bracketList.length - 1];
      if (!bracket || bracket.finished) {
        if (isDone()) return null;
        bracket = startBracket();
      }
      if (bracket.rung === bracket.startRung && bracket.members.length < bracket.size) {
        const id = s.trials.length;
        const point = propose ? [...propose({ trialIndex: id, trials: structuredClone(s.trials) })] : null;
        const trial: HalvingTrial = { id, point, bracket: bracket.id, results: [] };
        s.trials.push(trial);
        bracket.members.push(id);
        return ask(trial, bracket);
      }
      if (bracket.issued < bracket.members.length) return ask(trialById(bracket.members[bracket.issued]!), bracket);
      return null;
    },

    pending() {
      return s.trials.flatMap((trial) => {
        const last = trial.results[trial.results.length - 1];
        if (!last || last.done) return [];
        const previous = trial.results[trial.results.length - 2];
        const ask: TrialAsk = { trialId: trial.id, epochs: last.epochs, previousEpochs: previous?.epochs ?? 0, rung: last.rung, bracket: trial.bracket };
        if (trial.point) ask.point = [...trial.point];
        return [ask];
      });
    },

    report(trialId, score) {
      const trial = trialById(trialId);
      const pending = trial.results[trial.results.length - 1];
      if (!pending || pending.done) throw new CoreError('internal', `Trial ${trialId} was not asked to run, or has reported already.`);
      pending.done = true;
      pending.score = Number.isFinite(score) ? score : null;

      const bracket = s.bracketList[trial.bracket]!;
      const planned = bracket.rung === bracket.startRung ? bracket.size : bracket.members.length;
      const members = bracket.members.map(trialById);
      const complete =
        bracket.members.length === planned &&
        members.every((t) => t.results.some((r) => r.rung === bracket.rung && r.done));
      if (!complete) return;
      if (bracket.rung === topRung) {
        bracket.finished = true;
        return;
      }
      const keep = Math.max(1, Math.floor(members.length / s.eta));
      // A diverged trial never goes on, even when too few others scored to fill the places.
      const promoted = rank(members, bracket.rung)
        .slice(0, keep)
        .filter((t) => t.results.some((r) => r.rung === bracket.rung && r.score !== null));
      if (!promoted.length) {
        bracket.finished = true;
        return;
      }
      bracket.members = promoted.map((t) => t.id);
      bracket.rung++;
      bracket.issued = 0;
    },

    get done() {
      return isDone();
    },

    best() {
      let best: { trialId: number; point: number[] | null; epochs: number; score: number | null; rung: number } | null = null;
      for (const trial of s.trials) {
        for (const r of trial.results) {
          if (!r.done) continue;
          const better =
            !best ||
            r.rung > best.rung ||
            (r.rung === best.rung && (r.score ?? -Infinity) > (best.score ?? -Infinity));
          if (better) best = { trialId: trial.id, point: trial.point && [...trial.point], epochs: r.epochs, score: r.score, rung: r.rung };
        }
      }
      if (!best) return null;
      const { rung: _rung, ...rest } = best;
      return rest;
    },

    state() {
      return structuredClone(s);
    },
  };
}

/**
 * What a model-based sampler should learn from (as BOHB does): the scores at the highest rung
 * with at least `minCount` results, since scores after different epochs are not comparable;
 * the rung with the most results when none has enough. Diverged trials count as the worst.
 */
export function modelObservations(state: HalvingState, minCount: number): { point: number[]; score: number }[] {
  const byRung = state.rungEpochs.map((_e, rung) =>
    state.trials.flatMap((t) => {
      const r = t.results.find((x) => x.rung === rung && x.done);
      return r && t.point ? [{ point: t.point, score: r.score ?? -Infinity }] : [];
    }),
  );
  for (let rung = byRung.length - 1; rung >= 0; rung--) {
    if (byRung[rung]!.length >= minCount) return byRung[rung]!;
  }
  return byRung.reduce((most, r) => (r.length > most.length ? r : most), [] as { point: number[]; score: number }[]);
}
