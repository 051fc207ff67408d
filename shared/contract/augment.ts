/**
 * Augmentation policies in the contract: which pixel operations make the extra training
 * views of an image, how often each is applied (p) and how hard (strength, 0 to 1).
 * The same policy drives the live preview, on-the-fly views and materialised copies, so a
 * policy fully decides the pixels given a seed and a view number.
 */
import { z } from 'zod';

/**
 * The operations, in the order the custom-policy editor lists them. What strength s (0–1)
 * means for each; a range "±x" is drawn uniformly from −x·s to +x·s for every view:
 *
 * - hflip, vflip: an exact mirror left–right / top–bottom. Strength is ignored.
 * - rotate90: an exact quarter, half or three-quarter turn (one of the three, equally
 *   likely); a quarter turn swaps width and height. Strength is ignored.
 * - rotate: about the centre by up to ±45° at s = 1 (so with rotate90 at s = 1 every angle
 *   is reachable); the corners are filled by reflecting the image, the size is kept.
 * - resizedCrop: a random window keeping from all of the area down to 35% at s = 1, its
 *   aspect ratio jittered by up to ±25%, stretched back to the original size (a zoom).
 * - translate: a shift by up to ±20% of each side at s = 1, edges filled by reflection.
 * - brightness: every channel multiplied by a factor in [1 − 0.6s, 1 + 0.6s].
 * - contrast: the distance from the image's mean grey scaled by a factor in [1 − 0.6s, 1 + 0.6s].
 * - saturation: the distance from each pixel's own grey scaled by a factor in [1 − 0.6s, 1 + 0.6s].
 * - hue: hue turned by up to ±0.15 of the colour wheel at s = 1; greys are untouched.
 * - noise: gaussian noise per channel, σ up to 0.1 of the 0–255 range (25.5 levels) at s = 1.
 * - blur: gaussian blur, σ up to 3 px at s = 1 for a 224 px image (scaled with the short side).
 * - jpeg: re-encoded as JPEG, quality from 95 at s = 0 down to 15 at s = 1.
 * - cutout: one square hole, side up to 40% of the short side at s = 1, filled with the
 *   image's mean colour.
 *
 * noise, blur, jpeg and cutout only ever degrade an image, so their amount for a view is
 * drawn between half the maximum and the maximum: when one is applied it is visible.
 * Strength 0 is the identity for every op except hflip, vflip and rotate90, whose identity
 * is p = 0.
 */
export const AUGMENT_OPS = [
  'hflip',
  'vflip',
  'rotate',
  'rotate90',
  'resizedCrop',
  'translate',
  'brightness',
  'contrast',
  'saturation',
  'hue',
  'noise',
  'blur',
  'jpeg',
  'cutout',
] as const;
export type AugmentOpName = (typeof AUGMENT_OPS)[number];

/** The ops whose strength is ignored: they are exact and all-or-nothing. */
export const STRENGTHLESS_OPS: readonly AugmentOpName[] = ['hflip', 'vflip', 'rotate90'];

/** What strength 1 means for each op; the pixel code and the policy descriptions both read these. */
export const AUGMENT_LIMITS = {
  rotateDegrees: 45,
  cropMinArea: 0.35,
  cropAspectJitter: 0.25,
  translateFraction: 0.2,
  intensityFactor: 0.6,
  hueTurn: 0.15,
  noiseSigma: 0.1,
  blurSigmaAt224: 3,
  jpegQualityAtZero: 95,
  jpegQualityAtOne: 15,
  cutoutFraction: 0.4,
} as const;

const unitInterval = (what: string) =>
  z
    .number({ error: `${what} must be a number from 0 to 1.` })
    .min(0, { error: `${what} must be from 0 to 1; it cannot be negative.` })
    .max(1, { error: `${what} must be from 0 to 1; it cannot be more than 1.` });

export const augmentOpSchema = z
  .object({
    op: z.enum(AUGMENT_OPS, {
      error: (issue) => `Unknown augmentation ${JSON.stringify(issue.input)}: choose one of ${AUGMENT_OPS.join(', ')}.`,
    }),
    /** Probability that the op is applied to a view. */
    p: unitInterval('The probability p'),
    /** How hard the op is applied when it is; see AUGMENT_OPS. */
    strength: unitInterval('The strength'),
  })
  .strict();
export type AugmentOp = z.infer<typeof augmentOpSchema>;

export const augmentPolicySchema = z
  .object({
    name: z.string().min(1, { error: 'An augmentation policy needs a name.' }).max(80, { error: 'An augmentation policy name must be at most 80 characters.' }),
    /** Applied in this order, each with its own probability. */
    ops: z.array(augmentOpSchema).max(32, { error: 'An augmentation policy can have at most 32 steps.' }),
  })
  .strict();
export type AugmentPolicy = z.infer<typeof augmentPolicySchema>;

/** The built-in policies (shared/domain/augment-presets.ts); "custom" is any other policy. */
export const AUGMENT_PRESET_NAMES = ['natural', 'microscopy', 'documents', 'xray'] as const;
export type AugmentPresetName = (typeof AUGMENT_PRESET_NAMES)[number];

/** The most augmented views of each training image a run may ask for. */
export const MAX_AUGMENT_VIEWS = 16;

/**
 * How a training run augments: with `policy` set and views K > 0, every training image also
 * trains as K augmented views (embedded once per view and cached). Oversampling adds views
 * with the same policy (or the natural-photos preset when there is none).
 */
export const augmentSettingsSchema = z
  .object({
    policy: augmentPolicySchema.nullable(),
    views: z
      .number({ error: 'The number of views must be a whole number.' })
      .int({ error: 'The number of views must be a whole number.' })
      .min(0, { error: 'The number of views cannot be negative.' })
      .max(MAX_AUGMENT_VIEWS, { error: `At most ${MAX_AUGMENT_VIEWS} augmented views per image.` }),
  })
  .strict();
export type AugmentSettings = z.infer<typeof augmentSettingsSchema>;
export const NO_AUGMENT: AugmentSettings = { policy: null, views: 0 };

/** Augmented variants of one image, exactly as training sees them (the model's 224 px input). */
export interface AugmentPreview {
  imageId: number;
  fileName: string;
  /** Side of every tile in pixels. */
  size: number;
  /** The model's input without augmentation (the centre square), as a JPEG data URL. */
  original: string;
  /** View number v of the image under the policy and seed, as JPEG data URLs. */
  tiles: { view: number; dataUrl: string }[];
  /** How long decoding and augmenting took, in milliseconds. */
  ms: number;
}

/** What a materialisation job made: derived image files in the project folder. */
export interface MaterialiseReport {
  created: number;
  /** Sources that could not be read, with the reason; the rest went on. */
  failed: { path: string; reason: string }[];
  dir: string;
}
