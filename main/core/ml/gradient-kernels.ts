/**
 * Convolution gradient kernels for fine-tuning, one implementation for the wasm and webgpu
 * backends, built from kernels they run fast (matrix products, forward convolutions,
 * elementwise products and sums).
 *
 * wasm lacks three gradient kernels altogether: Conv2DBackpropFilter,
 * DepthwiseConv2dNativeBackpropFilter and DepthwiseConv2dNativeBackpropInput. They are
 * registered for wasm, and only while wasm has no kernel of that name, so a later
 * tfjs-backend-wasm that ships its own wins.
 *
 * webgpu has all of them, but as general, naive shaders: on an H100 the two filter gradients
 * took 2.77 s of a 3.0 s fine-tuning step (177 ms each at MobileNet's largest shape, against
 * 4.8 ms and 11 ms as the products below). So on webgpu, and for two slow kernels on wasm, the
 * backend's own kernel is wrapped: the shapes fine-tuning uses take the fast path and every
 * other shape (dilations, channels-first, a stride on a 1×1 filter) still goes to the
 * backend's kernel.
 *
 * - Conv2DBackpropFilter of a 1×1 stride-1 conv (every MobileNet conv but the stem):
 *   xᵀ · dy over all N·H·W positions, one matrix product.
 * - Conv2DBackpropInput of the same: dy · filterᵀ, one matrix product.
 * - DepthwiseConv2dNativeBackpropFilter: on webgpu, per tap of the window, the strided slice
 *   of x it reads times dy, summed over N·H·W (a product with a row of ones); on wasm, where
 *   strided slices walk element by element, a forward depthwise conv of x by dy.
 * - DepthwiseConv2dNativeBackpropInput: a forward depthwise conv of dy, spread by the stride,
 *   with the flipped filter.
 * - Tile that only repeats size-1 axes (FusedBatchNorm's gradient) on wasm: a broadcasting add.
 *
 * SEEDBED_GRADIENT_KERNELS=backend turns the fast paths off (the missing wasm kernels stay),
 * to compare against the backend's own kernels.
 *
 * The kernels call tf ops. Inside a kernel the engine records nothing on the gradient tape
 * (kernelDepth > 0), so these intermediates never become part of a backward graph; tf.tidy
 * disposes them and the one returned tensor becomes the kernel's output.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CoreError } from '../errors.ts';

type Conv2DInfo = tf.backend_util.Conv2DInfo;

export type GradientBackend = 'wasm' | 'webgpu';

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

/** A kernel input as the engine hands it over: the caller's tensor itself. */
function inputTensor(inputs: tf.NamedTensorInfoMap, name: string, kernelName: string): tf.Tensor {
  const info = inputs[name];
  if (!(info instanceof tf.Tensor)) {
    throw new CoreError('internal', `Seedbed's replacement for the ${kernelName} kernel received no tensor for "${name}".`);
  }
  return info;
}

function pair(value: number | [number, number] | undefined): [number, number] {
  if (value === undefined) return [1, 1];
  return typeof value === 'number' ? [value, value] : value;
}

function refuseDilations(kernelName: string, dilations: number | [number, number] | undefined): void {
  const [dh, dw] = pair(dilations);
  if (dh !== 1 || dw !== 1) {
    throw new CoreError(
      'unsupported',
      `Fine-tuning on the wasm backend cannot train a dilated convolution (${kernelName} with dilations ${dh}×${dw}); MobileNet has none. Train only the layers above it, or choose another backend with SEEDBED_BACKEND.`,
    );
  }
}

function refuseChannelsFirst(kernelName: string, dataFormat: 'NHWC' | 'NCHW'): void {
  if (dataFormat === 'NCHW') {
    throw new CoreError(
      'unsupported',
      `Fine-tuning on the wasm backend supports channels-last (NHWC) convolutions only, and this model has a channels-first (NCHW) one (${kernelName}). Use a MobileNet from the backbone list, or choose another backend with SEEDBED_BACKEND.`,
    );
  }
}

/** A 1×1 filter, stride 1, no padding: the conv is a matrix product over all N·H·W positions. */
function isPointwise(info: Conv2DInfo): boolean {
  const { filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info;
  return filterHeight === 1 && filterWidth === 1 && strideHeight === 1 && strideWidth === 1 && padInfo.top === 0 && padInfo.left === 0 && padInfo.bottom === 0 && padInfo.right === 0;
}

/** Crops where a padding amount is negative, then zero-pads where it is positive. */
function padOrCrop(x: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  let out = x;
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [n, h, w, c] = x.shape;
    const rowStart = Math.max(0, -top);
    const colStart = Math.max(0, -left);
    out = tf.slice(x, [0, rowStart, colStart, 0], [n, h - rowStart - Math.max(0, -bottom), w - colStart - Math.max(0, -right), c]);
  }
  if (top <= 0 && bottom <= 0 && left <= 0 && right <= 0) return out;
  return tf.pad(out, [
    [0, 0],
    [Math.max(0, top), Math.max(0, bottom)],
    [Math.max(0, left), Math.max(0, right)],
    [0, 0],
  ]);
}

/**
 * x padded (or cropped) to exactly the rows and columns the filter taps read: output (i, j),
 * tap (r, c) reads x[i·sh + r − top][j·sw + c − left]. TF's 'same' puts its extra padding at
 * the bottom/right; 'valid' with a stride may leave trailing input rows that no output reads.
 */
function padToTaps(x: tf.Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  const { top, left } = info.padInfo;
  const rows = (info.outHeight - 1) * info.strideHeight + info.filterHeight;
  const cols = (info.outWidth - 1) * info.strideWidth + info.filterWidth;
  return padOrCrop(x, top, rows - info.inHeight - top, left, cols - info.inWidth - left);
}

/** a·b for 2-D tensors, with the smaller operand transposed explicitly: wasm's MatMul with transposeA runs a naive loop about 20× slower than XNNPACK's. */
function transposedTimes(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  // aᵀ·b = (bᵀ·a)ᵀ: transpose whichever big operand is smaller, and the small result if needed.
  if (a.size <= b.size) return tf.matMul(tf.transpose(a), b);
  return tf.transpose(tf.matMul(tf.transpose(b), a));
}

/*
 * Why the filter gradients below are forward convolutions: dL/dW[r, c] = Σ over n, i, j of
 * x[n, i·s + r, j·s + c] · dy[n, i, j] is itself a correlation of x with dy, dilated by the
 * stride, whose "image" is x and whose "filter" is dy (OH×OW taps). Run as a conv it goes
 * through XNNPACK. The obvious build from per-tap windows of x is 5–20× slower on wasm: its
 * StridedSlice walks element by element, its Slice and Concat copy one innermost row per JS
 * call, and its Sum over leading axes transposes first.
 */

/** The x and dy a filter-gradient kernel receives, and the geometry of the forward conv that read x. */
function filterGradientOperands(
  kernelName: string,
  inputs: tf.NamedTensorInfoMap,
  attrs: Pick<tf.Conv2DBackpropFilterAttrs, 'strides' | 'pad' | 'dimRoundingMode' | 'filterShape'>,
  depthwise: boolean,
): { x: tf.Tensor4D; dy: tf.Tensor4D; info: Conv2DInfo } {
  const x = inputTensor(inputs, 'x', kernelName) as tf.Tensor4D;
  const dy = inputTensor(inputs, 'dy', kernelName) as tf.Tensor4D;
  const { strides, pad, dimRoundingMode, filterShape } = attrs;
  const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode, depthwise, 'channelsLast');
  return { x, dy, info };
}

/** Whether a kernel's attributes describe a channels-last, undilated conv: the shapes the fast paths handle. */
function plainLayout(attrs: { dataFormat?: string; dilations?: number | [number, number] }): boolean {
  const [dh, dw] = pair(attrs.dilations);
  return attrs.dataFormat !== 'NCHW' && dh === 1 && dw === 1;
}

/**
 * dL/dfilter of a conv2d. 1×1 stride 1: xᵀ · dy over all N·H·W positions, one matrix product.
 * Otherwise (wasm only: webgpu keeps its own kernel there) a conv2d with the channels of x as
 * the batch, the batch as channels, and dy ([OH, OW, N, Cout]) as the filter:
 * out[cin, r, c, cout] = Σ_n,i,j x[n, r + i·s, c + j·s, cin] · dy[n, i, j, cout].
 */
function conv2DBackpropFilter(backend: GradientBackend, args: KernelArgs): tf.Tensor {
  const kernelName = 'Conv2DBackpropFilter';
  const filterAttrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  refuseChannelsFirst(kernelName, filterAttrs.dataFormat);
  const { x, dy, info } = filterGradientOperands(kernelName, args.inputs, filterAttrs, false);
  const { filterShape } = filterAttrs;
  const [, , cin, cout] = filterShape;
  return tf.tidy(() => {
    if (isPointwise(info)) {
      const positions = info.batchSize * info.outHeight * info.outWidth;
      const x2D = tf.reshape(x, [positions, cin]) as tf.Tensor2D;
      const dy2D = tf.reshape(dy, [positions, cout]) as tf.Tensor2D;
      // webgpu's matmul shader reads a transposed operand directly; wasm's does not (see transposedTimes).
      return tf.reshape(backend === 'webgpu' ? tf.matMul(x2D, dy2D, true, false) : transposedTimes(x2D, dy2D), filterShape);
    }
    const image = tf.transpose(padToTaps(x, info), [3, 1, 2, 0]);
    const filter = tf.transpose(dy, [1, 2, 0, 3]);
    const perInputChannel = tf.conv2d(image as tf.Tensor4D, filter as tf.Tensor4D, 1, 'valid', 'NHWC', [info.strideHeight, info.strideWidth]);
    return tf.transpose(perInputChannel, [1, 2, 0, 3]);
  });
}

/**
 * dL/dfilter of a depthwise conv on wasm: a depthwise conv of x laid out as one image with N·C
 * channels ([1, H, W, N·C]) by dy as an OH×OW filter ([OH, OW, N·C, M]), then summed over the
 * batch. Output channel c·M + m of dy comes from input channel c and filter [.., c, m].
 */
function depthwiseFilterAsConv(x: tf.Tensor4D, dy: tf.Tensor4D, info: Conv2DInfo, filterShape: [number, number, number, number]): tf.Tensor {
  const [kh, kw, channels, multiplier] = filterShape;
  const { batchSize: n, outHeight: oh, outWidth: ow } = info;
  return tf.tidy(() => {
    const padded = padToTaps(x, info);
    const [, rows, cols] = padded.shape;
    const image = tf.reshape(tf.transpose(padded, [1, 2, 0, 3]), [1, rows!, cols!, n * channels]) as tf.Tensor4D;
    const filter = tf.reshape(tf.transpose(dy, [1, 2, 0, 3]), [oh, ow, n * channels, multiplier]) as tf.Tensor4D;
    const perImage = tf.depthwiseConv2d(image, filter, 1, 'valid', 'NHWC', [info.strideHeight, info.strideWidth]);
    return tf.reshape(tf.sum(tf.reshape(perImage, [kh * kw, n, channels * multiplier]), 1), filterShape);
  });
}

/**
 * dL/dfilter of a depthwise conv on webgpu: for each tap (r, c) of the window, the (strided)
 * slice of x that tap reads, times dy, summed over all N·OH·OW positions. The sum is a
 * product with a row of ones: a reduction over the leading axis would transpose first.
 */
function depthwiseFilterByTaps(x: tf.Tensor4D, dy: tf.Tensor4D, info: Conv2DInfo, filterShape: [number, number, number, number]): tf.Tensor {
  const [kh, kw, channels, multiplier] = filterShape;
  const { batchSize: n, outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const positions = n * oh * ow;
  return tf.tidy(() => {
    const padded = padToTaps(x, info);
    const ones = tf.ones([1, positions]) as tf.Tensor2D;
    const dyPerChannel = multiplier === 1 ? dy : tf.reshape(dy, [n, oh, ow, channels, multiplier]);
    const taps: tf.Tensor[] = [];
    for (let r = 0; r < kh; r++) {
      for (let c = 0; c < kw; c++) {
        const end = [n, r + (oh - 1) * sh + 1, c + (ow - 1) * sw + 1, channels];
        const window =
          sh === 1 && sw === 1 ? tf.slice(padded, [0, r, c, 0], [n, oh, ow, channels]) : tf.stridedSlice(padded, [0, r, c, 0], end, [1, sh, sw, 1]);
        const product = multiplier === 1 ? tf.mul(window, dy) : tf.mul(tf.expandDims(window, 4), dyPerChannel);
        taps.push(tf.matMul(ones, tf.reshape(product, [positions, channels * multiplier]) as tf.Tensor2D));
      }
    }
    return tf.reshape(tf.concat(taps, 0), filterShape);
  });
}

function depthwiseBackpropFilter(backend: GradientBackend, args: KernelArgs): tf.Tensor {
  const kernelName = 'DepthwiseConv2dNativeBackpropFilter';
  const filterAttrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  refuseDilations(kernelName, filterAttrs.dilations);
  const { x, dy, info } = filterGradientOperands(kernelName, args.inputs, filterAttrs, true);
  return backend === 'webgpu' ? depthwiseFilterByTaps(x, dy, info, filterAttrs.filterShape) : depthwiseFilterAsConv(x, dy, info, filterAttrs.filterShape);
}

/**
 * dL/dx of a depthwise conv: a stride-1 'valid' depthwise conv of dy with the spatially flipped
 * filter, after dy is spread out by the stride (zeros between its rows and columns) and padded
 * so that every input position sees each tap that read it. With a channel multiplier M the M
 * outputs of one input channel are summed.
 */
function depthwiseBackpropInput(_backend: GradientBackend, args: KernelArgs): tf.Tensor {
  const kernelName = 'DepthwiseConv2dNativeBackpropInput';
  const { strides, pad, dimRoundingMode, dilations, inputShape } = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  refuseDilations(kernelName, dilations);
  const dy = inputTensor(args.inputs, 'dy', kernelName) as tf.Tensor4D;
  const filter = inputTensor(args.inputs, 'filter', kernelName) as tf.Tensor4D;
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape, strides, 1, pad, dimRoundingMode, true, 'channelsLast');
  const [kh, kw, channels, multiplier] = filter.shape;
  const [n, inH, inW] = inputShape;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  return tf.tidy(() => {
    // Each dy value followed by stride−1 zeros, columns then rows, in 4-D tensors only (webgpu's
    // shaders stop at rank 4 for Pad): [n·oh, ow, 1, c] padded to [n·oh, ow, sw, c], then
    // [n, oh, 1, ow·sw·c] padded to [n, oh, sh, ow·sw·c].
    const depth = channels * multiplier;
    let spread: tf.Tensor4D = dy;
    if (sw > 1) {
      const columns = tf.pad(tf.reshape(spread, [n * oh, ow, 1, depth]), [[0, 0], [0, 0], [0, sw - 1], [0, 0]]);
      spread = tf.reshape(columns, [n, oh, ow * sw, depth]);
    }
    if (sh > 1) {
      const rows = tf.pad(tf.reshape(spread, [n, oh, 1, ow * sw * depth]), [[0, 0], [0, 0], [0, sh - 1], [0, 0]]);
      spread = tf.reshape(rows, [n, oh * sh, ow * sw, depth]);
    }
    // Rows of `spread` that carry dy: 0..(oh−1)·sh; the sh−1 zero rows after the last one count
    // towards the bottom padding. Negative padding (a pad larger than the filter) crops instead.
    const padTop = kh - 1 - top;
    const padLeft = kw - 1 - left;
    const padBottom = inH + top - ((oh - 1) * sh + 1) - (sh - 1);
    const padRight = inW + left - ((ow - 1) * sw + 1) - (sw - 1);
    const padded = padOrCrop(spread, padTop, padBottom, padLeft, padRight);
    const flipped = tf.reverse(filter, [0, 1]);
    if (multiplier === 1) return tf.depthwiseConv2d(padded, flipped, 1, 'valid');
    const perOutputChannel = tf.depthwiseConv2d(padded, tf.reshape(flipped, [kh, kw, channels * multiplier, 1]), 1, 'valid');
    return tf.sum(tf.reshape(perOutputChannel, [n, inH, inW, channels, multiplier]), 4);
  });
}

/** dL/dx of a 1×1 stride-1 conv2d: dy · filterᵀ over all positions, one matrix product. Null for any other shape. */
function pointwiseBackpropInput(args: KernelArgs): tf.Tensor | null {
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const dy = args.inputs.dy;
  const filter = args.inputs.filter;
  if (dataFormat === 'NCHW' || !(dy instanceof tf.Tensor) || !(filter instanceof tf.Tensor)) return null;
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  if (!isPointwise(info)) return null;
  const [, , cin, cout] = filter.shape as [number, number, number, number];
  return tf.tidy(() => {
    const dy2D = tf.reshape(dy, [dy.size / cout, cout]) as tf.Tensor2D;
    // The filter is small: transposing it explicitly keeps wasm on its fast (XNNPACK) product.
    return tf.reshape(tf.matMul(dy2D, tf.transpose(tf.reshape(filter, [cin, cout])) as tf.Tensor2D), inputShape);
  });
}

/**
 * Tile that only repeats size-1 axes (a broadcast), as a broadcasting add. tfjs's own
 * FusedBatchNorm gradient tiles the per-channel 1/√variance to the full activation shape, and
 * wasm's Tile computes every output index separately: about 30× slower than the broadcast
 * (≈ 120 ms against 4 ms at [32, 7, 7, 768]), which made it the costliest kernel of a
 * fine-tuning step. Null for other tiles and non-numeric ones.
 */
function broadcastTile(args: KernelArgs): tf.Tensor | null {
  const { reps } = args.attrs as unknown as tf.TileAttrs;
  const x = args.inputs.x;
  if (!(x instanceof tf.Tensor) || !(x.dtype === 'float32' || x.dtype === 'int32')) return null;
  if (!(x.shape as number[]).every((size, axis) => size === 1 || reps[axis] === 1)) return null;
  return tf.tidy(() => tf.add(tf.zeros(x.shape.map((size: number, axis: number) => size * reps[axis]!), x.dtype), x));
}

type FastPath = (backend: GradientBackend, args: KernelArgs) => tf.Tensor | null;

/** The gradient kernels wasm lacks: Seedbed's are the only ones there. */
const MISSING_ON_WASM: ReadonlyArray<{ kernelName: string; kernelFunc: (backend: GradientBackend, args: KernelArgs) => tf.Tensor }> = [
  { kernelName: 'Conv2DBackpropFilter', kernelFunc: conv2DBackpropFilter },
  { kernelName: 'DepthwiseConv2dNativeBackpropFilter', kernelFunc: depthwiseBackpropFilter },
  { kernelName: 'DepthwiseConv2dNativeBackpropInput', kernelFunc: depthwiseBackpropInput },
];

/** The gradient kernels Seedbed supplies for wasm because tfjs-backend-wasm has none of that name. */
export const WASM_GRADIENT_KERNELS: readonly string[] = MISSING_ON_WASM.map((r) => r.kernelName);

/**
 * Fast paths in front of a backend's own kernel, per backend; a null answer hands the call to
 * the backend's kernel. On webgpu, the filter gradients only for 1×1 stride-1 convs (the
 * general conv-as-filter trick would run webgpu's conv shader with a 112×112 "filter").
 */
const FAST_PATHS: Record<GradientBackend, ReadonlyArray<{ kernelName: string; fast: FastPath }>> = {
  wasm: [
    { kernelName: 'Conv2DBackpropInput', fast: (_b, args) => pointwiseBackpropInput(args) },
    { kernelName: 'Tile', fast: (_b, args) => broadcastTile(args) },
  ],
  webgpu: [
    {
      kernelName: 'Conv2DBackpropFilter',
      fast: (b, args) => {
        const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
        if (attrs.dataFormat === 'NCHW') return null;
        const { info } = filterGradientOperands('Conv2DBackpropFilter', args.inputs, attrs, false);
        return isPointwise(info) ? conv2DBackpropFilter(b, args) : null;
      },
    },
    { kernelName: 'Conv2DBackpropInput', fast: (_b, args) => pointwiseBackpropInput(args) },
    {
      kernelName: 'DepthwiseConv2dNativeBackpropFilter',
      fast: (b, args) => (plainLayout(args.attrs as { dilations?: number | [number, number] }) ? depthwiseBackpropFilter(b, args) : null),
    },
    {
      kernelName: 'DepthwiseConv2dNativeBackpropInput',
      fast: (b, args) => (plainLayout(args.attrs as { dilations?: number | [number, number] }) ? depthwiseBackpropInput(b, args) : null),
    },
  ],
};

/** Names of the backend kernels Seedbed puts a fast path in front of, per backend. */
export const FAST_PATH_KERNELS: Readonly<Record<GradientBackend, readonly string[]>> = {
  wasm: FAST_PATHS.wasm.map((f) => f.kernelName),
  webgpu: FAST_PATHS.webgpu.map((f) => f.kernelName),
};

// Marks a wrapper on the function itself, so that a second copy of this module (another bundle
// in the same thread) does not wrap the wrapper again.
const FAST_PATH_MARK = Symbol.for('seedbed.gradientFastPath');
type MarkedKernelFunc = tf.KernelFunc & { [FAST_PATH_MARK]?: tf.KernelFunc };

/** Whether the fast paths are on (SEEDBED_GRADIENT_KERNELS=backend turns them off, to compare). */
export function fastPathsEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.SEEDBED_GRADIENT_KERNELS?.trim() !== 'backend';
}

/**
 * Registers, for `backend` only, the convolution gradient kernels it lacks (wasm) and fast
 * paths in front of slow ones (both). Safe to call repeatedly; with fast paths off it puts
 * the backend's own kernels back.
 */
export function registerGradientKernels(backend: GradientBackend, env: NodeJS.ProcessEnv = process.env): void {
  if (backend === 'wasm') {
    for (const { kernelName, kernelFunc } of MISSING_ON_WASM) {
      if (tf.getKernel(kernelName, backend) !== undefined) continue;
      tf.registerKernel({ kernelName, backendName: backend, kernelFunc: ((args: KernelArgs) => kernelFunc(backend, args)) as tf.KernelFunc });
    }
  }
  const enabled = fastPathsEnabled(env);
  for (const { kernelName, fast } of FAST_PATHS[backend]) {
    const current = tf.getKernel(kernelName, backend);
    if (!current) continue;
    const wrapped = (current.kernelFunc as MarkedKernelFunc)[FAST_PATH_MARK];
    const native = wrapped ?? current.kernelFunc;
    if (enabled === (wrapped !== undefined)) continue;
    const kernelFunc: MarkedKernelFunc = enabled
      ? (((args: KernelArgs) => fast(backend, args) ?? native(args as Parameters<tf.KernelFunc>[0])) as tf.KernelFunc)
      : native;
    if (enabled) kernelFunc[FAST_PATH_MARK] = native;
    tf.unregisterKernel(kernelName, backend);
    // The native kernel's setup (binding its wasm function) must still run when the backend starts.
    tf.registerKernel({ ...current, kernelFunc });
  }
}

/** The wasm registration, kept for callers that predate webgpu. */
export function registerWasmGradientKernels(): void {
  registerGradientKernels('wasm');
}
