/**
 * Every augmentation op changes pixels as its contract says: exact mirrors and quarter turns,
 * strength 0 as the identity, each op at strength 1 moving the statistic it is about, and
 * no op touching its input. Synthetic images where the property is exact; a real TrashNet
 * photo where the op must behave on natural content.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import nodePath from 'node:path';
import { test } from 'node:test';
import { AUGMENT_OPS, STRENGTHLESS_OPS } from '../../../shared/contract/augment.ts';
import { SeededRandom } from '../ml/train/prng.ts';
import { AUGMENT_OP_FUNCTIONS, flipHorizontal, flipVertical, gaussianBlur, rotateQuarter, type RgbImage } from './ops.ts';
import { decodeForAugment } from './pipeline.ts';

const PHOTO = nodePath.resolve(import.meta.dirname, '../../../../shared/data/trashnet/cardboard/cardboard1.jpg');
const haveData = fs.existsSync(PHOTO);
const skip = haveData ? false : 'needs ../shared/data/trashnet';

/** Deterministic colourful texture: gradients plus a hash pattern, so nothing is symmetric. */
function texture(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      data[o] = (x * 255) / (width - 1);
      data[o + 1] = (y * 255) / (height - 1);
      data[o + 2] = (Math.imul(x + 31 * y, 2654435761) >>> 24) & 0xff;
    }
  }
  return { data, width, height };
}

function grey(width: number, height: number): RgbImage {
  const img = texture(width, height);
  for (let i = 0; i < img.data.length; i += 3) img.data[i + 1] = img.data[i + 2] = img.data[i]!;
  return img;
}

function channelMean(img: RgbImage): number {
  let sum = 0;
  for (const v of img.data) sum += v;
  return sum / img.data.length;
}

function channelStd(img: RgbImage): number {
  const mean = channelMean(img);
  let sq = 0;
  for (const v of img.data) sq += (v - mean) ** 2;
  return Math.sqrt(sq / img.data.length);
}

/** Mean over pixels of (max channel − min channel). */
function chromaMean(img: RgbImage): number {
  let sum = 0;
  const d = img.data;
  for (let i = 0; i < d.length; i += 3) sum += Math.max(d[i]!, d[i + 1]!, d[i + 2]!) - Math.min(d[i]!, d[i + 1]!, d[i + 2]!);
  return sum / (d.length / 3);
}

/** Variance of the 4-neighbour Laplacian of the blue channel (the hashed texture): falls as an image blurs. */
function laplacianVariance(img: RgbImage): number {
  const { width: w, height: h, data } = img;
  const values: number[] = [];
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const at = (xx: number, yy: number) => data[(yy * w + xx) * 3 + 2]!;
      values.push(at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4 * at(x, y));
    }
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
}

const pixel = (img: RgbImage, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

test('hflip and vflip are exact mirrors, pixel by pixel', () => {
  const img = texture(37, 23);
  const h = flipHorizontal(img);
  const v = flipVertical(img);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      assert.deepEqual(pixel(h, x, y), pixel(img, img.width - 1 - x, y), `hflip pixel (${x}, ${y})`);
      assert.deepEqual(pixel(v, x, y), pixel(img, x, img.height - 1 - y), `vflip pixel (${x}, ${y})`);
    }
  }
  assert.deepEqual(flipHorizontal(h).data, img.data, 'two horizontal flips give the original back');
  assert.deepEqual(flipVertical(v).data, img.data, 'two vertical flips give the original back');
});

test('a quarter turn is exact, swaps the sides, and four of them are the identity', () => {
  const img = texture(37, 23);
  const quarter = rotateQuarter(img, 1);
  assert.equal(quarter.width, 23);
  assert.equal(quarter.height, 37);
  // Clockwise: the top-left pixel ends at the top-right, the bottom-left at the top-left.
  assert.deepEqual(pixel(quarter, quarter.width - 1, 0), pixel(img, 0, 0), 'top-left goes to top-right');
  assert.deepEqual(pixel(quarter, 0, 0), pixel(img, 0, img.height - 1), 'bottom-left goes to top-left');
  let turned = img;
  for (let i = 0; i < 4; i++) turned = rotateQuarter(turned, 1);
  assert.deepEqual(turned.data, img.data, 'four quarter turns are the identity');
  assert.deepEqual(rotateQuarter(img, 2).data, flipVertical(flipHorizontal(img)).data, 'a half turn is both flips');
  assert.deepEqual(rotateQuarter(rotateQuarter(img, 1), 3).data, img.data, 'a quarter and three quarters undo each other');
});

test('strength 0 leaves every pixel as it was (the strengthless flips and turns are off at p 0: pipeline.test.ts)', async () => {
  const img = texture(64, 48);
  for (const op of AUGMENT_OPS) {
    if (STRENGTHLESS_OPS.includes(op)) continue;
    const out = await AUGMENT_OP_FUNCTIONS[op](img, 0, new SeededRandom(3));
    assert.deepEqual(out.data, img.data, `${op} at strength 0 changed pixels`);
    assert.ok(out.data !== img.data, `${op} at strength 0 must return a new image, not its input`);
  }
});

test('no op mutates its input, and every op at strength 1 changes pixels and keeps the size', async () => {
  const img = texture(64, 48);
  const before = img.data.slice();
  for (const op of AUGMENT_OPS) {
    const out = await AUGMENT_OP_FUNCTIONS[op](img, 1, new SeededRandom(11));
    assert.deepEqual(img.data, before, `${op} mutated its input`);
    assert.ok(out.data !== img.data, `${op} returned its input's buffer`);
    const swapped = op === 'rotate90' && out.width !== img.width;
    assert.deepEqual([out.width, out.height], swapped ? [img.height, img.width] : [img.width, img.height], `${op} changed the size`);
    assert.equal(out.data.length, out.width * out.height * 3, `${op} returned a malformed buffer`);
    const changed = out.data.some((v, i) => v !== img.data[i]) || swapped;
    assert.ok(changed, `${op} at strength 1 left every pixel unchanged`);
  }
});

test('brightness moves the mean, contrast the spread, noise adds variance, blur removes detail', async () => {
  const img = texture(96, 72);
  const mean = channelMean(img);
  const std = channelStd(img);
  let up = 0;
  let down = 0;
  for (let seed = 0; seed < 24; seed++) {
    const b = await AUGMENT_OP_FUNCTIONS.brightness(img, 1, new SeededRandom(seed));
    const delta = channelMean(b) - mean;
    if (delta > 3) up++;
    if (delta < -3) down++;
    const c = await AUGMENT_OP_FUNCTIONS.contrast(img, 1, new SeededRandom(seed));
    assert.ok(Math.abs(channelStd(c) - std) > 0.5 || Math.abs(channelMean(c) - mean) > 0.5, `contrast seed ${seed} left the spread at ${std.toFixed(2)}`);
  }
  assert.ok(up > 0 && down > 0, `brightness should go both ways over 24 seeds: ${up} brighter, ${down} darker`);

  const flat: RgbImage = { data: new Uint8Array(96 * 72 * 3).fill(128), width: 96, height: 72 };
  const noisy = await AUGMENT_OP_FUNCTIONS.noise(flat, 1, new SeededRandom(5));
  // σ is drawn from 12.75 to 25.5 levels at strength 1.
  assert.ok(channelStd(noisy) > 10 && channelStd(noisy) < 28, `noise on a flat image should have σ 12.75–25.5, got ${channelStd(noisy).toFixed(2)}`);
  assert.ok(Math.abs(channelMean(noisy) - 128) < 1.5, `noise should be zero-mean, the mean moved to ${channelMean(noisy).toFixed(2)}`);

  const blurred = await AUGMENT_OP_FUNCTIONS.blur(img, 1, new SeededRandom(5));
  assert.ok(laplacianVariance(blurred) < laplacianVariance(img) / 4, `blur should cut the Laplacian variance a lot: ${laplacianVariance(img).toFixed(0)} → ${laplacianVariance(blurred).toFixed(0)}`);
  assert.ok(Math.abs(channelMean(blurred) - mean) < 1, `blur should keep the mean, it moved from ${mean.toFixed(2)} to ${channelMean(blurred).toFixed(2)}`);
});

test('saturation and hue leave grey images grey and unchanged; saturation and hue do change colour', async () => {
  const g = grey(64, 48);
  for (let seed = 0; seed < 8; seed++) {
    const s = await AUGMENT_OP_FUNCTIONS.saturation(g, 1, new SeededRandom(seed));
    assert.deepEqual(s.data, g.data, `saturation seed ${seed} changed a grey image`);
    const h = await AUGMENT_OP_FUNCTIONS.hue(g, 1, new SeededRandom(seed));
    assert.deepEqual(h.data, g.data, `hue seed ${seed} changed a grey image`);
  }
  const colour = texture(64, 48);
  let moreSaturated = 0;
  let lessSaturated = 0;
  for (let seed = 0; seed < 16; seed++) {
    const s = await AUGMENT_OP_FUNCTIONS.saturation(colour, 1, new SeededRandom(seed));
    const delta = chromaMean(s) - chromaMean(colour);
    if (delta > 2) moreSaturated++;
    if (delta < -2) lessSaturated++;
  }
  assert.ok(moreSaturated > 0 && lessSaturated > 0, `saturation should go both ways: ${moreSaturated} up, ${lessSaturated} down`);
  const h = await AUGMENT_OP_FUNCTIONS.hue(colour, 1, new SeededRandom(2));
  assert.ok(Math.abs(chromaMean(h) - chromaMean(colour)) < 1, 'a hue turn keeps the chroma');
  assert.ok(h.data.some((v, i) => Math.abs(v - colour.data[i]!) > 5), 'a hue turn at strength 1 visibly changes colours');
});

test('cutout leaves one uniform square of the image mean colour and everything else as it was', async () => {
  const img = texture(80, 60);
  const out = await AUGMENT_OP_FUNCTIONS.cutout(img, 1, new SeededRandom(9));
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -1;
  let maxY = -1;
  let count = 0;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (pixel(out, x, y).every((v, c) => v === pixel(img, x, y)[c])) continue;
      count++;
      minX = Math.min(minX, x);
      maxX = Math.max(maxX, x);
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
    }
  }
  const side = maxX - minX + 1;
  assert.ok(side >= 0.2 * 60 - 1 && side <= 0.4 * 60 + 1, `the hole should be 20–40% of the short side, got ${side}px`);
  assert.equal(maxY - minY + 1, side, 'the hole is square');
  assert.ok(count > 0.9 * side * side, `the changed pixels should fill the square: ${count} of ${side * side}`);
  const fill = pixel(out, minX, minY);
  for (let y = minY; y <= maxY; y++) for (let x = minX; x <= maxX; x++) assert.deepEqual(pixel(out, x, y), fill, `hole pixel (${x}, ${y}) differs from the fill`);
  const mean = [0, 1, 2].map((c) => {
    let sum = 0;
    for (let i = c; i < img.data.length; i += 3) sum += img.data[i]!;
    return Math.round(sum / (img.data.length / 3));
  });
  assert.deepEqual(fill, mean, 'the hole is filled with the image mean colour');
});

test('geometric ops keep the size and fill with reflected content, never black', async () => {
  // A bright image: any black fill at the borders would show as zeros.
  const img: RgbImage = { data: new Uint8Array(50 * 40 * 3).fill(200), width: 50, height: 40 };
  for (let i = 0; i < img.data.length; i += 7) img.data[i] = 230;
  for (const op of ['rotate', 'translate', 'resizedCrop'] as const) {
    for (let seed = 0; seed < 6; seed++) {
      const out = await AUGMENT_OP_FUNCTIONS[op](img, 1, new SeededRandom(seed));
      assert.deepEqual([out.width, out.height], [50, 40], `${op} kept the size`);
      assert.ok(Math.min(...out.data) >= 199, `${op} seed ${seed} brought in dark pixels (min ${Math.min(...out.data)})`);
    }
  }
});

test('gaussianBlur with a tiny sigma is close to the identity and a large one flattens', () => {
  const img = texture(40, 30);
  const light = gaussianBlur(img, 0.2);
  assert.ok(light.data.every((v, i) => Math.abs(v - img.data[i]!) <= 1), 'σ 0.2 moves no pixel by more than one level');
  const heavy = gaussianBlur(img, 8);
  assert.ok(laplacianVariance(heavy) < laplacianVariance(img) / 50, 'σ 8 flattens the texture');
});

test('on a real photo: jpeg at quality 15 changes bytes but keeps the mean', { skip }, async () => {
  const photo = await decodeForAugment(PHOTO, 224);
  assert.equal(photo.data.length, photo.width * photo.height * 3, 'decoded to 3 channels');
  const q15 = await AUGMENT_OP_FUNCTIONS.jpeg(photo, 1, new SeededRandom(1));
  assert.ok(q15.data.some((v, i) => v !== photo.data[i]), 'recompression changed pixels');
  assert.ok(Math.abs(channelMean(q15) - channelMean(photo)) < 3, `JPEG kept the mean within 3 levels: ${channelMean(photo).toFixed(2)} → ${channelMean(q15).toFixed(2)}`);
});
