/**
 * Synthetic examples for tests and benchmarks of the training engine: Gaussian clusters, one
 * per class, whose difficulty is set by how far apart their centres are. Features get
 * arbitrary offsets and scales (like real image summaries) so that standardisation matters.
 */
import type { Examples } from './trainer.ts';
import { SeededRandom } from './prng.ts';

export interface ClusterSpec {
  /** Examples; example i is of class i % classes unless `classShare` is given. */
  n: number;
  classes: number;
  dims: number;
  /** Seeds the examples; the cluster centres, offsets and scales come from `layoutSeed`. */
  seed: number;
  /** Same layout = same clusters: give train and val sets the same one. Default 7. */
  layoutSeed?: number;
  /** Distance of each centre coordinate from 0, in units of the noise; default 1. */
  separation?: number;
  /** Relative share of each class (normalised); default equal. */
  classShare?: number[];
  /** Share of labels replaced by a random class. */
  labelNoise?: number;
}

/** Examples of `spec`: x row-major [n × dims], y the class (after label noise). */
export function gaussianClusters(spec: ClusterSpec): Examples {
  const { n, classes, dims } = spec;
  const layout = new SeededRandom(spec.layoutSeed ?? 7);
  const separation = spec.separation ?? 1;
  const centres = Array.from({ length: classes }, () => Array.from({ length: dims }, () => (layout.next() < 0.5 ? -1 : 1) * separation * layout.next()));
  const offsets = Array.from({ length: dims }, () => (layout.next() - 0.5) * 100);
  const scales = Array.from({ length: dims }, () => 0.1 * 100 ** layout.next());
  const rng = new SeededRandom(spec.seed);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const share = spec.classShare;
  const total = share?.reduce((a, v) => a + v, 0) ?? 0;
  const x = new Float32Array(n * dims);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let c = i % classes;
    if (share) {
      // Golden-ratio positions spread over [0, 1) evenly: each class gets its share, interleaved.
      const position = (i * 0.6180339887) % 1;
      c = 0;
      let cumulative = share[0]! / total;
      while (position >= cumulative && c < classes - 1) cumulative += share[++c]! / total;
    }
    for (let j = 0; j < dims; j++) x[i * dims + j] = offsets[j]! + scales[j]! * (centres[c]![j]! + gauss());
    y[i] = spec.labelNoise && rng.next() < spec.labelNoise ? rng.nextInt(classes) : c;
  }
  return { x, n, shape: [dims], y };
}
