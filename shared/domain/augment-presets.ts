/**
 * The built-in augmentation policies and plain words for any policy, shared by the core
 * (CLI `--augment PRESET`, run summaries) and the renderer (preset picker, preview caption).
 */
import { AUGMENT_LIMITS, STRENGTHLESS_OPS, type AugmentOp, type AugmentPolicy, type AugmentPresetName } from '../contract/augment.ts';

/** One line per preset for the picker: who it is for and what it avoids. */
export const AUGMENT_PRESET_DESCRIPTIONS: Record<AugmentPresetName, string> = {
  natural: 'Everyday photos: mirror left–right, small tilts, zooms and mild colour changes.',
  microscopy: 'Top-down images with no up or down (slides, satellite, plates): any rotation and flips, mild intensity, a little noise and blur.',
  documents: 'Scans and photos of pages: never mirrored, tilts of a few degrees, small shifts, mild brightness and contrast, scanner noise and compression.',
  xray: 'Medical greyscale images: never mirrored (left and right anatomy matter), tilts of a few degrees, small shifts and zooms, mild brightness and contrast.',
};

export const AUGMENT_PRESETS: Record<AugmentPresetName, AugmentPolicy> = {
  natural: {
    name: 'natural',
    ops: [
      { op: 'hflip', p: 0.5, strength: 1 },
      { op: 'resizedCrop', p: 0.8, strength: 0.6 },
      { op: 'rotate', p: 0.5, strength: 0.33 },
      { op: 'brightness', p: 0.5, strength: 0.4 },
      { op: 'contrast', p: 0.5, strength: 0.4 },
      { op: 'saturation', p: 0.5, strength: 0.4 },
      { op: 'hue', p: 0.3, strength: 0.2 },
    ],
  },
  microscopy: {
    name: 'microscopy',
    ops: [
      { op: 'hflip', p: 0.5, strength: 1 },
      { op: 'vflip', p: 0.5, strength: 1 },
      { op: 'rotate90', p: 0.5, strength: 1 },
      { op: 'rotate', p: 0.5, strength: 1 },
      { op: 'resizedCrop', p: 0.5, strength: 0.4 },
      { op: 'brightness', p: 0.5, strength: 0.3 },
      { op: 'contrast', p: 0.5, strength: 0.3 },
      { op: 'saturation', p: 0.3, strength: 0.2 },
      { op: 'hue', p: 0.3, strength: 0.1 },
      { op: 'noise', p: 0.3, strength: 0.3 },
      { op: 'blur', p: 0.3, strength: 0.3 },
    ],
  },
  documents: {
    name: 'documents',
    ops: [
      { op: 'rotate', p: 0.5, strength: 0.11 },
      { op: 'translate', p: 0.4, strength: 0.25 },
      { op: 'resizedCrop', p: 0.3, strength: 0.2 },
      { op: 'brightness', p: 0.5, strength: 0.3 },
      { op: 'contrast', p: 0.5, strength: 0.4 },
      { op: 'noise', p: 0.3, strength: 0.2 },
      { op: 'blur', p: 0.2, strength: 0.2 },
      { op: 'jpeg', p: 0.3, strength: 0.6 },
    ],
  },
  xray: {
    name: 'xray',
    ops: [
      { op: 'rotate', p: 0.5, strength: 0.11 },
      { op: 'translate', p: 0.3, strength: 0.25 },
      { op: 'resizedCrop', p: 0.4, strength: 0.25 },
      { op: 'brightness', p: 0.5, strength: 0.25 },
      { op: 'contrast', p: 0.5, strength: 0.3 },
      { op: 'noise', p: 0.2, strength: 0.15 },
      { op: 'blur', p: 0.2, strength: 0.2 },
    ],
  },
};

const percent = (x: number) => `${Math.round(x * 100)}%`;
const round1 = (x: number) => String(Math.round(x * 10) / 10);

/** What one op does at its strength, in words, e.g. "rotate up to ±15°". */
function describeOp(step: AugmentOp): string {
  const s = step.strength;
  const L = AUGMENT_LIMITS;
  const factor = () => `×${round1(1 - L.intensityFactor * s)}–${round1(1 + L.intensityFactor * s)}`;
  switch (step.op) {
    case 'hflip':
      return 'mirror left–right';
    case 'vflip':
      return 'mirror top–bottom';
    case 'rotate90':
      return 'turn by a multiple of 90°';
    case 'rotate':
      return `rotate up to ±${Math.round(L.rotateDegrees * s)}°`;
    case 'resizedCrop':
      return `zoom in to keep ${percent(1 - (1 - L.cropMinArea) * s)}–100% of the area`;
    case 'translate':
      return `shift up to ${percent(L.translateFraction * s)} of each side`;
    case 'brightness':
      return `brightness ${factor()}`;
    case 'contrast':
      return `contrast ${factor()}`;
    case 'saturation':
      return `saturation ${factor()}`;
    case 'hue':
      return `shift hue up to ±${Math.round(L.hueTurn * s * 360)}°`;
    case 'noise':
      return `add grain up to ${round1(L.noiseSigma * s * 255)} levels`;
    case 'blur':
      return `blur up to ${round1(L.blurSigmaAt224 * s)} px`;
    case 'jpeg':
      return `recompress as JPEG down to quality ${Math.round(L.jpegQualityAtZero - (L.jpegQualityAtZero - L.jpegQualityAtOne) * s)}`;
    case 'cutout':
      return `blank a square up to ${percent(L.cutoutFraction * s)} of the short side`;
  }
}

/** One plain sentence saying what a policy does to each training view. */
export function describePolicy(policy: AugmentPolicy): string {
  const active = policy.ops.filter((step) => step.p > 0 && (step.strength > 0 || STRENGTHLESS_OPS.includes(step.op)));
  if (active.length === 0) return 'No augmentation: every view is the image as it is.';
  const parts = active.map((step) => `${describeOp(step)} (${step.p >= 1 ? 'always' : `${percent(step.p)} of views`})`);
  const sentence = parts.join(', ');
  return `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}.`;
}
