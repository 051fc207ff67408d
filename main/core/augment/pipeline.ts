/**
 * Applies an augmentation policy to an image: the one code path behind the live preview,
 * on-the-fly training views and materialised copies. A view is fully decided by
 * (image, policy, seed, view index), so the preview shows exactly what training will see.
 */
import sharp from 'sharp';
import type { AugmentPolicy } from '../../../shared/contract/augment.ts';
import { CoreError } from '../errors.ts';
import { DEFAULT_LIMITS } from '../media/image-safety.ts';
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
