/**
 * Shared by the gradient-kernel tests on wasm and on webgpu: convolution cases (hand-picked
 * edge cases, seeded random shapes, strides and paddings, and the shapes MobileNet v1 and v2
 * train through) and their gradients on any backend, to compare with the cpu backend's
 * reference kernels.
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers also registers tfjs-core's gradient functions, which tf.grads needs.
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';

/** Deterministic values in [-1, 1), so that both backends get the very same numbers. */
export function seededValues(count: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = ((state >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

export const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** max |a − b| / max |b|: relative to the reference's scale, so near-zero entries do not dominate. */
export function relativeError(actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  assert.ok(scale > 0, 'the reference gradient is not all zeros');
  return diff / scale;
}

type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;
export interface ConvCase {
  kind: 'conv2d' | 'depthwise' | 'fused-conv2d' | 'fused-depthwise';
  x: [number, number, number, number];
  /** [kh, kw, Cin, Cout] for conv2d; [kh, kw, C, multiplier] for depthwise. */
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
}

/** Gradients of Σ(conv(x, f) · weights) with respect to x and f, computed on `backend`. */
export async function convGradients(backend: string, c: ConvCase, seed: number): Promise<{ dx: Float32Array; dFilter: Float32Array }> {
  tf.setBackend(backend);
  const [dx, dFilter] = tf.tidy(() => {
    const x = tf.tensor4d(seededValues(size(c.x), seed), c.x);
    const filter = tf.tensor4d(seededValues(size(c.filter), seed + 1), c.filter);
    const forward = (xs: tf.Tensor4D, fs: tf.Tensor4D): tf.Tensor4D => {
      switch (c.kind) {
        case 'conv2d':
          return tf.conv2d(xs, fs, c.strides, c.pad);
        case 'depthwise':
          return tf.depthwiseConv2d(xs, fs, c.strides, c.pad);
        // Linear fused convs keep their fused kernel under a gradient and route the filter
        // gradient through the same backprop kernels.
        case 'fused-conv2d':
          return tf.fused.conv2d({ x: xs, filter: fs, strides: c.strides, pad: c.pad });
        case 'fused-depthwise':
          return tf.fused.depthwiseConv2d({ x: xs, filter: fs, strides: c.strides, pad: c.pad as 'same' | 'valid' });
      }
    };
    const outShape = forward(x, filter).shape;
    const weights = tf.tensor(seededValues(size(outShape), seed + 2), outShape);
    return tf.grads((xs: tf.Tensor, fs: tf.Tensor) => tf.sum(tf.mul(forward(xs as tf.Tensor4D, fs as tf.Tensor4D), weights)))([x, filter]);
  });
  // Read asynchronously: the webgpu backend cannot read synchronously in Node.
  const values = { dx: (await dx!.data()) as Float32Array, dFilter: (await dFilter!.data()) as Float32Array };
  tf.dispose([dx!, dFilter!]);
  return values;
}

export const CASES: ConvCase[] = [];
for (const kind of ['conv2d', 'depthwise'] as const) {
  const filterFor = (k: number, cin: number, cout: number): [number, number, number, number] => (kind === 'conv2d' ? [k, k, cin, cout] : [k, k, cin, 1]);
  CASES.push(
    { kind, x: [1, 5, 5, 4], filter: filterFor(1, 4, 6), strides: 1, pad: 'same' },
    { kind, x: [3, 6, 6, 8], filter: filterFor(1, 8, 5), strides: 1, pad: 'valid' },
    { kind, x: [1, 7, 7, 3], filter: filterFor(3, 3, 5), strides: 1, pad: 'same' },
    { kind, x: [3, 8, 8, 4], filter: filterFor(3, 4, 6), strides: 1, pad: 'same' },
    { kind, x: [1, 7, 7, 3], filter: filterFor(3, 3, 5), strides: 1, pad: 'valid' },
    { kind, x: [3, 8, 8, 4], filter: filterFor(3, 4, 6), strides: 1, pad: 'valid' },
    { kind, x: [1, 7, 7, 3], filter: filterFor(3, 3, 4), strides: 2, pad: 'same' },
    { kind, x: [3, 8, 8, 5], filter: filterFor(3, 5, 2), strides: 2, pad: 'same' },
    { kind, x: [1, 7, 7, 3], filter: filterFor(3, 3, 4), strides: 2, pad: 'valid' },
    { kind, x: [3, 8, 8, 5], filter: filterFor(3, 5, 2), strides: 2, pad: 'valid' },
    { kind, x: [3, 9, 6, 4], filter: filterFor(3, 4, 3), strides: [2, 1], pad: 'same' },
    { kind, x: [2, 7, 7, 4], filter: filterFor(1, 4, 3), strides: 2, pad: 'same' },
    { kind, x: [1, 10, 10, 3], filter: filterFor(5, 3, 2), strides: 3, pad: 'same' },
    {
      kind,
      x: [2, 8, 7, 3],
      filter: filterFor(3, 3, 4),
      strides: 2,
      pad: [
        [0, 0],
        [1, 2],
        [0, 1],
        [0, 0],
      ],
    },
  );
}
CASES.push(
  { kind: 'depthwise', x: [2, 7, 7, 3], filter: [3, 3, 3, 2], strides: 1, pad: 'same' },
  { kind: 'depthwise', x: [3, 8, 8, 2], filter: [3, 3, 2, 3], strides: 2, pad: 'same' },
  { kind: 'depthwise', x: [1, 9, 9, 2], filter: [3, 3, 2, 2], strides: 2, pad: 'valid' },
  { kind: 'fused-conv2d', x: [3, 7, 7, 6], filter: [1, 1, 6, 5], strides: 1, pad: 'same' },
  { kind: 'fused-conv2d', x: [2, 8, 8, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'same' },
  { kind: 'fused-depthwise', x: [2, 8, 8, 5], filter: [3, 3, 5, 1], strides: 2, pad: 'same' },
  { kind: 'fused-depthwise', x: [3, 7, 7, 5], filter: [3, 3, 5, 1], strides: 1, pad: 'same' },
);

export const describeCase = (c: ConvCase): string =>
  `${c.kind} x=${c.x.join('×')} filter=${c.filter.join('×')} stride ${String(c.strides)} ${typeof c.pad === 'string' ? c.pad : `pad ${JSON.stringify(c.pad.slice(1, 3))}`}`;

/** Seeded random cases: kernel sizes 1–5, strides 1–3 per axis, 'same', 'valid' and explicit paddings. */
function randomCases(count: number, seed: number): ConvCase[] {
  const values = seededValues(count * 12, seed);
  const pick = (i: number, n: number): number => Math.floor(((values[i]! + 1) / 2) * n) % n;
  const cases: ConvCase[] = [];
  for (let c = 0; c < count; c++) {
    const at = c * 12;
    const kind = pick(at, 2) === 0 ? 'conv2d' : 'depthwise';
    const k = [1, 2, 3, 5][pick(at + 1, 4)]!;
    const strides: [number, number] = [1 + pick(at + 2, 3), 1 + pick(at + 3, 3)];
    const h = k + 1 + pick(at + 4, 9);
    const w = k + 1 + pick(at + 5, 9);
    const cin = 1 + pick(at + 6, 6);
    const second = 1 + pick(at + 7, 5);
    const padChoice = pick(at + 8, 3);
    const pad: Pad =
      padChoice === 0
        ? 'same'
        : padChoice === 1
          ? 'valid'
          : [
              [0, 0],
              [pick(at + 9, k), pick(at + 10, k)],
              [pick(at + 11, k), pick(at + 10, k)],
              [0, 0],
            ];
    const multiplier = Math.min(second, 2);
    cases.push({ kind, x: [1 + pick(at + 9, 3), h, w, cin], filter: kind === 'conv2d' ? [k, k, cin, second] : [k, k, cin, multiplier], strides, pad });
  }
  return cases;
}
CASES.push(...randomCases(24, 2026));

/** Shapes MobileNet v1 (α 0.75) and v2 (α 0.35) train through, at batch 2. */
export const MOBILENET_CASES: ConvCase[] = [
  { kind: 'fused-depthwise', x: [2, 112, 112, 24], filter: [3, 3, 24, 1], strides: 1, pad: 'same' },
  { kind: 'fused-depthwise', x: [2, 112, 112, 48], filter: [3, 3, 48, 1], strides: 2, pad: 'same' },
  { kind: 'fused-depthwise', x: [2, 14, 14, 384], filter: [3, 3, 384, 1], strides: 1, pad: 'same' },
  { kind: 'fused-conv2d', x: [2, 56, 56, 48], filter: [1, 1, 48, 96], strides: 1, pad: 'same' },
  { kind: 'fused-conv2d', x: [2, 7, 7, 768], filter: [1, 1, 768, 768], strides: 1, pad: 'same' },
  { kind: 'conv2d', x: [1, 224, 224, 3], filter: [3, 3, 3, 24], strides: 2, pad: 'same' },
  { kind: 'conv2d', x: [2, 28, 28, 16], filter: [1, 1, 16, 96], strides: 1, pad: 'valid' },
  { kind: 'depthwise', x: [2, 57, 57, 48], filter: [3, 3, 48, 1], strides: 2, pad: 'valid' },
  { kind: 'fused-conv2d', x: [2, 14, 14, 192], filter: [1, 1, 192, 40], strides: 1, pad: 'same' },
];
