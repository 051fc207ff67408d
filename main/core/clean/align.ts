/**
 * Whether two images are one photo: the second is the first re-encoded, resized, cropped or
 * shifted a little. Embeddings and perceptual hashes find candidates; this check decides, as
 * they also score two shots of one object on one background as alike. Each image is a
 * TINY_SIDE² greyscale thumbnail (stretched to a square); its fine detail (the thumbnail minus
 * a blurred copy) is compared, so that plain backgrounds, which every photo of a set shares,
 * count for nothing, and the best match over small zooms and shifts is taken.
 */

export const TINY_SIDE = 48;

/** Thumbnail (luma 0–255, row-major, width × height) → TINY_SIDE² by area averaging, stretched. */
export function tinyLuma(luma: Float32Array, width: number, height: number): Uint8Array {
  const S = TINY_SIDE;
  const out = new Uint8Array(S * S);
  for (let ty = 0; ty < S; ty++) {
    const y0 = Math.floor((ty * height) / S);
    const y1 = Math.max(y0 + 1, Math.floor(((ty + 1) * height) / S));
    for (let tx = 0; tx < S; tx++) {
      const x0 = Math.floor((tx * width) / S);
      const x1 = Math.max(x0 + 1, Math.floor(((tx + 1) * width) / S));
      let sum = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += luma[y * width + x]!;
      out[ty * S + tx] = Math.round(sum / ((y1 - y0) * (x1 - x0)));
    }
  }
  return out;
}

/** Detail: the thumbnail minus its 5×5 box blur (edges clamped). */
export function detail(tiny: Uint8Array): Float32Array {
  const S = TINY_SIDE;
  const out = new Float32Array(S * S);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      let sum = 0;
      for (let dy = -2; dy <= 2; dy++) {
        const yy = Math.min(S - 1, Math.max(0, y + dy));
        for (let dx = -2; dx <= 2; dx++) sum += tiny[yy * S + Math.min(S - 1, Math.max(0, x + dx))]!;
      }
      out[y * S + x] = tiny[y * S + x]! - sum / 25;
    }
  }
  return out;
}

/** Correlation of b with a zoomed by `scale` about the centre and shifted by (dx, dy) pixels, over their overlap. */
export function correlation(a: Float32Array, b: Float32Array, scale: number, dx: number, dy: number): number {
  const S = TINY_SIDE;
  const c = (S - 1) / 2;
  let n = 0;
  let sa = 0;
  let sb = 0;
  let saa = 0;
  let sbb = 0;
  let sab = 0;
  for (let y = 0; y < S; y++) {
    const ay = c + (y - c) * scale + dy;
    if (ay < 0 || ay >= S - 1) continue;
    const y0 = Math.floor(ay);
    const fy = ay - y0;
    for (let x = 0; x < S; x++) {
      const ax = c + (x - c) * scale + dx;
      if (ax < 0 || ax >= S - 1) continue;
      const x0 = Math.floor(ax);
      const fx = ax - x0;
      const i = y0 * S + x0;
      const va = (a[i]! * (1 - fx) + a[i + 1]! * fx) * (1 - fy) + (a[i + S]! * (1 - fx) + a[i + S + 1]! * fx) * fy;
      const vb = b[y * S + x]!;
      n++;
      sa += va;
      sb += vb;
      saa += va * va;
      sbb += vb * vb;
      sab += va * vb;
    }
  }
  if (n < S * S * 0.4) return -1;
  const cov = sab / n - (sa / n) * (sb / n);
  const varA = saa / n - (sa / n) ** 2;
  const varB = sbb / n - (sb / n) ** 2;
  return varA > 1e-6 && varB > 1e-6 ? cov / Math.sqrt(varA * varB) : -1;
}

const COARSE_SCALES = [0.8, 0.9, 1, 1 / 0.9, 1 / 0.8];
const COARSE_SHIFT = 3;

/**
 * The best correlation of the two images' detail over zooms of 0.8–1.25 and shifts of up to
 * about 8% (coarse grid, then refined around the best). 1 = the same pixels.
 */
export function alignment(a: Float32Array, b: Float32Array): number {
  return bestAlignment(a, b).score;
}

/** The best match and where it was found, so a second signal can be read at the same place. */
export function bestAlignment(a: Float32Array, b: Float32Array): { score: number; s: number; dx: number; dy: number } {
  let best = correlation(a, b, 1, 0, 0);
  let at = { s: 1, dx: 0, dy: 0 };
  if (best > 0.98) return { score: best, ...at };
  for (const s of COARSE_SCALES) {
    for (let dx = -COARSE_SHIFT; dx <= COARSE_SHIFT; dx++) {
      for (let dy = -COARSE_SHIFT; dy <= COARSE_SHIFT; dy++) {
        const r = correlation(a, b, s, dx, dy);
        if (r > best) {
          best = r;
          at = { s, dx, dy };
        }
      }
    }
  }
  for (const s of [at.s * 0.95, at.s, at.s / 0.95]) {
    for (let dx = -0.5; dx <= 0.5; dx += 0.5) {
      for (let dy = -0.5; dy <= 0.5; dy += 0.5) {
        const r = correlation(a, b, s, at.dx + dx, at.dy + dy);
        if (r > best) {
          best = r;
          at = { s, dx: at.dx + dx, dy: at.dy + dy };
        }
      }
    }
  }
  return { score: best, ...at };
}
