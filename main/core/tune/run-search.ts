/**
 * A search's loop and its trials. The loop (`searchLoop`) is pure scheduling: successive
 * halving says which trial to train for how many epochs, the sampler proposes new
 * configurations (the starting settings first, then quasi-random points, then TPE), and up
 * to `lanes` trials train at once, each in its own training worker (`runTrial` there). Every
 * report goes back with the halving state that follows it, so the caller can store it and a
 * search stopped at any moment resumes: trials that were still training run again first.
 *
 * A search is reproducible for a seed however many lanes run it and in whatever order trials
 * finish: each trial is seeded, a rung promotes only once all of its trials have reported,
 * and new configurations are proposed from the trials of earlier brackets only, all of which
 * have finished when the next bracket starts.
 */
import type { TrainConfig, TrainConfigPatch, TrialRung } from '../../../shared/contract/index.ts';
import { headlineMetrics } from '../eval/metrics.ts';
import type { ExampleSet } from '../ml/train-protocol.ts';
import { resolveConfig } from '../ml/train/resolve-config.ts';
import { predictProbabilities, trainClassifier, type Examples } from '../ml/train/trainer.ts';
import { modelObservations, restoreHalving, type HalvingState, type TrialAsk } from './halving.ts';
import { createTpeSampler } from './sampler.ts';
import { dimensionsOf, patchToPoint, pointToPatch, type SearchSpace } from './space.ts';

/** The examples of one backbone: training images, validation images, and augmented views per augmentation choice. */
export interface SearchData {
  backbone: string;
  train: ExampleSet;
  val: ExampleSet;
  /** Views of the training images per augmentation choice (key: augmentKey), each row with its image's class. */
  views: Record<string, ExampleSet>;
}

/** One trial for a training worker: a config and the examples of its backbone. */
export interface TrialRequest {
  type: 'tune-trial';
  config: TrainConfig;
  data: SearchData;
  numClasses: number;
}

export interface TrialOutcome {
  rung: TrialRung;
  /** Why training stopped on a numerical problem, if it did. */
  error: string | null;
  backend: string;
}

export interface TrialReport {
  trialId: number;
  /** The config fields the trial changes over the base. */
  patch: TrainConfigPatch;
  rung: TrialRung;
  error: string | null;
  state: HalvingState;
}

export interface SearchLoopOptions {
  space: SearchSpace;
  base: TrainConfig;
  seed: number;
  /** The halving state to continue (a fresh one for a new search). */
  state: HalvingState;
  /** Trials training at once. */
  lanes: number;
  /** Stop starting trials after this many milliseconds (a minutes budget); null: until the halving is done. */
  timeLeftMs: number | null;
  /** Train the base config at the top rung too (a new search): the score trials are compared with. */
  baseline: boolean;
  /** Trains one config and scores it on validation. */
  train: (config: TrainConfig) => Promise<{ rung: TrialRung; error: string | null }>;
  onTrial: (report: TrialReport) => void;
  onBaseline: (rung: TrialRung, error: string | null) => void;
}

/** The key an augmentation choice's views are stored under in SearchData.views; '' for none. */
export function augmentKey(augment: TrainConfig['augment']): string {
  return augment.policy && augment.views > 0 ? JSON.stringify([augment.policy.ops, augment.views]) : '';
}

/** The base's own values of the settings a search varies: trial 0's patch. */
export function baseSettings(space: SearchSpace, base: TrainConfig): TrainConfigPatch {
  return Object.fromEntries(space.map((p) => [p.key, structuredClone(base[p.key])])) as TrainConfigPatch;
}

/** The base config changed by a trial's patch, with its rung's epochs. */
export function trialConfig(base: TrainConfig, patch: TrainConfigPatch, epochs: number): TrainConfig {
  // Trials train the head only: fine-tuning would decode every image again for each trial.
  return resolveConfig({ ...base, ...patch, epochs, fineTuneBlocks: 0 });
}

function asExamples(set: ExampleSet): Examples {
  return { x: set.x, n: set.n, shape: [set.dims], y: set.y };
}

function concat(a: ExampleSet, b: ExampleSet | undefined): Examples {
  if (!b || b.n === 0) return asExamples(a);
  const x = new Float32Array((a.n + b.n) * a.dims);
  x.set(a.x);
  x.set(b.x, a.n * a.dims);
  const y = new Int32Array(a.n + b.n);
  y.set(a.y);
  y.set(b.y, a.n);
  return { x, n: a.n + b.n, shape: [a.dims], y };
}

/** Trains one config on its backbone's examples (in a training worker) and scores its best epoch on validation. */
export async function runTrial(req: Omit<TrialRequest, 'type'>): Promise<Omit<TrialOutcome, 'backend'>> {
  const { config, data } = req;
  const started = performance.now();
  const train = concat(data.train, data.views[augmentKey(config.augment)]);
  const val = asExamples(data.val);
  const result = await trainClassifier({ train, val, numClasses: req.numClasses, config, phase: 'head', health: false });
  try {
    const best = result.bestEpoch ? result.epochs[result.bestEpoch - 1] : result.epochs[result.epochs.length - 1];
    let score: number | null = null;
    let valAccuracy: number | null = null;
    // A trial that diverged ranks below every other, whatever its last good epoch scored.
    if (!result.nonFinite) {
      const m = headlineMetrics(await predictProbabilities(result.head, val), val.y, req.numClasses);
      if (Number.isFinite(m.macroF1)) {
        score = m.macroF1;
        valAccuracy = m.accuracy;
      }
    }
    return {
      rung: { epochs: config.epochs, epochsUsed: result.epochs.length, score, valAccuracy, valLoss: best?.valLoss ?? null, seconds: (performance.now() - started) / 1000 },
      error: result.error ?? null,
    };
  } finally {
    result.head.dispose();
  }
}

/**
 * Runs the search until its budget is spent (or its time is up, then the trials training
 * finish). Throws the first error a trial throws (a cancelled worker's included) once the
 * others have settled.
 */
export async function searchLoop(o: SearchLoopOptions): Promise<'budget' | 'time'> {
  const started = performance.now();
  const halving = restoreHalving(o.state);
  const topEpochs = o.state.rungEpochs[o.state.rungEpochs.length - 1]!;
  const dims = dimensionsOf(o.space);
  const sampler = createTpeSampler(dims, { seed: o.seed, startupTrials: Math.max(10, dims.length + 1) });
  // Trial 0 is the starting settings, exactly (the sampler sees them at their nearest point;
  // a setting outside the space's values sits mid-range).
  const basePoint = patchToPoint(o.space, o.base).map((u) => u ?? 0.5);
  const basePatch = baseSettings(o.space, o.base);
  const propose = ({ trialIndex }: { trialIndex: number }): number[] => {
    if (trialIndex === 0) return basePoint;
    const state = halving.state();
    const current = state.bracketList.length - 1;
    const earlier = { ...state, trials: state.trials.filter((t) => t.bracket < current) };
    return sampler.suggest(modelObservations(earlier, dims.length + 1), trialIndex);
  };

  const queue: TrialAsk[] = halving.pending();
  const running = new Set<Promise<void>>();
  let failure: { error: unknown } | null = null;
  let timeUp = false;
  const track = (work: Promise<void>): void => {
    const p: Promise<void> = work.catch((error: unknown) => void (failure ??= { error })).finally(() => running.delete(p));
    running.add(p);
  };
  // The starting settings at full length, for comparison: trained when a lane would otherwise
  // wait (a rung waiting for its last trials), or at the end.
  let baselineDue = o.baseline;
  for (;;) {
    if (o.timeLeftMs !== null && performance.now() - started >= o.timeLeftMs) timeUp = true;
    while (!failure && !timeUp && running.size < o.lanes) {
      const ask = queue.shift() ?? halving.next(propose);
      if (!ask) {
        if (baselineDue) {
          baselineDue = false;
          track(o.train(trialConfig(o.base, {}, topEpochs)).then(({ rung, error }) => o.onBaseline(rung, error)));
          continue;
        }
        break;
      }
      const patch = ask.trialId === 0 ? basePatch : pointToPatch(o.space, ask.point ?? basePoint);
      track(
        o.train(trialConfig(o.base, patch, ask.epochs)).then(({ rung, error }) => {
          halving.report(ask.trialId, rung.score ?? Number.NaN);
          o.onTrial({ trialId: ask.trialId, patch, rung, error, state: halving.state() });
        }),
      );
    }
    if (running.size === 0) break;
    await Promise.race(running);
  }
  if (failure) throw (failure as { error: unknown }).error;
  return timeUp ? 'time' : 'budget';
}
