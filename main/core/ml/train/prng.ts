/**
 * A small seeded pseudo-random generator for training: shuffling and dropout seeds. Math.random
 * cannot be seeded, and a run must be reproducible from its config's seed.
 */

/** mulberry32: 32-bit state, full period, fast; plenty for shuffling a few thousand examples. */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    // Mixing the seed keeps nearby seeds (1, 2, 3) from starting on similar sequences.
    this.#state = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A fresh seed for an op that takes one (tf.dropout, an initializer). */
  nextSeed(): number {
    return this.nextInt(2 ** 31 - 1);
  }

  /** Fisher–Yates, in place. */
  shuffle(items: Int32Array): Int32Array {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }
}
