/**
 * Where in the unit hypercube [0,1)^d auto-tune tries next. Until a few trials exist, a
 * scrambled Halton sequence: quasi-random points that cover the space far more evenly than
 * independent random draws, so a small budget wastes no trials on near-duplicates. After that,
 * TPE (Bergstra et al. 2011, as in hyperopt and Optuna): model where good trials landed and
 * where bad ones did, and try the candidate most likely to be good.
 *
 * Both are pure functions of (seed, trial number, observations): nothing is kept between calls,
 * so a search restored after a restart proposes exactly what it would have.
 */
import { SeededRandom } from '../ml/train/prng.ts';
import type { Dimension } from './space.ts';

const LAST_BELOW_ONE = 1 - 2 ** -53;

function firstPrimes(count: number): number[] {
  const primes: number[] = [];
  for (let n = 2; primes.length < count; n++) {
    if (primes.every((p) => n % p !== 0)) primes.push(n);
  }
  return primes;
}

/**
 * Halton points with each digit position of each dimension scrambled by its own seeded random
 * permutation (as SciPy's `qmc.Halton(scramble=True)`): the scrambling breaks the strong
 * correlation between plain Halton dimensions with large bases while keeping the per-dimension
 * stratification (any b^k consecutive points from index 0 fill the b^k intervals of dimension
 * with base b exactly once).
 */
export class ScrambledHalton {
  readonly dims: number;
  readonly #bases: number[];
  /** #permutations[d][k] permutes the digits at position k of dimension d. */
  readonly #permutations: Int32Array[][];

  constructor(dims: number, seed: number) {
    if (!Number.isInteger(dims) || dims < 1) throw new RangeError(`A Halton sequence needs at least one dimension (got ${dims}).`);
    this.dims = dims;
    this.#bases = firstPrimes(dims);
    const random = new SeededRandom(seed);
    this.#permutations = this.#bases.map((base) => {
      // Enough digits to reach double precision; beyond them a digit changes nothing.
      const digits = Math.ceil(53 / Math.log2(base));
      return Array.from({ length: digits }, () => {
        const perm = new Int32Array(base);
        for (let i = 0; i < base; i++) perm[i] = i;
        return random.shuffle(perm);
      });
    });
  }

  /** The point at `index` (0, 1, 2, …), in [0,1)^dims. */
  point(index: number): number[] {
    if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`A Halton index must be a whole number ≥ 0 (got ${index}).`);
    return this.#bases.map((base, d) => {
      const perms = this.#permutations[d]!;
      let n = index;
      let scale = 1 / base;
      let value = 0;
      for (const perm of perms) {
        value += perm[n % base]! * scale;
        n = Math.floor(n / base);
        scale /= base;
      }
      return Math.min(value, LAST_BELOW_ONE);
    });
  }
}

/** A trial the model learns from: where it was (a point in [0,1)^d) and how good it was (higher is better). */
export interface Observation {
  point: readonly number[];
  score: number;
}

export interface TpeOptions {
  seed: number;
  /** Trials proposed by the quasi-random sequence before the model takes over. Default 10. */
  startupTrials?: number;
  /** Candidates drawn from the good-trial model per proposal. Default 24. */
  candidates?: number;
  /** Fraction of trials counted as good (at least one). Default 0.25. */
  gamma?: number;
  /** Weight of the uniform component in each model, against 1 per observed trial. Default 1. */
  priorWeight?: number;
}

export interface SearchSampler {
  /** The point for trial number `trialIndex` (0-based, counting every new trial of the search). */
  suggest(observations: readonly Observation[], trialIndex: number): number[];
}

/** Mixes the search seed with the trial number, so each proposal has its own reproducible stream. */
function proposalSeed(seed: number, trialIndex: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x27d4eb2f, 0x165667b1) >>> 0;
  h = Math.imul(h ^ (trialIndex >>> 0) ^ (h >>> 15), 0x85ebca77) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

/** Standard normal cumulative distribution (Abramowitz & Stegun 7.1.26, error below 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

function logTruncatedNormal(x: number, mu: number, sigma: number): number {
  const mass = normalCdf((1 - mu) / sigma) - normalCdf(-mu / sigma);
  const z = (x - mu) / sigma;
  return -0.5 * z * z - LOG_SQRT_2PI - Math.log(sigma) - Math.log(Math.max(mass, 1e-12));
}

function gaussian(random: SeededRandom): number {
  // Box–Muller; 1 − u keeps the logarithm finite.
  const u = 1 - random.next();
  const v = random.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function sampleTruncatedNormal(random: SeededRandom, mu: number, sigma: number): number {
  // mu lies in [0,1), so at least about a third of the mass is inside: rejection ends quickly.
  for (let tries = 0; tries < 64; tries++) {
    const x = mu + sigma * gaussian(random);
    if (x >= 0 && x < 1) return x;
  }
  return Math.min(LAST_BELOW_ONE, Math.max(0, mu));
}

function logSumExp(values: number[]): number {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

function category(u: number, size: number): number {
  return Math.min(size - 1, Math.max(0, Math.floor(u * size)));
}

/**
 * A Parzen estimator over [0,1)^d: one product kernel per observed point (truncated gaussians
 * on numeric coordinates, a smoothed one-hot on categorical ones) plus a uniform component.
 * Kernels are joint over dimensions (Optuna's multivariate TPE), so a candidate drawn from one
 * good trial keeps that trial's combination of settings.
 */
class ParzenEstimator {
  readonly #dims: readonly Dimension[];
  readonly #points: (readonly number[])[];
  readonly #sigmas: number[][];
  /** Probability that a categorical kernel puts on the other categories, in total. */
  readonly #categoricalSpread: number;
  readonly #logWeightObserved: number;
  readonly #logWeightPrior: number;

  constructor(dims: readonly Dimension[], points: (readonly number[])[], priorWeight: number) {
    this.#dims = dims;
    this.#points = points;
    const m = points.length;
    const total = m + priorWeight;
    this.#logWeightObserved = Math.log(1 / total);
    this.#logWeightPrior = Math.log(priorWeight / total);
    this.#categoricalSpread = 1 / (1 + m);
    // hyperopt's adaptive Parzen bandwidths: the larger gap to a neighbour, clipped so a tight
    // cluster still explores a little and a lone point does not cover the whole range.
    const minSigma = 1 / Math.min(100, 1 + m);
    this.#sigmas = points.map(() => new Array<number>(dims.length).fill(1));
    dims.forEach((dim, d) => {
      if (dim.kind !== 'numeric') return;
      const order = points.map((p, i) => ({ x: p[d]!, i })).sort((a, b) => a.x - b.x || a.i - b.i);
      order.forEach(({ x, i }, rank) => {
        const left = rank > 0 ? x - order[rank - 1]!.x : x;
        const right = rank < order.length - 1 ? order[rank + 1]!.x - x : 1 - x;
        this.#sigmas[i]![d] = Math.min(1, Math.max(minSigma, left, right));
      });
    });
  }

  sample(random: SeededRandom): number[] {
    const m = this.#points.length;
    const pick = random.next() * (m + Math.exp(this.#logWeightPrior - this.#logWeightObserved));
    const j = Math.floor(pick);
    if (j >= m) {
      return this.#dims.map(() => Math.min(LAST_BELOW_ONE, random.next()));
    }
    const centre = this.#points[j]!;
    return this.#dims.map((dim, d) => {
      if (dim.kind === 'numeric') return sampleTruncatedNormal(random, centre[d]!, this.#sigmas[j]![d]!);
      let c = category(centre[d]!, dim.size);
      if (random.next() < this.#categoricalSpread) c = random.nextInt(dim.size);
      return (c + 0.5) / dim.size;
    });
  }

  logDensity(x: readonly number[]): number {
    const terms: number[] = [];
    let prior = this.#logWeightPrior;
    this.#dims.forEach((dim) => {
      if (dim.kind === 'categorical') prior -= Math.log(dim.size);
    });
    terms.push(prior);
    this.#points.forEach((centre, j) => {
      let log = this.#logWeightObserved;
      this.#dims.forEach((dim, d) => {
        if (dim.kind === 'numeric') {
          log += logTruncatedNormal(x[d]!, centre[d]!, this.#sigmas[j]![d]!);
        } else {
          const same = category(x[d]!, dim.size) === category(centre[d]!, dim.size);
          log += Math.log((same ? 1 - this.#categoricalSpread : 0) + this.#categoricalSpread / dim.size);
        }
      });
      terms.push(log);
    });
    return logSumExp(terms);
  }
}

/**
 * The search's sampler: scrambled Halton points for the first `startupTrials` trials, TPE after.
 * The same seed, trial number and observations always give the same point.
 */
export function createTpeSampler(dims: readonly Dimension[], options: TpeOptions): SearchSampler {
  const startupTrials = options.startupTrials ?? 10;
  const candidates = options.candidates ?? 24;
  const gamma = options.gamma ?? 0.25;
  const priorWeight = options.priorWeight ?? 1;
  if (!(gamma > 0 && gamma < 1)) throw new RangeError(`TPE's good fraction must be between 0 and 1 (got ${gamma}).`);
  const halton = new ScrambledHalton(dims.length, options.seed);

  return {
    suggest(observations, trialIndex) {
      const usable = observations
        .map((o, order) => ({ point: o.point, score: Number.isFinite(o.score) ? o.score : -Infinity, order }))
        .filter((o) => o.point.length === dims.length && o.point.every((u) => Number.isFinite(u)));
      if (usable.length < Math.max(1, startupTrials)) return halton.point(trialIndex);

      // Best first; ties keep the order trials were observed in, so the split is reproducible.
      usable.sort((a, b) => b.score - a.score || a.order - b.order);
      const goodCount = Math.max(1, Math.ceil(gamma * usable.length));
      const good = new ParzenEstimator(dims, usable.slice(0, goodCount).map((o) => o.point), priorWeight);
      const bad = new ParzenEstimator(dims, usable.slice(goodCount).map((o) => o.point), priorWeight);

      const random = new SeededRandom(proposalSeed(options.seed, trialIndex));
      let best: number[] = [];
      let bestRatio = -Infinity;
      for (let c = 0; c < candidates; c++) {
        const x = good.sample(random);
        const ratio = good.logDensity(x) - bad.logDensity(x);
        if (ratio > bestRatio || best.length === 0) {
          best = x;
          bestRatio = ratio;
        }
      }
      return best;
    },
  };
}

/** Quasi-random search only, for comparison and for searches too small for a model. */
export function createQuasiRandomSampler(dims: readonly Dimension[], seed: number): SearchSampler {
  const halton = new ScrambledHalton(dims.length, seed);
  return { suggest: (_observations, trialIndex) => halton.point(trialIndex) };
}
