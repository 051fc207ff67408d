/**
 * Applies an augmentation policy to an image: the one code path behind the live preview,
 * on-the-fly training views and materialised copies. A view is fully decided by
 * (image, policy, seed, view index), so the preview shows exactly what training will see.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { AugmentPolicy } from '../../../shared/contract/augment.ts';
import { CoreError } from '../errors.ts';
import { DEFAULT_LIMITS } from '../media/image-safety.ts';
import { decodeForModel, MODEL_INPUT_SIZE } from '../ml/pixels.ts';
import { SeededRandom } from '../ml/train/prng.ts';
import { AUGMENT_OP_FUNCTIONS, type RgbImage } from './ops.ts';

/** Long side images are decoded to before augmenting: enough for a 224 px backbone and a crisp preview tile. */
export const AUGMENT_MAX_SIDE = 256;

/**
 * One 32-bit seed per (run seed, view): views of one seed must not share a stream, and
 * seed s view v must differ from seed s+1 view v−1, so the two are hashed, not added.
 */
export function viewSeed(seed: number, viewIndex: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x3c6ef372, 0xcc9e2d51);
  h = Math.imul(h ^ (h >>> 15) ^ Math.imul((viewIndex >>> 0) + 1, 0x1b873593), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Returns view viewIndex of img under policy; ops run in the policy's order, each with its probability. */
export async function augment(img: RgbImage, policy: AugmentPolicy, seed: number, viewIndex: number): Promise<RgbImage> {
  if (img.data.length !== img.width * img.height * 3 || img.width < 1 || img.height < 1) {
    throw new CoreError('invalid_input', `The image to augment is ${img.width}×${img.height} but holds ${img.data.length} bytes; it must be 3-channel RGB with no alpha.`);
  }
  const rng = new SeededRandom(viewSeed(seed, viewIndex));
  let current: RgbImage = img;
  for (const step of policy.ops) {
    // The coin is drawn for every step, applied or not, so one step's outcome never shifts the next step's randomness.
    const applied = rng.next() < step.p;
    const stepRng = new SeededRandom(rng.nextSeed());
    if (applied) current = await AUGMENT_OP_FUNCTIONS[step.op](current, step.strength, stepRng);
  }
  return current === img ? { data: img.data.slice(), width: img.width, height: img.height } : current;
}

/** Decodes an image file upright (EXIF), shrunk to fit maxSide, as 3-channel RGB. */
export async function decodeForAugment(path: string, maxSide = AUGMENT_MAX_SIDE): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(path, { failOn: 'truncated', limitInputPixels: DEFAULT_LIMITS.maxPixels })
      .rotate()
      .resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true })
      // Transparent areas become white, as in the thumbnails; greyscale becomes three equal channels.
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data: new Uint8Array(data), width: info.width, height: info.height };
  } catch (err) {
    const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new CoreError('unsupported', `Seedbed could not read the image ${path} to augment it: ${detail}.`);
  }
}

/** Decodes path and returns its view number view under policy. */
export async function augmentFile(path: string, policy: AugmentPolicy, seed: number, view: number, maxSide = AUGMENT_MAX_SIDE): Promise<RgbImage> {
  return augment(await decodeForAugment(path, maxSide), policy, seed, view);
}

/** Encodes an image as JPEG, for preview tiles and materialised copies. */
export async function toJpeg(img: RgbImage, quality = 90): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality }).toBuffer();
}

/**
 * The seed of one image's views: the run's seed mixed with the image's content hash, so view
 * v of two images differs, and view v of one image is the same wherever its file lives.
 */
export function imageSeed(seed: number, sha256: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < sha256.length; i++) h = Math.imul(h ^ sha256.charCodeAt(i), 0x01000193);
  return viewSeed(h >>> 0, seed);
}

/**
 * A short key for what a policy does to pixels: its ops, not its name, so renaming a custom
 * policy keeps its cached views and changing one strength makes new ones.
 */
export function policyKey(policy: AugmentPolicy): string {
  return createHash('sha256').update(JSON.stringify(policy.ops.map((s) => [s.op, s.p, s.strength]))).digest('hex').slice(0, 12);
}

/** The embedding-cache view name of augmented view v: `aug:<policy key>:<seed>:<v>`. */
export function augmentedViewName(policy: AugmentPolicy, seed: number, view: number): string {
  return `aug:${policyKey(policy)}:${seed}:${view}`;
}

/** The model's input as an RgbImage: upright, shorter side 224, centre square (pixels.ts). */
export async function modelInput(path: string): Promise<RgbImage> {
  const data = await decodeForModel(path, 'center');
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: MODEL_INPUT_SIZE, height: MODEL_INPUT_SIZE };
}

/**
 * Augmented views of the model's input, decoded once: what training embeds and what the
 * preview shows. Every view is the model's size (224 × 224).
 */
export async function modelViews(
  path: string,
  sha256: string,
  policy: AugmentPolicy,
  seed: number,
  views: readonly number[],
): Promise<{ input: RgbImage; views: RgbImage[] }> {
  const input = await modelInput(path);
  const s = imageSeed(seed, sha256);
  const out: RgbImage[] = [];
  for (const v of views) {
    const view = await augment(input, policy, s, v);
    out.push(view.width === MODEL_INPUT_SIZE && view.height === MODEL_INPUT_SIZE ? view : await resizeTo(view, MODEL_INPUT_SIZE));
  }
  return { input, views: out };
}

async function resizeTo(img: RgbImage, side: number): Promise<RgbImage> {
  const data = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).resize(side, side, { fit: 'fill' }).raw().toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: side, height: side };
}
