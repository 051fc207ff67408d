/**
 * The augmentation ops as pure pixel functions on 8-bit RGB images. Every op returns a new
 * image and never touches its input, and draws everything random from the rng it is given,
 * so a view is reproducible from (seed, view). What strength means per op is documented on
 * AUGMENT_OPS in shared/contract/augment.ts; the limits come from AUGMENT_LIMITS there.
 *
 * Geometric ops sample bilinearly with 'reflect' padding (…2 1 0 1 2…, the edge pixel is
 * not repeated) and keep the size, except rotate90, whose quarter turns swap the sides.
 * Loops index typed arrays directly: one 224×224 view must cost a few milliseconds.
 */
import sharp from 'sharp';
import { AUGMENT_LIMITS, type AugmentOpName } from '../../../shared/contract/augment.ts';
import type { SeededRandom } from '../ml/train/prng.ts';

/** 3 channels, row-major, no alpha: data.length === width * height * 3. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** One op: a new image from img, strength in 0–1, randomness only from rng. */
export type AugmentOpFunction = (img: RgbImage, strength: number, rng: SeededRandom) => RgbImage | Promise<RgbImage>;

const L = AUGMENT_LIMITS;

export function copyImage(img: RgbImage): RgbImage {
  return { data: img.data.slice(), width: img.width, height: img.height };
}

/** Uniform in [−1, 1). */
function signed(rng: SeededRandom): number {
  return rng.next() * 2 - 1;
}

/** Degrading ops draw between half their maximum and the maximum, so an applied op shows. */
function halfToFull(rng: SeededRandom): number {
  return 0.5 + 0.5 * rng.next();
}

/** 'reflect' padding: index i folded into [0, n) without repeating the edge pixel. */
function reflect(i: number, n: number): number {
  if (i >= 0 && i < n) return i;
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let m = i % period;
  if (m < 0) m += period;
  return m < n ? m : period - m;
}

function clampByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}

// ---------- exact geometry ----------

export function flipHorizontal(img: RgbImage): RgbImage {
  const { width, height, data } = img;
  const out = new Uint8Array(data.length);
  const row = width * 3;
  for (let y = 0; y < height; y++) {
    const base = y * row;
    for (let x = 0; x < width; x++) {
      const o = base + x * 3;
      const i = base + (width - 1 - x) * 3;
      out[o] = data[i]!;
      out[o + 1] = data[i + 1]!;
      out[o + 2] = data[i + 2]!;
    }
  }
  return { data: out, width, height };
}

export function flipVertical(img: RgbImage): RgbImage {
  const { width, height, data } = img;
  const out = new Uint8Array(data.length);
  const row = width * 3;
  for (let y = 0; y < height; y++) out.set(data.subarray((height - 1 - y) * row, (height - y) * row), y * row);
  return { data: out, width, height };
}

/** Turns clockwise by turns × 90°, exactly; odd turns swap width and height. */
export function rotateQuarter(img: RgbImage, turns: number): RgbImage {
  const k = ((Math.round(turns) % 4) + 4) % 4;
  if (k === 0) return copyImage(img);
  const { width: w, height: h, data } = img;
  const outW = k === 2 ? w : h;
  const outH = k === 2 ? h : w;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      // Source pixel of output (x, y) for a clockwise turn.
      let sx: number;
      let sy: number;
      if (k === 1) {
        sx = y;
        sy = h - 1 - x;
      } else if (k === 2) {
        sx = w - 1 - x;
        sy = h - 1 - y;
      } else {
        sx = w - 1 - y;
        sy = x;
      }
      const o = (y * outW + x) * 3;
      const i = (sy * w + sx) * 3;
      out[o] = data[i]!;
      out[o + 1] = data[i + 1]!;
      out[o + 2] = data[i + 2]!;
    }
  }
  return { data: out, width: outW, height: outH };
}

/**
 * Resamples img bilinearly: output pixel (x, y) reads the source at
 * (ax·x + bx·y + cx, ay·x + by·y + cy), reflecting outside the image. Same size as img.
 */
export function sampleAffine(img: RgbImage, ax: number, bx: number, cx: number, ay: number, by: number, cy: number): RgbImage {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(data.length);
  let o = 0;
  for (let y = 0; y < h; y++) {
    let sx = bx * y + cx;
    let sy = by * y + cy;
    for (let x = 0; x < w; x++, sx += ax, sy += ay) {
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const xa = reflect(x0, w) * 3;
      const xb = reflect(x0 + 1, w) * 3;
      const ya = reflect(y0, h) * w * 3;
      const yb = reflect(y0 + 1, h) * w * 3;
      const w00 = (1 - fx) * (1 - fy);
      const w01 = fx * (1 - fy);
      const w10 = (1 - fx) * fy;
      const w11 = fx * fy;
      const i00 = ya + xa;
      const i01 = ya + xb;
      const i10 = yb + xa;
      const i11 = yb + xb;
      // Convex weights keep the sum within 0–255.5, so truncation after +0.5 rounds safely.
      out[o] = (data[i00]! * w00 + data[i01]! * w01 + data[i10]! * w10 + data[i11]! * w11 + 0.5) | 0;
      out[o + 1] = (data[i00 + 1]! * w00 + data[i01 + 1]! * w01 + data[i10 + 1]! * w10 + data[i11 + 1]! * w11 + 0.5) | 0;
      out[o + 2] = (data[i00 + 2]! * w00 + data[i01 + 2]! * w01 + data[i10 + 2]! * w10 + data[i11 + 2]! * w11 + 0.5) | 0;
      o += 3;
    }
  }
  return { data: out, width: w, height: h };
}

/** Rotates about the centre by degrees (positive = clockwise on screen), keeping the size. */
export function rotateByDegrees(img: RgbImage, degrees: number): RgbImage {
  const t = (degrees * Math.PI) / 180;
  const cos = Math.cos(t);
  const sin = Math.sin(t);
  const mx = (img.width - 1) / 2;
  const my = (img.height - 1) / 2;
  // Inverse map: the output pixel looks back by −t around the centre.
  return sampleAffine(img, cos, sin, mx - cos * mx - sin * my, -sin, cos, my + sin * mx - cos * my);
}

/** Shifts content by (dx, dy) pixels, fractional allowed, keeping the size. */
export function shiftBy(img: RgbImage, dx: number, dy: number): RgbImage {
  return sampleAffine(img, 1, 0, -dx, 0, 1, -dy);
}

/** Crops the window (left, top, cropWidth, cropHeight) and stretches it back to the full size. */
export function cropAndResize(img: RgbImage, left: number, top: number, cropWidth: number, cropHeight: number): RgbImage {
  const scaleX = cropWidth / img.width;
  const scaleY = cropHeight / img.height;
  // Pixel centres: output x + 0.5 maps to left + (x + 0.5)·scale in the source.
  return sampleAffine(img, scaleX, 0, left + 0.5 * scaleX - 0.5, 0, scaleY, top + 0.5 * scaleY - 0.5);
}

// ---------- intensity ----------

function applyLut(img: RgbImage, lut: Uint8Array): RgbImage {
  const { data } = img;
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = lut[data[i]!]!;
  return { data: out, width: img.width, height: img.height };
}

/** Rec. 601 luma of the whole image, 0–255. */
export function meanLuma(img: RgbImage): number {
  const { data } = img;
  let sum = 0;
  for (let i = 0; i < data.length; i += 3) sum += 0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!;
  return data.length === 0 ? 0 : sum / (data.length / 3);
}

export function scaleBrightness(img: RgbImage, factor: number): RgbImage {
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = clampByte(v * factor);
  return applyLut(img, lut);
}

export function scaleContrast(img: RgbImage, factor: number): RgbImage {
  const mean = meanLuma(img);
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = clampByte(mean + (v - mean) * factor);
  return applyLut(img, lut);
}

export function scaleSaturation(img: RgbImage, factor: number): RgbImage {
  const { data } = img;
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i += 3) {
    const r = data[i]!;
    const g = data[i + 1]!;
    const b = data[i + 2]!;
    const grey = 0.299 * r + 0.587 * g + 0.114 * b;
    out[i] = clampByte(grey + (r - grey) * factor);
    out[i + 1] = clampByte(grey + (g - grey) * factor);
    out[i + 2] = clampByte(grey + (b - grey) * factor);
  }
  return { data: out, width: img.width, height: img.height };
}

/** Turns the hue by a fraction of the colour wheel, keeping HSV value and saturation; greys stay. */
export function shiftHue(img: RgbImage, turn: number): RgbImage {
  const { data } = img;
  const out = new Uint8Array(data.length);
  const shift = (((turn % 1) + 1) % 1) * 6;
  for (let i = 0; i < data.length; i += 3) {
    const r = data[i]!;
    const g = data[i + 1]!;
    const b = data[i + 2]!;
    const max = r > g ? (r > b ? r : b) : g > b ? g : b;
    const min = r < g ? (r < b ? r : b) : g < b ? g : b;
    const chroma = max - min;
    if (chroma === 0) {
      out[i] = r;
      out[i + 1] = g;
      out[i + 2] = b;
      continue;
    }
    let h = max === r ? (g - b) / chroma : max === g ? (b - r) / chroma + 2 : (r - g) / chroma + 4;
    h += shift;
    h = h - 6 * Math.floor(h / 6);
    const mid = chroma * (1 - Math.abs((h % 2) - 1)) + min;
    const sector = h | 0;
    let nr: number;
    let ng: number;
    let nb: number;
    if (sector === 0) (nr = max), (ng = mid), (nb = min);
    else if (sector === 1) (nr = mid), (ng = max), (nb = min);
    else if (sector === 2) (nr = min), (ng = max), (nb = mid);
    else if (sector === 3) (nr = min), (ng = mid), (nb = max);
    else if (sector === 4) (nr = mid), (ng = min), (nb = max);
    else (nr = max), (ng = min), (nb = mid);
    out[i] = clampByte(nr);
    out[i + 1] = clampByte(ng);
    out[i + 2] = clampByte(nb);
  }
  return { data: out, width: img.width, height: img.height };
}

// ---------- degradations ----------

/** Adds independent gaussian noise of sigma levels (0–255 scale) to every channel. */
export function addGaussianNoise(img: RgbImage, sigma: number, rng: SeededRandom): RgbImage {
  const { data } = img;
  const out = new Uint8Array(data.length);
  const n = data.length;
  for (let i = 0; i < n; i += 2) {
    // Box–Muller: two normals per pair of uniforms; 1 − next() keeps log away from 0.
    const radius = sigma * Math.sqrt(-2 * Math.log(1 - rng.next()));
    const angle = 2 * Math.PI * rng.next();
    out[i] = clampByte(data[i]! + radius * Math.cos(angle));
    if (i + 1 < n) out[i + 1] = clampByte(data[i + 1]! + radius * Math.sin(angle));
  }
  return { data: out, width: img.width, height: img.height };
}

/** Separable gaussian blur of sigma pixels with reflect padding. */
export function gaussianBlur(img: RgbImage, sigma: number): RgbImage {
  if (sigma <= 0) return copyImage(img);
  const { width: w, height: h, data } = img;
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const size = 2 * radius + 1;
  const kernel = new Float32Array(size);
  let total = 0;
  for (let k = -radius; k <= radius; k++) {
    const weight = Math.exp(-(k * k) / (2 * sigma * sigma));
    kernel[k + radius] = weight;
    total += weight;
  }
  for (let k = 0; k < size; k++) kernel[k]! /= total;

  // Padded index tables: the reflect lookup is done once per column/row, not per tap.
  const colAt = new Int32Array(w + 2 * radius);
  for (let i = 0; i < colAt.length; i++) colAt[i] = reflect(i - radius, w) * 3;
  const rowAt = new Int32Array(h + 2 * radius);
  for (let i = 0; i < rowAt.length; i++) rowAt[i] = reflect(i - radius, h) * w * 3;

  const across = new Float32Array(data.length);
  for (let y = 0; y < h; y++) {
    const base = y * w * 3;
    for (let x = 0; x < w; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < size; k++) {
        const i = base + colAt[x + k]!;
        const wk = kernel[k]!;
        r += data[i]! * wk;
        g += data[i + 1]! * wk;
        b += data[i + 2]! * wk;
      }
      const o = base + x * 3;
      across[o] = r;
      across[o + 1] = g;
      across[o + 2] = b;
    }
  }
  return verticalPass(across, w, h, rowAt, kernel);
}

/** The second half of gaussianBlur: whole rows at a time, since contiguous reads beat a column walk. */
function verticalPass(across: Float32Array, w: number, h: number, rowAt: Int32Array, kernel: Float32Array): RgbImage {
  const row = w * 3;
  const out = new Uint8Array(across.length);
  const acc = new Float32Array(row);
  for (let y = 0; y < h; y++) {
    acc.fill(0);
    for (let k = 0; k < kernel.length; k++) {
      const src = rowAt[y + k]!;
      const wk = kernel[k]!;
      for (let j = 0; j < row; j++) acc[j]! += across[src + j]! * wk;
    }
    const o = y * row;
    for (let j = 0; j < row; j++) out[o + j] = clampByte(acc[j]!);
  }
  return { data: out, width: w, height: h };
}

/** Encodes as JPEG at quality (1–100) and decodes back: the blocking and ringing of a real re-save. */
export async function jpegRecompress(img: RgbImage, quality: number): Promise<RgbImage> {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  const raw = { raw: { width: img.width, height: img.height, channels: 3 as const } };
  const encoded = await sharp(img.data, raw).jpeg({ quality: q }).toBuffer();
  const { data, info } = await sharp(encoded).raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== img.width || info.height !== img.height) {
    throw new Error(`JPEG round trip changed the image shape to ${info.width}×${info.height}×${info.channels}`);
  }
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

/** Per-channel mean, rounded: what a cutout hole is filled with. */
export function meanColour(img: RgbImage): [number, number, number] {
  const { data } = img;
  let r = 0;
  let g = 0;
  let b = 0;
  for (let i = 0; i < data.length; i += 3) {
    r += data[i]!;
    g += data[i + 1]!;
    b += data[i + 2]!;
  }
  const n = Math.max(1, data.length / 3);
  return [Math.round(r / n), Math.round(g / n), Math.round(b / n)];
}

/** Fills the square (left, top, side) with colour; the square must lie inside the image. */
export function fillSquare(img: RgbImage, left: number, top: number, side: number, colour: [number, number, number]): RgbImage {
  const result = copyImage(img);
  const { data, width } = result;
  for (let y = top; y < top + side; y++) {
    for (let x = left; x < left + side; x++) {
      const o = (y * width + x) * 3;
      data[o] = colour[0];
      data[o + 1] = colour[1];
      data[o + 2] = colour[2];
    }
  }
  return result;
}

// ---------- the ops: (img, strength, rng) ----------

export const hflip: AugmentOpFunction = (img) => flipHorizontal(img);
export const vflip: AugmentOpFunction = (img) => flipVertical(img);
export const rotate90: AugmentOpFunction = (img, _strength, rng) => rotateQuarter(img, 1 + rng.nextInt(3));

export const rotate: AugmentOpFunction = (img, strength, rng) =>
  strength <= 0 ? copyImage(img) : rotateByDegrees(img, signed(rng) * L.rotateDegrees * strength);

export const translate: AugmentOpFunction = (img, strength, rng) => {
  if (strength <= 0) return copyImage(img);
  const reach = L.translateFraction * strength;
  return shiftBy(img, signed(rng) * reach * img.width, signed(rng) * reach * img.height);
};

export const resizedCrop: AugmentOpFunction = (img, strength, rng) => {
  if (strength <= 0) return copyImage(img);
  const area = 1 - (1 - L.cropMinArea) * strength * rng.next();
  const aspect = 1 + L.cropAspectJitter * strength * signed(rng);
  const cropWidth = Math.min(img.width, img.width * Math.sqrt(area * aspect));
  const cropHeight = Math.min(img.height, img.height * Math.sqrt(area / aspect));
  const left = rng.next() * (img.width - cropWidth);
  const top = rng.next() * (img.height - cropHeight);
  return cropAndResize(img, left, top, cropWidth, cropHeight);
};

const intensityFactor = (strength: number, rng: SeededRandom) => 1 + L.intensityFactor * strength * signed(rng);

export const brightness: AugmentOpFunction = (img, strength, rng) =>
  strength <= 0 ? copyImage(img) : scaleBrightness(img, intensityFactor(strength, rng));
export const contrast: AugmentOpFunction = (img, strength, rng) =>
  strength <= 0 ? copyImage(img) : scaleContrast(img, intensityFactor(strength, rng));
export const saturation: AugmentOpFunction = (img, strength, rng) =>
  strength <= 0 ? copyImage(img) : scaleSaturation(img, intensityFactor(strength, rng));
export const hue: AugmentOpFunction = (img, strength, rng) =>
  strength <= 0 ? copyImage(img) : shiftHue(img, signed(rng) * L.hueTurn * strength);

export const noise: AugmentOpFunction = (img, strength, rng) =>
  strength <= 0 ? copyImage(img) : addGaussianNoise(img, L.noiseSigma * 255 * strength * halfToFull(rng), rng);

export const blur: AugmentOpFunction = (img, strength, rng) => {
  if (strength <= 0) return copyImage(img);
  const scale = Math.min(img.width, img.height) / 224;
  return gaussianBlur(img, L.blurSigmaAt224 * strength * halfToFull(rng) * scale);
};

export const jpeg: AugmentOpFunction = (img, strength, rng) => {
  if (strength <= 0) return copyImage(img);
  const drop = (L.jpegQualityAtZero - L.jpegQualityAtOne) * strength * halfToFull(rng);
  return jpegRecompress(img, L.jpegQualityAtZero - drop);
};

export const cutout: AugmentOpFunction = (img, strength, rng) => {
  if (strength <= 0) return copyImage(img);
  const short = Math.min(img.width, img.height);
  const side = Math.min(short, Math.max(1, Math.round(L.cutoutFraction * strength * halfToFull(rng) * short)));
  const left = rng.nextInt(img.width - side + 1);
  const top = rng.nextInt(img.height - side + 1);
  return fillSquare(img, left, top, side, meanColour(img));
};

/** Every op by its contract name; the pipeline applies them in a policy's order. */
export const AUGMENT_OP_FUNCTIONS: Record<AugmentOpName, AugmentOpFunction> = {
  hflip,
  vflip,
  rotate,
  rotate90,
  resizedCrop,
  translate,
  brightness,
  contrast,
  saturation,
  hue,
  noise,
  blur,
  jpeg,
  cutout,
};
