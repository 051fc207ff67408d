/**
 * Reading a result off the device without blocking: on the webgpu backend `dataSync()` is not
 * possible in Node (and on any GPU it stalls this thread until the device is idle), so results
 * are computed in a tidy scope and read with `await data()`.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Runs `compute` in a tidy scope and returns its one result's values; every tensor is disposed. */
export async function readTidy(compute: () => tf.Tensor): Promise<Float32Array> {
  const result = tf.tidy(compute);
  try {
    return (await result.data()) as Float32Array;
  } finally {
    result.dispose();
  }
}
