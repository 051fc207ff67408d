/**
 * The pipeline: a view is decided by (image, policy, seed, view) and nothing else; p 0 and
 * strength 0 are the identity; the presets are valid policies; the schema refuses bad ones
 * in words a user can act on. Real TrashNet photos and a chest X-ray where decoding matters.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import nodePath from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { AUGMENT_OPS, AUGMENT_PRESET_NAMES, augmentPolicySchema, type AugmentPolicy } from '../../../shared/contract/augment.ts';
import { AUGMENT_PRESETS, describePolicy } from '../../../shared/domain/augment-presets.ts';
import { CoreError } from '../errors.ts';
import { flipHorizontal, type RgbImage } from './ops.ts';
import { augment, augmentFile, decodeForAugment, toJpeg, viewSeed } from './pipeline.ts';

const DATA = nodePath.resolve(import.meta.dirname, '../../../../shared/data');
const PHOTO = nodePath.join(DATA, 'trashnet/plastic/plastic1.jpg');
const haveData = fs.existsSync(PHOTO);
const skip = haveData ? false : 'needs ../shared/data/trashnet';

/** Every op, always applied, at full strength. */
const EVERYTHING: AugmentPolicy = { name: 'everything', ops: AUGMENT_OPS.map((op) => ({ op, p: 1, strength: 1 })) };

function texture(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (Math.imul(i + 7, 2654435761) >>> 24) & 0xff;
  return { data, width, height };
}

test('presets parse with the policy schema and describe themselves in a sentence', () => {
  for (const name of AUGMENT_PRESET_NAMES) {
    const preset = AUGMENT_PRESETS[name];
    const parsed = augmentPolicySchema.safeParse(preset);
    assert.ok(parsed.success, `preset ${name} is not a valid policy: ${parsed.error?.message}`);
    assert.equal(preset.name, name);
    const words = describePolicy(preset);
    assert.ok(words.length > 20 && words.endsWith('.'), `preset ${name} description reads "${words}"`);
  }
  for (const name of ['documents', 'xray'] as const) {
    const ops = AUGMENT_PRESETS[name].ops.map((s) => s.op);
    for (const banned of ['hflip', 'hue', 'saturation'] as const) assert.ok(!ops.includes(banned), `${name} must not use ${banned}`);
    const rotate = AUGMENT_PRESETS[name].ops.find((s) => s.op === 'rotate');
    assert.ok(rotate && rotate.strength * 45 <= 5, `${name} rotates at most 5°`);
  }
  assert.match(describePolicy(AUGMENT_PRESETS.natural), /^Mirror left–right \(50% of views\), zoom in/);
  assert.equal(describePolicy({ name: 'off', ops: [{ op: 'hflip', p: 0, strength: 1 }, { op: 'blur', p: 1, strength: 0 }] }), 'No augmentation: every view is the image as it is.');
});

test('the schema refuses an unknown op, p above 1 and extra keys, saying what is wrong', () => {
  const unknown = augmentPolicySchema.safeParse({ name: 'x', ops: [{ op: 'sharpen', p: 0.5, strength: 0.5 }] });
  assert.ok(!unknown.success, 'an unknown op was accepted');
  const unknownMessage = unknown.error.issues.map((i) => i.message).join(' ');
  assert.match(unknownMessage, /Unknown augmentation "sharpen": choose one of hflip, vflip/);

  const tooLikely = augmentPolicySchema.safeParse({ name: 'x', ops: [{ op: 'hflip', p: 1.5, strength: 1 }] });
  assert.ok(!tooLikely.success, 'p = 1.5 was accepted');
  assert.match(tooLikely.error.issues[0]!.message, /probability p must be from 0 to 1; it cannot be more than 1/);
  assert.deepEqual(tooLikely.error.issues[0]!.path, ['ops', 0, 'p']);

  const negative = augmentPolicySchema.safeParse({ name: 'x', ops: [{ op: 'blur', p: 0.5, strength: -0.1 }] });
  assert.ok(!negative.success, 'a negative strength was accepted');
  assert.match(negative.error.issues[0]!.message, /strength must be from 0 to 1/);

  assert.ok(!augmentPolicySchema.safeParse({ name: 'x', ops: [{ op: 'blur', p: 0.5, strength: 0.5, sigma: 2 }] }).success, 'an extra key was accepted');
  assert.ok(!augmentPolicySchema.safeParse({ name: '', ops: [] }).success, 'an empty name was accepted');
});

test('same seed and view give byte-identical views; another view or seed gives another', async () => {
  const img = texture(60, 45);
  const a = await augment(img, EVERYTHING, 42, 3);
  const b = await augment(img, EVERYTHING, 42, 3);
  assert.deepEqual(a, b, 'the same seed and view gave different pixels');
  const otherView = await augment(img, EVERYTHING, 42, 4);
  const otherSeed = await augment(img, EVERYTHING, 43, 3);
  assert.ok(otherView.data.length !== a.data.length || otherView.data.some((v, i) => v !== a.data[i]), 'view 4 equals view 3');
  assert.ok(otherSeed.data.length !== a.data.length || otherSeed.data.some((v, i) => v !== a.data[i]), 'seed 43 equals seed 42');
  const seeds = new Set<number>();
  for (let s = 0; s < 20; s++) for (let v = 0; v < 20; v++) seeds.add(viewSeed(s, v));
  assert.equal(seeds.size, 400, 'every (seed, view) pair in 20×20 gets its own stream');
});

test('p 0 and strength 0 are the identity; the input is never mutated', async () => {
  const img = texture(40, 30);
  const before = img.data.slice();
  const never: AugmentPolicy = { name: 'never', ops: AUGMENT_OPS.map((op) => ({ op, p: 0, strength: 1 })) };
  const gentle: AugmentPolicy = { name: 'gentle', ops: AUGMENT_OPS.filter((op) => !['hflip', 'vflip', 'rotate90'].includes(op)).map((op) => ({ op, p: 1, strength: 0 })) };
  for (const policy of [never, gentle, { name: 'empty', ops: [] }]) {
    const out = await augment(img, policy, 1, 0);
    assert.deepEqual(out.data, img.data, `${policy.name} changed pixels`);
    assert.ok(out.data !== img.data, `${policy.name} returned the input buffer itself`);
  }
  await augment(img, EVERYTHING, 1, 0);
  assert.deepEqual(img.data, before, 'augmenting mutated the input image');
});

test('changing one step\'s strength leaves the randomness of the other steps alone', async () => {
  // The preview re-renders as a slider moves: the other ops must not jump to new draws.
  const img = texture(48, 48);
  const policy = (brightness: number): AugmentPolicy => ({
    name: 'slider',
    ops: [
      { op: 'brightness', p: 1, strength: brightness },
      { op: 'cutout', p: 1, strength: 1 },
    ],
  });
  const withoutBrightness = await augment(img, policy(0), 9, 0);
  const withBrightness = await augment(img, policy(0.8), 9, 0);
  // Brightness 0 is the identity, so the pixels that changed are exactly the hole.
  const hole: number[] = [];
  for (let p = 0; p < img.width * img.height; p++) {
    if ([0, 1, 2].some((c) => withoutBrightness.data[p * 3 + c] !== img.data[p * 3 + c])) hole.push(p);
  }
  assert.ok(hole.length >= 16, `the cutout is visible (${hole.length} pixels)`);
  const fill = (x: RgbImage, p: number) => Array.from(x.data.subarray(p * 3, p * 3 + 3));
  for (const p of hole) assert.deepEqual(fill(withBrightness, p), fill(withBrightness, hole[0]!), `with brightness on, pixel ${p} is no longer in the hole: it moved`);
  assert.ok(withBrightness.data.some((v, i) => v !== withoutBrightness.data[i]), 'brightness 0.8 did change the view');
});

test('hflip in the pipeline is the exact mirror of the decoded photo', { skip }, async () => {
  const photo = await decodeForAugment(PHOTO);
  assert.ok(Math.max(photo.width, photo.height) === 256, `decoded to fit 256 px: ${photo.width}×${photo.height}`);
  const mirrored = await augmentFile(PHOTO, { name: 'mirror', ops: [{ op: 'hflip', p: 1, strength: 1 }] }, 1, 0);
  assert.deepEqual(mirrored.data, flipHorizontal(photo).data, 'hflip through augmentFile is the exact mirror');
});

test('presets on real photos: deterministic, right shape, a preview JPEG; a greyscale X-ray decodes to 3 channels', { skip }, async () => {
  for (const name of AUGMENT_PRESET_NAMES) {
    const first = await augmentFile(PHOTO, AUGMENT_PRESETS[name], 5, 1, 224);
    const again = await augmentFile(PHOTO, AUGMENT_PRESETS[name], 5, 1, 224);
    assert.deepEqual(first, again, `${name} view 1 differed between two runs`);
    assert.equal(first.data.length, first.width * first.height * 3, `${name} gave a malformed image`);
    assert.ok(Math.max(first.width, first.height) === 224, `${name} kept the long side at 224: ${first.width}×${first.height}`);
    let differs = 0;
    for (let v = 0; v < 8; v++) {
      const view = await augmentFile(PHOTO, AUGMENT_PRESETS[name], 5, v, 224);
      if (view.data.length !== first.data.length || view.data.some((x, i) => x !== first.data[i])) differs++;
    }
    assert.ok(differs >= 5, `${name}: only ${differs} of 8 views differ from view 1`);
  }
  const jpeg = await toJpeg(await augmentFile(PHOTO, AUGMENT_PRESETS.natural, 1, 0));
  const meta = await sharp(jpeg).metadata();
  assert.equal(meta.format, 'jpeg', 'toJpeg writes a JPEG');

  const xrayDir = nodePath.join(DATA, 'chest_xray/NORMAL');
  if (fs.existsSync(xrayDir)) {
    const xray = nodePath.join(xrayDir, fs.readdirSync(xrayDir).sort()[0]!);
    const view = await augmentFile(xray, AUGMENT_PRESETS.xray, 1, 0);
    assert.equal(view.data.length, view.width * view.height * 3, 'the X-ray decodes to 3 channels');
  }
});

test('an unreadable file and a malformed image are refused with a CoreError naming the problem', async () => {
  await assert.rejects(augmentFile('/nonexistent/cat.jpg', AUGMENT_PRESETS.natural, 1, 0), (err: unknown) => err instanceof CoreError && err.code === 'unsupported' && err.message.includes('/nonexistent/cat.jpg'));
  await assert.rejects(augment({ data: new Uint8Array(10), width: 4, height: 4 }, AUGMENT_PRESETS.natural, 1, 0), (err: unknown) => err instanceof CoreError && err.code === 'invalid_input');
});
