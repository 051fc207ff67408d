/**
 * Gradient kernels the wasm backend lacks, rebuilt from kernels it has, so that fine-tuning
 * convolution layers runs on wasm instead of failing (or falling back to the 15× slower cpu
 * backend): Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter and
 * DepthwiseConv2dNativeBackpropInput. Each is registered for 'wasm' only, and only while wasm
 * has no kernel of that name, so a later tfjs-backend-wasm that ships its own wins.
 *
 * Every other kernel a MobileNet v1/v2 backward pass needs (Relu6, ClipByValue, BatchNorm's
 * moments, Pad, Add, Mean, Tile, the fused convolutions' activation and bias gradients,
 * Conv2DBackpropInput) exists on wasm in tfjs-backend-wasm 4.22. Two of them are plain loops
 * that dominated a fine-tuning step, so they get fast paths for the shapes it uses and keep
 * wasm's own kernel for every other shape: Conv2DBackpropInput with a 1×1 stride-1 filter (the
 * input gradient of every pointwise conv, about 10× slower than the forward conv) becomes an
 * XNNPACK matrix product, and a Tile that only repeats size-1 axes (FusedBatchNorm's gradient)
 * becomes a broadcasting add.
 *
 * The kernels call tf ops. Inside a kernel the engine records nothing on the gradient tape
 * (kernelDepth > 0), so these intermediates never become part of a backward graph; tf.tidy
 * disposes them and the one returned tensor becomes the kernel's output.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CoreError } from '../errors.ts';

type Conv2DInfo = tf.backend_util.Conv2DInfo;

const WASM = 'wasm';

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

/** A kernel input as the engine hands it over: the caller's tensor itself. */
function inputTensor(inputs: tf.NamedTensorInfoMap, name: string, kernelName: string): tf.Tensor {
  const info = inputs[name];
  if (!(info instanceof tf.Tensor)) {
    throw new CoreError('internal', `Seedbed's replacement for the ${kernelName} kernel on wasm received no tensor for "${name}".`);
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

/**
 * dL/dfilter of a conv2d. 1×1 stride 1: xᵀ · dy over all N·H·W positions, one matrix product.
 * Otherwise a conv2d with the channels of x as the batch, the batch as channels, and dy
 * ([OH, OW, N, Cout]) as the filter: out[cin, r, c, cout] = Σ_n,i,j x[n, r + i·s, c + j·s, cin] · dy[n, i, j, cout].
 */
function conv2DBackpropFilter({ inputs, attrs }: KernelArgs): tf.Tensor {
  const kernelName = 'Conv2DBackpropFilter';
  const filterAttrs = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  refuseChannelsFirst(kernelName, filterAttrs.dataFormat);
  const { x, dy, info } = filterGradientOperands(kernelName, inputs, filterAttrs, false);
  const { filterShape } = filterAttrs;
  const [, , cin, cout] = filterShape;
  return tf.tidy(() => {
    if (isPointwise(info)) {
      const positions = info.batchSize * info.outHeight * info.outWidth;
      return tf.reshape(transposedTimes(tf.reshape(x, [positions, cin]) as tf.Tensor2D, tf.reshape(dy, [positions, cout]) as tf.Tensor2D), filterShape);
    }
    const image = tf.transpose(padToTaps(x, info), [3, 1, 2, 0]);
    const filter = tf.transpose(dy, [1, 2, 0, 3]);
    const perInputChannel = tf.conv2d(image as tf.Tensor4D, filter as tf.Tensor4D, 1, 'valid', 'NHWC', [info.strideHeight, info.strideWidth]);
    return tf.transpose(perInputChannel, [1, 2, 0, 3]);
  });
}

/**
 * dL/dfilter of a depthwise conv: a depthwise conv of x laid out as one image with N·C channels
 * ([1, H, W, N·C]) by dy as an OH×OW filter ([OH, OW, N·C, M]), then summed over the batch.
 * Output channel c·M + m of dy comes from input channel c and filter [.., c, m].
 */
function depthwiseBackpropFilter({ inputs, attrs }: KernelArgs): tf.Tensor {
  const kernelName = 'DepthwiseConv2dNativeBackpropFilter';
  const filterAttrs = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  refuseDilations(kernelName, filterAttrs.dilations);
  const { x, dy, info } = filterGradientOperands(kernelName, inputs, filterAttrs, true);
  const { filterShape } = filterAttrs;
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
 * dL/dx of a depthwise conv: a stride-1 'valid' depthwise conv of dy with the spatially flipped
 * filter, after dy is spread out by the stride (zeros between its rows and columns) and padded
 * so that every input position sees each tap that read it. With a channel multiplier M the M
 * outputs of one input channel are summed.
 */
function depthwiseBackpropInput({ inputs, attrs }: KernelArgs): tf.Tensor {
  const kernelName = 'DepthwiseConv2dNativeBackpropInput';
  const { strides, pad, dimRoundingMode, dilations, inputShape } = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  refuseDilations(kernelName, dilations);
  const dy = inputTensor(inputs, 'dy', kernelName) as tf.Tensor4D;
  const filter = inputTensor(inputs, 'filter', kernelName) as tf.Tensor4D;
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape, strides, 1, pad, dimRoundingMode, true, 'channelsLast');
  const [kh, kw, channels, multiplier] = filter.shape;
  const [n, inH, inW] = inputShape;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  return tf.tidy(() => {
    let spread: tf.Tensor4D = dy;
    if (sh > 1 || sw > 1) {
      // [n, oh, 1, ow, 1, c] padded to [n, oh, sh, ow, sw, c]: each dy value followed by stride−1 zeros.
      const expanded = tf.reshape(dy, [n, oh, 1, ow, 1, channels * multiplier]);
      const zeros = tf.pad(expanded, [
        [0, 0],
        [0, 0],
        [0, sh - 1],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ]);
      spread = tf.reshape(zeros, [n, oh * sh, ow * sw, channels * multiplier]);
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

/**
 * dL/dx of a conv2d. For a 1×1 stride-1 filter it is dy · filterᵀ over all positions, one
 * XNNPACK matrix product; any other shape goes to wasm's own kernel.
 */
function conv2DBackpropInputWith(nativeKernel: tf.KernelFunc): (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[] {
  return (args) => {
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
    const dy = args.inputs.dy;
    const filter = args.inputs.filter;
    const pointwise =
      dataFormat !== 'NCHW' &&
      dy instanceof tf.Tensor &&
      filter instanceof tf.Tensor &&
      isPointwise(tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, 'channelsLast'));
    if (!pointwise) return nativeKernel(args as Parameters<tf.KernelFunc>[0]);
    const [, , cin, cout] = filter.shape as [number, number, number, number];
    return tf.tidy(() => {
      const dy2D = tf.reshape(dy, [dy.size / cout, cout]);
      return tf.reshape(tf.matMul(dy2D, tf.transpose(tf.reshape(filter, [cin, cout]))), inputShape);
    });
  };
}

/**
 * Tile that only repeats size-1 axes (a broadcast), as a broadcasting add. tfjs's own
 * FusedBatchNorm gradient tiles the per-channel 1/√variance to the full activation shape, and
 * wasm's Tile computes every output index separately: about 30× slower than the broadcast
 * (≈ 120 ms against 4 ms at [32, 7, 7, 768]), which made it the costliest kernel of a
 * fine-tuning step. Other tiles, and non-numeric ones, go to wasm's own kernel.
 */
function tileWith(nativeKernel: tf.KernelFunc): (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[] {
  return (args) => {
    const { reps } = args.attrs as unknown as tf.TileAttrs;
    const x = args.inputs.x;
    const broadcast = (t: tf.Tensor): boolean => (t.dtype === 'float32' || t.dtype === 'int32') && t.shape.every((size, axis) => size === 1 || reps[axis] === 1);
    if (!(x instanceof tf.Tensor) || !broadcast(x)) return nativeKernel(args as Parameters<tf.KernelFunc>[0]);
    return tf.tidy(() => tf.add(tf.zeros(x.shape.map((size: number, axis: number) => size * reps[axis]!), x.dtype), x));
  };
}

const REPLACEMENTS: ReadonlyArray<{ kernelName: string; kernelFunc: (args: KernelArgs) => tf.Tensor }> = [
  { kernelName: 'Conv2DBackpropFilter', kernelFunc: conv2DBackpropFilter },
  { kernelName: 'DepthwiseConv2dNativeBackpropFilter', kernelFunc: depthwiseBackpropFilter },
  { kernelName: 'DepthwiseConv2dNativeBackpropInput', kernelFunc: depthwiseBackpropInput },
];

/** The gradient kernels Seedbed supplies for wasm because tfjs-backend-wasm has none of that name. */
export const WASM_GRADIENT_KERNELS: readonly string[] = REPLACEMENTS.map((r) => r.kernelName);

/** Kernels wasm has but runs far slower than its forward convs, wrapped with fast paths for the shapes fine-tuning uses. */
const FAST_PATHS: ReadonlyArray<{ kernelName: string; wrap: (native: tf.KernelFunc) => (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[] }> = [
  { kernelName: 'Conv2DBackpropInput', wrap: conv2DBackpropInputWith },
  { kernelName: 'Tile', wrap: tileWith },
];

// Marks a wrapper on the function itself, so that a second copy of this module (another bundle
// in the same thread) does not wrap the wrapper again.
const FAST_PATH_MARK = Symbol.for('seedbed.wasmFastPath');
type MarkedKernelFunc = tf.KernelFunc & { [FAST_PATH_MARK]?: true };

/** Registers, for the wasm backend only, the convolution gradient kernels it lacks, and fast paths for two slow ones (Conv2DBackpropInput 1×1, broadcasting Tile). Safe to call repeatedly. */
export function registerWasmGradientKernels(): void {
  for (const { kernelName, kernelFunc } of REPLACEMENTS) {
    if (tf.getKernel(kernelName, WASM) !== undefined) continue;
    tf.registerKernel({ kernelName, backendName: WASM, kernelFunc: kernelFunc as tf.KernelFunc });
  }
  for (const { kernelName, wrap } of FAST_PATHS) {
    const native = tf.getKernel(kernelName, WASM);
    if (!native || (native.kernelFunc as MarkedKernelFunc)[FAST_PATH_MARK]) continue;
    const kernelFunc: MarkedKernelFunc = wrap(native.kernelFunc) as tf.KernelFunc;
    kernelFunc[FAST_PATH_MARK] = true;
    tf.unregisterKernel(kernelName, WASM);
    // The native kernel's setup (binding its wasm function) must still run when the backend starts.
    tf.registerKernel({ ...native, kernelFunc });
  }
}
