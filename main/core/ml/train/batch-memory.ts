/**
 * How many images one fine-tuning step may hold, from the backend's memory limits. A step
 * keeps every activation of the trainable layers for the backward pass, with what batch norm,
 * ReLU6 and the convolutions save for their gradients, and the gradients themselves: measured
 * with tf.profile's peak bytes, 8.2 floats per activation value per image for MobileNet v1
 * α0.25 and 8.3 for α0.75 (all layers, frozen batch-norm statistics). Two limits apply:
 * - the largest buffer one kernel may bind (WebGPU's maxStorageBufferBindingSize; the wasm heap
 *   for wasm): the largest single activation at batch B must fit;
 * - the memory budget: on webgpu SEEDBED_GPU_MEMORY_MB (default 3,072 MB, so that a 4 GB card
 *   keeps room for the weights, the optimizer's moments and the desktop), on wasm 2,048 MB of its
 *   4 GB heap.
 * The batch is the largest that meets both (never below 1), and the reason is given to the user.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { activeGpu } from '../webgpu.ts';

const BYTES_PER_FLOAT = 4;
/** Live floats per activation value at a step's peak (measured 8.2–8.3, see above), with a margin. */
const COPIES_PER_ACTIVATION = 8.5;
const MB = 1024 * 1024;

export interface MemoryLimits {
  /** The largest tensor one kernel may read or write, in bytes. */
  maxBufferBytes: number;
  /** What a step's activations may use in all, in bytes. */
  budgetBytes: number;
  /** For messages: "your GPU (NVIDIA …)" or "the wasm heap". */
  where: string;
}

/** The limits of the active backend, or null where there are none worth planning for (native TensorFlow, cpu). */
export function memoryLimits(backend: string, env: NodeJS.ProcessEnv = process.env): MemoryLimits | null {
  if (backend === 'webgpu') {
    const gpu = activeGpu();
    if (!gpu) return null;
    const budgetMb = Number(env.SEEDBED_GPU_MEMORY_MB);
    return {
      maxBufferBytes: Math.min(gpu.maxStorageBufferBindingSize, gpu.maxBufferSize),
      budgetBytes: (Number.isFinite(budgetMb) && budgetMb > 0 ? budgetMb : 3072) * MB,
      where: `the GPU (${gpu.name})`,
    };
  }
  if (backend === 'wasm') return { maxBufferBytes: 2048 * MB, budgetBytes: 2048 * MB, where: 'the WebAssembly engine (4 GB at most)' };
  return null;
}

/** Activation values per image: the largest single layer output and the sum over all layers of `model`. */
export function activationsPerImage(model: tfl.LayersModel): { largest: number; total: number } {
  let largest = 0;
  let total = 0;
  for (const layer of model.layers) {
    const shapes = (Array.isArray(layer.outputShape[0]) ? layer.outputShape : [layer.outputShape]) as (number | null)[][];
    for (const shape of shapes) {
      const values = shape.slice(1).reduce<number>((a, d) => a * (d ?? 1), 1);
      largest = Math.max(largest, values);
      total += values;
    }
  }
  return { largest, total };
}

/** The batch size a step of `model` can use under `limits`, and why it is smaller than asked (null when it is not). */
export function trainingBatchSize(requested: number, model: tfl.LayersModel, limits: MemoryLimits | null): { batchSize: number; reason: string | null } {
  if (!limits) return { batchSize: requested, reason: null };
  const { largest, total } = activationsPerImage(model);
  const perImage = total * COPIES_PER_ACTIVATION * BYTES_PER_FLOAT;
  const room = Math.min(Math.floor(limits.maxBufferBytes / (largest * BYTES_PER_FLOAT)), Math.floor(limits.budgetBytes / perImage));
  const batchSize = Math.max(1, Math.min(requested, room));
  if (batchSize === requested) return { batchSize, reason: null };
  const perImageMb = perImage / MB;
  return {
    batchSize,
    reason: `Fine-tuning used batches of ${batchSize} instead of ${requested}: one image needs about ${perImageMb.toFixed(0)} MB while the layers train, and ${limits.where} has room for ${batchSize} at a time.`,
  };
}
