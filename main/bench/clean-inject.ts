/**
 * Builds the dataset the cleaning benchmark scores the detectors on: a copy of a class-folder
 * dataset with known problems planted in it (flipped labels, near-duplicates, blurred and
 * darkened copies, strays from another dataset), and the manifest of exactly what was planted.
 * Seeded, so a benchmark number can be reproduced and compared between runs.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { SeededRandom } from '../core/ml/train/prng.ts';

/** The near-duplicate kinds the issue names: re-encode, resize, crop, shift. */
export const NEAR_DUPLICATE_KINDS = ['jpeg_q40', 'resize_80', 'crop_90', 'shift'] as const;
export type NearDuplicateKind = (typeof NEAR_DUPLICATE_KINDS)[number];

export interface InjectedProblems {
  /** The dataset folder to import: root/<class>/<file>. */
  root: string;
  classes: string[];
  /** How many files were written in all (originals, copies and outliers). */
  files: number;
  /**
   * Every file written, relative to root (with '/') → its true class; null for an outlier,
   * which belongs to none. A flipped file's folder differs from its entry here.
   */
  truth: Record<string, string | null>;
  /** Files put in the wrong class folder: path (absolute), the folder (given) class, the true class. */
  flips: { path: string; given: string; truth: string }[];
  /** Near-duplicates added: the new file, the original it copies (absolute, in root), and how. */
  nearDuplicates: { path: string; original: string; how: NearDuplicateKind }[];
  /** Blurred copies (new files) of originals. */
  blurred: { path: string; original: string }[];
  /** Darkened copies (new files) of originals. */
  darkened: { path: string; original: string }[];
  /** Images from the other dataset placed in class folders; source is the file they came from. */
  outliers: { path: string; source: string }[];
}

export interface InjectOptions {
  /** Dataset to copy, one sub-folder per class, e.g. ../shared/data/trashnet. Never modified. */
  source: string;
  /** Dataset the outliers are drawn from, one sub-folder per class, e.g. ../shared/data/chest_xray. */
  outlierSource: string;
  /** Folder to write into; created if missing, must be empty. */
  out: string;
  seed?: number;
  /** Fraction of the original images put in a wrong class folder; default 0.10. */
  flipFraction?: number;
  /** Copies made of each near-duplicate kind; default 15 (60 in all). */
  nearDuplicatesPerKind?: number;
  blurred?: number;
  darkened?: number;
  outliers?: number;
  /** Take only the first N files (by name) of each class; for fast tests. */
  limitPerClass?: number;
}

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.bmp']);
/** Quality the derived copies are saved at, except the deliberately lossy q40 re-encode. */
const COPY_QUALITY = 90;
/** Gaussian sigma per pixel of the long side: 3.5 on a 320 px image, which a person calls blurry. */
const BLUR_SIGMA_PER_PIXEL = 3.5 / 320;
/** Brightness multiplier for the dark copies: a well-lit photo becomes a murky one. */
const DARKEN_FACTOR = 0.22;
/** Shift as a fraction of each side: small enough to be the "same" shot, big enough to change every pixel. */
const SHIFT_FRACTION = 0.04;

interface Original {
  cls: string;
  file: string;
  source: string;
}

/** Copies `source` into `out` and plants the problems; returns what was planted where. */
export async function injectProblems(o: InjectOptions): Promise<InjectedProblems> {
  const seed = o.seed ?? 1;
  const flipFraction = o.flipFraction ?? 0.1;
  const perKind = o.nearDuplicatesPerKind ?? 15;
  const blurCount = o.blurred ?? 20;
  const darkCount = o.darkened ?? 20;
  const outlierCount = o.outliers ?? 8;
  const root = path.resolve(o.out);

  const classes = classFolders(o.source);
  if (classes.length < 2) {
    throw new Error(`${o.source} needs at least two class sub-folders to flip labels between; it has ${classes.length}.`);
  }
  const originals: Original[] = [];
  for (const cls of classes) {
    let files = imageFiles(path.join(o.source, cls));
    if (o.limitPerClass !== undefined) files = files.slice(0, o.limitPerClass);
    for (const file of files) originals.push({ cls, file, source: path.join(o.source, cls, file) });
  }
  if (originals.length === 0) throw new Error(`${o.source} has no images in its class sub-folders.`);

  fs.mkdirSync(root, { recursive: true });
  if (fs.readdirSync(root).length > 0) {
    throw new Error(`${root} is not empty; the injector writes into an empty folder so its manifest is the whole truth.`);
  }
  for (const cls of classes) fs.mkdirSync(path.join(root, cls));

  // One generator, drawn from in a fixed order, makes the whole layout a function of the seed.
  const random = new SeededRandom(seed);
  const order = random.shuffle(Int32Array.from(originals.keys()));
  const flipCount = Math.min(originals.length, Math.round(flipFraction * originals.length));
  const flipped = new Set<number>(order.subarray(0, flipCount));
  // Copies come from the non-flipped originals, in shuffled order, each from a different one
  // while there are enough; a copy of a flipped image would plant two problems in one file.
  const unflipped = Array.from(order.subarray(flipCount));
  const pool = unflipped.length > 0 ? unflipped : Array.from(order);
  let nextSource = 0;
  const takeOriginal = (): Original => originals[pool[nextSource++ % pool.length]!]!;

  const truth: Record<string, string | null> = {};
  const written = new Set<string>();
  /** Claims a file name in a class folder, never overwriting one written earlier. */
  const claim = (cls: string, name: string): string => {
    const ext = path.extname(name);
    const stem = name.slice(0, name.length - ext.length);
    let candidate = name;
    for (let n = 2; written.has(`${cls}/${candidate}`); n++) candidate = `${stem}_${n}${ext}`;
    written.add(`${cls}/${candidate}`);
    return `${cls}/${candidate}`;
  };

  const flips: InjectedProblems['flips'] = [];
  const originalPath = new Map<Original, string>();
  for (const [index, original] of originals.entries()) {
    let folder = original.cls;
    if (flipped.has(index)) {
      const others = classes.filter((c) => c !== original.cls);
      folder = others[random.nextInt(others.length)]!;
    }
    const relative = claim(folder, original.file);
    const target = path.join(root, relative);
    fs.copyFileSync(original.source, target);
    truth[relative] = original.cls;
    originalPath.set(original, target);
    if (folder !== original.cls) flips.push({ path: target, given: folder, truth: original.cls });
  }

  const writeCopy = async (original: Original, suffix: string, make: (image: DecodedImage) => Sharp): Promise<{ path: string; original: string }> => {
    const stem = original.file.slice(0, original.file.length - path.extname(original.file).length);
    const relative = claim(original.cls, `${stem}__${suffix}.jpg`);
    const target = path.join(root, relative);
    await make(await decode(original.source)).toFile(target);
    truth[relative] = original.cls;
    return { path: target, original: originalPath.get(original)! };
  };

  const nearDuplicates: InjectedProblems['nearDuplicates'] = [];
  for (const how of NEAR_DUPLICATE_KINDS) {
    for (let i = 0; i < perKind; i++) {
      const copy = await writeCopy(takeOriginal(), `nd_${how}`, (image) => nearDuplicate(image, how));
      nearDuplicates.push({ ...copy, how });
    }
  }
  const blurred: InjectedProblems['blurred'] = [];
  for (let i = 0; i < blurCount; i++) {
    blurred.push(
      await writeCopy(takeOriginal(), 'blur', (image) =>
        image
          .pipeline()
          .blur(Math.max(1, BLUR_SIGMA_PER_PIXEL * Math.max(image.width, image.height)))
          .jpeg({ quality: COPY_QUALITY }),
      ),
    );
  }
  const darkened: InjectedProblems['darkened'] = [];
  for (let i = 0; i < darkCount; i++) {
    darkened.push(
      await writeCopy(takeOriginal(), 'dark', (image) =>
        image.pipeline().linear(DARKEN_FACTOR, 0).jpeg({ quality: COPY_QUALITY }),
      ),
    );
  }

  const outliers: InjectedProblems['outliers'] = [];
  const strays: string[] = [];
  for (const cls of classFolders(o.outlierSource)) {
    for (const file of imageFiles(path.join(o.outlierSource, cls))) strays.push(path.join(o.outlierSource, cls, file));
  }
  if (outlierCount > strays.length) {
    throw new Error(`${o.outlierSource} has ${strays.length} images; ${outlierCount} outliers were asked for.`);
  }
  const strayOrder = random.shuffle(Int32Array.from(strays.keys()));
  for (let n = 0; n < outlierCount; n++) {
    const source = strays[strayOrder[n]!]!;
    const folder = classes[random.nextInt(classes.length)]!;
    const relative = claim(folder, `outlier_${n}.jpg`);
    const target = path.join(root, relative);
    const ext = path.extname(source).toLowerCase();
    if (ext === '.jpg' || ext === '.jpeg') fs.copyFileSync(source, target);
    else await (await decode(source)).pipeline().jpeg({ quality: COPY_QUALITY }).toFile(target);
    truth[relative] = null;
    outliers.push({ path: target, source });
  }

  return { root, classes, files: written.size, truth, flips, nearDuplicates, blurred, darkened, outliers };
}

/** An image decoded once, upright (EXIF orientation applied), as raw pixels. */
interface DecodedImage {
  width: number;
  height: number;
  pipeline(): Sharp;
}

async function decode(file: string): Promise<DecodedImage> {
  // Decoding to raw first means every geometric step below works on the size a viewer shows,
  // whatever orientation tag the file carries.
  const { data, info } = await sharp(file).rotate().raw().toBuffer({ resolveWithObject: true });
  const raw = { width: info.width, height: info.height, channels: info.channels };
  return { width: info.width, height: info.height, pipeline: () => sharp(data, { raw }) };
}

function nearDuplicate(image: DecodedImage, how: NearDuplicateKind): Sharp {
  const { width, height } = image;
  switch (how) {
    case 'jpeg_q40':
      return image.pipeline().jpeg({ quality: 40 });
    case 'resize_80':
      return image
        .pipeline()
        .resize(Math.round(width * 0.8), Math.round(height * 0.8), { fit: 'fill' })
        .jpeg({ quality: COPY_QUALITY });
    case 'crop_90': {
      const w = Math.round(width * 0.9);
      const h = Math.round(height * 0.9);
      const region = { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
      return image.pipeline().extract(region).jpeg({ quality: COPY_QUALITY });
    }
    case 'shift': {
      // Content moves up-left by (dx, dy); the uncovered strip repeats the edge, as a
      // re-framed shot of the same scene would, and the size stays the original's.
      const dx = Math.max(1, Math.round(width * SHIFT_FRACTION));
      const dy = Math.max(1, Math.round(height * SHIFT_FRACTION));
      return image
        .pipeline()
        .extract({ left: dx, top: dy, width: width - dx, height: height - dy })
        .extend({ right: dx, bottom: dy, extendWith: 'copy' })
        .jpeg({ quality: COPY_QUALITY });
    }
  }
}

function classFolders(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .sort();
}

function imageFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.startsWith('.') && IMAGE_EXTENSIONS.has(path.extname(entry.name).toLowerCase()))
    .map((entry) => entry.name)
    .sort();
}
