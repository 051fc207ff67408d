/**
 * Per-image measurements for the cleaning detectors (blur, exposure, information, size,
 * colour, perceptual hashes), and the low-quality findings judged against the dataset's
 * own distribution. Pure: reads one file, touches no project state.
 */
import sharp from 'sharp';
import { CoreError } from '../errors.ts';
import { tinyLuma } from './align.ts';
import { median } from './robust.ts';
import { DEFAULT_LIMITS } from '../media/image-safety.ts';

/** The measurements one image gets; everything but width/height comes from a downscaled copy. */
export interface ImageStats {
  /** Original size in pixels, after EXIF orientation. */
  width: number;
  height: number;
  /** width / height. */
  aspectRatio: number;
  /** Mean Rec. 601 luma, 0 (black) to 1 (white). */
  brightness: number;
  /** Standard deviation of luma, 0 to 0.5. */
  contrast: number;
  /** Variance of the 3×3 Laplacian of luma (0–255 scale) on the downscaled copy; low = blurry. */
  sharpness: number;
  /** Fraction of pixels whose Sobel gradient exceeds a visible edge (0–1). */
  edgeDensity: number;
  /** Shannon entropy of the 256-bin luma histogram, in bits (0–8). */
  entropy: number;
  /** Mean of (max channel − min channel) / 255 over pixels (0–1). */
  saturation: number;
  /** 99th percentile of the same channel spread: a greyscale image stays near 0 everywhere. */
  saturationP99: number;
  /** 64-bit DCT perceptual hash, 16 hex characters. */
  pHash: string;
  /** 64-bit difference hash, 16 hex characters. */
  dHash: string;
  /** TINY_SIDE² greyscale thumbnail, stretched square, base64: checks candidate near-duplicates (align.ts). */
  tiny: string;
}

/** Long side of the copy every measurement is made on; keeps the cost per image near constant. */
export const STATS_MAX_SIDE = 256;
/** Sobel magnitude (0–255 luma) above which a pixel counts as part of an edge. */
const EDGE_GRADIENT = 40;

/** Measures one image file; throws CoreError('unsupported') when it cannot be decoded. */
export async function imageStats(path: string): Promise<ImageStats> {
  const image = sharp(path, { failOn: 'truncated', limitInputPixels: DEFAULT_LIMITS.maxPixels });
  let rgb: Buffer;
  let channels: number;
  let small: { width: number; height: number };
  let width: number;
  let height: number;
  try {
    const meta = await image.metadata();
    // Orientations 5–8 are quarter turns: the image is shown with its sides swapped.
    const swapped = (meta.orientation ?? 1) >= 5;
    width = (swapped ? meta.height : meta.width) ?? 0;
    height = (swapped ? meta.width : meta.height) ?? 0;
    const { data, info } = await image
      .rotate()
      .resize({ width: STATS_MAX_SIDE, height: STATS_MAX_SIDE, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    rgb = data;
    channels = info.channels;
    small = { width: info.width, height: info.height };
  } catch (err) {
    const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new CoreError('unsupported', `Seedbed could not read the image ${path} to check its quality: ${detail}.`);
  }

  const pixels = small.width * small.height;
  const luma = new Float32Array(pixels);
  const histogram = new Uint32Array(256);
  const spreadHistogram = new Uint32Array(256);
  let lumaSum = 0;
  let lumaSquares = 0;
  let spreadSum = 0;
  for (let i = 0, p = 0; i < pixels; i++, p += channels) {
    const r = rgb[p]!;
    const g = channels >= 3 ? rgb[p + 1]! : r;
    const b = channels >= 3 ? rgb[p + 2]! : r;
    const y = 0.299 * r + 0.587 * g + 0.114 * b;
    luma[i] = y;
    lumaSum += y;
    lumaSquares += y * y;
    histogram[Math.min(255, Math.round(y))]!++;
    const spread = Math.max(r, g, b) - Math.min(r, g, b);
    spreadSum += spread;
    spreadHistogram[spread]!++;
  }
  const meanLuma = lumaSum / pixels;
  const lumaVariance = Math.max(0, lumaSquares / pixels - meanLuma * meanLuma);

  let entropy = 0;
  for (const count of histogram) {
    if (count === 0) continue;
    const p = count / pixels;
    entropy -= p * Math.log2(p);
  }

  const { laplacianVariance, edgeDensity } = edgeMeasures(luma, small.width, small.height);

  const [pHash, dHash] = await Promise.all([
    perceptualHash(luma, small.width, small.height),
    differenceHash(luma, small.width, small.height),
  ]);

  return {
    width,
    height,
    aspectRatio: height > 0 ? width / height : 0,
    brightness: meanLuma / 255,
    contrast: Math.sqrt(lumaVariance) / 255,
    sharpness: laplacianVariance,
    edgeDensity,
    entropy: Math.max(0, entropy),
    saturation: spreadSum / pixels / 255,
    saturationP99: percentileOfHistogram(spreadHistogram, pixels, 0.99) / 255,
    pHash,
    dHash,
    tiny: Buffer.from(tinyLuma(luma, small.width, small.height)).toString('base64'),
  };
}

function edgeMeasures(luma: Float32Array, width: number, height: number): { laplacianVariance: number; edgeDensity: number } {
  if (width < 3 || height < 3) return { laplacianVariance: 0, edgeDensity: 0 };
  let sum = 0;
  let squares = 0;
  let edges = 0;
  const edgeSquared = EDGE_GRADIENT * EDGE_GRADIENT;
  for (let y = 1; y < height - 1; y++) {
    const row = y * width;
    for (let x = 1; x < width - 1; x++) {
      const i = row + x;
      const c = luma[i]!;
      const n = luma[i - width]!;
      const s = luma[i + width]!;
      const w = luma[i - 1]!;
      const e = luma[i + 1]!;
      const lap = n + s + w + e - 4 * c;
      sum += lap;
      squares += lap * lap;
      const nw = luma[i - width - 1]!;
      const ne = luma[i - width + 1]!;
      const sw = luma[i + width - 1]!;
      const se = luma[i + width + 1]!;
      // Sobel / 4 keeps the gradient on the 0–255 scale of a step edge.
      const gx = (ne + 2 * e + se - nw - 2 * w - sw) / 4;
      const gy = (sw + 2 * s + se - nw - 2 * n - ne) / 4;
      if (gx * gx + gy * gy > edgeSquared) edges++;
    }
  }
  const count = (width - 2) * (height - 2);
  const mean = sum / count;
  return { laplacianVariance: Math.max(0, squares / count - mean * mean), edgeDensity: edges / count };
}

function percentileOfHistogram(histogram: Uint32Array, total: number, fraction: number): number {
  const target = total * fraction;
  let seen = 0;
  for (let v = 0; v < histogram.length; v++) {
    seen += histogram[v]!;
    if (seen >= target) return v;
  }
  return histogram.length - 1;
}

/** Resamples the luma plane with libvips, ignoring aspect ratio as both hashes expect. */
async function resampleLuma(luma: Float32Array, width: number, height: number, toWidth: number, toHeight: number): Promise<Float64Array> {
  const bytes = Buffer.alloc(luma.length);
  for (let i = 0; i < luma.length; i++) bytes[i] = Math.round(luma[i]!);
  const out = await sharp(bytes, { raw: { width, height, channels: 1 } })
    .resize({ width: toWidth, height: toHeight, fit: 'fill', kernel: 'linear' })
    // libvips hands back sRGB by default; one band is what was put in.
    .extractChannel(0)
    .raw()
    .toBuffer();
  return Float64Array.from(out);
}

const DCT_SIZE = 32;
const HASH_SIDE = 8;
/** cos((2x+1)·u·π / 2N) for u in 0..7, x in 0..31: only the low frequencies are ever needed. */
const DCT_COSINES: Float64Array[] = Array.from({ length: HASH_SIDE }, (_, u) =>
  Float64Array.from({ length: DCT_SIZE }, (_, x) => Math.cos(((2 * x + 1) * u * Math.PI) / (2 * DCT_SIZE))),
);

/**
 * pHash: 32×32 greyscale, 2-D DCT, the top-left 8×8 block of lowest frequencies, one bit per
 * coefficient above the median of the 63 non-DC ones. The DC term (overall brightness) is
 * left out of the median so exposure changes move no bits; its own bit is always set.
 */
async function perceptualHash(luma: Float32Array, width: number, height: number): Promise<string> {
  const grid = await resampleLuma(luma, width, height, DCT_SIZE, DCT_SIZE);
  // Separable DCT-II: along rows for frequencies 0..7, then along columns.
  const rowPass = new Float64Array(DCT_SIZE * HASH_SIDE);
  for (let y = 0; y < DCT_SIZE; y++) {
    for (let v = 0; v < HASH_SIDE; v++) {
      const cos = DCT_COSINES[v]!;
      let acc = 0;
      for (let x = 0; x < DCT_SIZE; x++) acc += grid[y * DCT_SIZE + x]! * cos[x]!;
      rowPass[y * HASH_SIDE + v] = acc;
    }
  }
  const coefficients = new Float64Array(HASH_SIDE * HASH_SIDE);
  for (let u = 0; u < HASH_SIDE; u++) {
    const cos = DCT_COSINES[u]!;
    for (let v = 0; v < HASH_SIDE; v++) {
      let acc = 0;
      for (let y = 0; y < DCT_SIZE; y++) acc += rowPass[y * HASH_SIDE + v]! * cos[y]!;
      coefficients[u * HASH_SIDE + v] = acc;
    }
  }
  const middle = median(coefficients.subarray(1));
  return bitsToHex(Array.from(coefficients, (c, i) => i === 0 || c > middle));
}

/** dHash: 9×8 greyscale, one bit per horizontally adjacent pair, set where brightness rises. */
async function differenceHash(luma: Float32Array, width: number, height: number): Promise<string> {
  const grid = await resampleLuma(luma, width, height, HASH_SIDE + 1, HASH_SIDE);
  const bits: boolean[] = [];
  for (let y = 0; y < HASH_SIDE; y++) {
    for (let x = 0; x < HASH_SIDE; x++) {
      bits.push(grid[y * (HASH_SIDE + 1) + x]! < grid[y * (HASH_SIDE + 1) + x + 1]!);
    }
  }
  return bitsToHex(bits);
}

function bitsToHex(bits: boolean[]): string {
  let hex = '';
  for (let i = 0; i < bits.length; i += 4) {
    const nibble = (bits[i] ? 8 : 0) | (bits[i + 1] ? 4 : 0) | (bits[i + 2] ? 2 : 0) | (bits[i + 3] ? 1 : 0);
    hex += nibble.toString(16);
  }
  return hex;
}

/** Number of differing bits between two hex hashes of the same length. */
export function hammingDistance(a: string, b: string): number {
  if (a.length !== b.length || !/^[0-9a-f]*$/i.test(a) || !/^[0-9a-f]*$/i.test(b)) {
    throw new CoreError('invalid_input', `Two image hashes cannot be compared: "${a}" and "${b}" are not hex strings of the same length.`);
  }
  let distance = 0;
  for (let i = 0; i < a.length; i++) {
    let diff = parseInt(a[i]!, 16) ^ parseInt(b[i]!, 16);
    while (diff) {
      distance += diff & 1;
      diff >>= 1;
    }
  }
  return distance;
}

// ---------------------------------------------------------------------------------------------
// Low-quality findings, judged against the dataset's own distribution.

export type QualityKind = 'blurry' | 'dark' | 'bright' | 'low_information' | 'too_small' | 'odd_aspect' | 'grayscale';

export interface QualityFinding {
  imageId: number;
  kind: QualityKind;
  /** 0–1, higher = worse. */
  score: number;
  /** One plain sentence with the numbers behind the finding. */
  explanation: string;
}

/**
 * How far (in robust standard deviations: 1.4826 × MAD) an image must sit from the dataset's
 * median before it is called out. 3.5 is the usual outlier cut (Iglewicz & Hoaglin).
 */
export const ROBUST_Z = 3.5;
/**
 * Sharpness is judged on its logarithm, whose spread is wide (soft and crisp photos differ
 * 100-fold), so a lower cut is needed: on 283 TrashNet photos z > 3 flags 2 originals and
 * 9 of 10 copies blurred with sigma 3.
 */
export const BLURRY_Z = 3;
/** Absolute guards: a relative outlier must also be plainly bad on its own. */
export const QUALITY_GUARDS = {
  /** Blurry only when also under this fraction of the dataset's median sharpness. */
  blurryMaxFractionOfMedian: 0.1,
  /** Dark only when mean luma is below this (0.25: a quarter-exposure copy of a white-background photo lands at 0.19–0.22). */
  darkMaxBrightness: 0.25,
  /** Bright only when mean luma is above this. */
  brightMinBrightness: 0.9,
  /** Low information: luma entropy under this many bits… */
  lowInformationMaxEntropy: 2.5,
  /** …and fewer than this fraction of pixels on an edge. */
  lowInformationMaxEdgeDensity: 0.01,
  /** Too small when the short side is under this, whatever the rest of the dataset is. */
  tooSmallAlwaysBelow: 32,
  /** Too small when the short side is under this fraction of the dataset's median short side… */
  tooSmallFractionOfMedian: 0.25,
  /** …and under a typical model input side. */
  tooSmallBelow: 224,
  /** Odd aspect when the long/short ratio is this many times the dataset's median ratio… */
  oddAspectFactor: 2,
  /** …and the image is at least this elongated on its own. */
  oddAspectMinRatio: 2.5,
  /** A channel spread at the 99th percentile under this (8 of 255) counts as greyscale. */
  grayscaleMaxSpread: 0.03,
  /** Greyscale images are flagged only when at least this fraction of the dataset is colour. */
  grayscaleMinColourShare: 0.8,
} as const;

/** Flags the low-quality images of one dataset, each with a score and a one-sentence reason. */
export function qualityFindings(stats: { id: number; stats: ImageStats }[]): QualityFinding[] {
  const findings: QualityFinding[] = [];
  if (stats.length === 0) return findings;
  const g = QUALITY_GUARDS;

  // Sharpness is heavy-tailed; its logarithm is close to symmetric.
  const logSharpness = robustSpread(stats.map((s) => Math.log1p(s.stats.sharpness)), 0.1);
  const medianSharpness = Math.expm1(logSharpness.median);
  const brightness = robustSpread(stats.map((s) => s.stats.brightness), 0.02);
  const shortSides = median(stats.map((s) => Math.min(s.stats.width, s.stats.height)));
  const logElongation = robustSpread(stats.map((s) => Math.log(elongation(s.stats))), 0.05);
  const medianElongation = Math.exp(logElongation.median);
  const colourShare = stats.filter((s) => s.stats.saturationP99 >= g.grayscaleMaxSpread).length / stats.length;

  for (const { id, stats: s } of stats) {
    // A blank frame is reported once, as low information, not also as blurry or colourless.
    const lowInformation = s.entropy < g.lowInformationMaxEntropy && s.edgeDensity < g.lowInformationMaxEdgeDensity;
    const sharpnessZ = (logSharpness.median - Math.log1p(s.sharpness)) / logSharpness.scale;
    if (!lowInformation && sharpnessZ > BLURRY_Z && s.sharpness < g.blurryMaxFractionOfMedian * medianSharpness) {
      findings.push({
        imageId: id,
        kind: 'blurry',
        score: zScore(sharpnessZ, BLURRY_Z),
        explanation: `Much blurrier than the rest of the dataset: sharpness ${round(s.sharpness)} where half the images exceed ${round(medianSharpness)}.`,
      });
    }

    const brightnessZ = (s.brightness - brightness.median) / brightness.scale;
    if (-brightnessZ > ROBUST_Z && s.brightness < g.darkMaxBrightness) {
      findings.push({
        imageId: id,
        kind: 'dark',
        score: zScore(-brightnessZ),
        explanation: `Much darker than the rest of the dataset: brightness ${percent(s.brightness)} where the typical image is at ${percent(brightness.median)}.`,
      });
    }
    if (brightnessZ > ROBUST_Z && s.brightness > g.brightMinBrightness) {
      findings.push({
        imageId: id,
        kind: 'bright',
        score: zScore(brightnessZ),
        explanation: `Much brighter than the rest of the dataset: brightness ${percent(s.brightness)} where the typical image is at ${percent(brightness.median)}.`,
      });
    }

    // Entropy alone would flag a sharp object on a white background; it also needs few edges.
    if (lowInformation) {
      const emptiness = 1 - (s.entropy / g.lowInformationMaxEntropy + s.edgeDensity / g.lowInformationMaxEdgeDensity) / 2;
      findings.push({
        imageId: id,
        kind: 'low_information',
        score: clamp01(0.5 + emptiness / 2),
        explanation: `Almost nothing to see: ${s.entropy.toFixed(1)} bits of brightness variation and ${percent(s.edgeDensity, 1)} of pixels on an edge.`,
      });
    }

    const shortSide = Math.min(s.width, s.height);
    if (shortSide < g.tooSmallAlwaysBelow || (shortSide < g.tooSmallFractionOfMedian * shortSides && shortSide < g.tooSmallBelow)) {
      const reference = Math.min(shortSides, g.tooSmallBelow);
      findings.push({
        imageId: id,
        kind: 'too_small',
        score: clamp01(1 - shortSide / reference / 2),
        explanation: `Too small to learn from: ${s.width}×${s.height} pixels where the typical image is ${round(shortSides)} pixels on its short side.`,
      });
    }

    const imageElongation = elongation(s);
    if (imageElongation > g.oddAspectFactor * medianElongation && imageElongation > g.oddAspectMinRatio) {
      const factor = imageElongation / medianElongation;
      findings.push({
        imageId: id,
        kind: 'odd_aspect',
        score: clamp01(1 - g.oddAspectFactor / factor / 2),
        explanation: `Unusual shape: ${s.width}×${s.height} pixels is ${imageElongation.toFixed(1)} to 1 where the typical image is ${medianElongation.toFixed(1)} to 1.`,
      });
    }

    if (!lowInformation && colourShare >= g.grayscaleMinColourShare && s.saturationP99 < g.grayscaleMaxSpread) {
      findings.push({
        imageId: id,
        kind: 'grayscale',
        score: clamp01(1 - s.saturationP99 / g.grayscaleMaxSpread / 2),
        explanation: `Greyscale among colour images: ${percent(colourShare)} of the dataset is in colour, this image has no colour at all.`,
      });
    }
  }
  return findings;
}

function elongation(s: ImageStats): number {
  if (s.width <= 0 || s.height <= 0) return 1;
  return Math.max(s.width, s.height) / Math.min(s.width, s.height);
}

/** Median and 1.4826 × MAD, floored so a dataset of near-identical images does not flag noise. */
function robustSpread(values: number[], minScale: number): { median: number; scale: number } {
  const middle = median(values);
  const mad = median(values.map((v) => Math.abs(v - middle)));
  return { median: middle, scale: Math.max(1.4826 * mad, minScale) };
}

/** 0.5 at the flagging cut, approaching 1 as the image sits further out. */
function zScore(z: number, cut = ROBUST_Z): number {
  return clamp01(1 - 0.5 ** (z / cut));
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}

function round(x: number): string {
  return x >= 10 ? String(Math.round(x)) : x.toFixed(1);
}

function percent(x: number, digits = 0): string {
  return `${(x * 100).toFixed(digits)}%`;
}
