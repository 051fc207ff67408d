/**
 * One optimizer step for many variables as one: the variables and their gradients are
 * concatenated into flat vectors, tfjs's own optimizer updates the flat vector, and the result
 * is split back. Adam, momentum and RMSprop are elementwise, so the numbers are the same as
 * per variable; what changes is the number of kernels. tfjs runs about 14 kernels per variable
 * for an Adam step, so fine-tuning all 54 weight tensors of MobileNet v1 cost 760 kernels for
 * the update alone, more than the forward and backward passes together (455 programs). Flat,
 * it is the optimizer's ~14 plus two concatenations and one slice per variable.
 *
 * Kernels are cheap on wasm (tens of µs) but cost the webgpu backend about a millisecond of
 * JavaScript each (a bind group, a uniform buffer and a dispatch), so this matters most there.
 */
import * as tf from '@tensorflow/tfjs-core';

export class FlatOptimizer {
  readonly #optimizer: tf.Optimizer;
  readonly #variables: tf.Variable[];
  readonly #sizes: number[];
  #flat: tf.Variable | null = null;

  constructor(optimizer: tf.Optimizer, variables: tf.Variable[]) {
    this.#optimizer = optimizer;
    this.#variables = variables;
    this.#sizes = variables.map((v) => v.size);
  }

  /** The optimizer whose learning rate and state this wraps. */
  get optimizer(): tf.Optimizer {
    return this.#optimizer;
  }

  /**
   * Applies `grads` (keyed by variable name).
   * The variables' current values are read each step, so a restore between steps is respected.
   */
  applyGradients(grads: tf.NamedTensorMap): void {
    tf.tidy(() => {
      const flatten = (tensors: tf.Tensor[]): tf.Tensor1D => tf.concat(tensors.map((t) => tf.reshape(t, [-1]))) as tf.Tensor1D;
      const values = flatten(this.#variables);
      // A variable the loss does not reach has no gradient: zeros (its moments still decay).
      const gradient = flatten(this.#variables.map((v) => grads[v.name] ?? tf.zerosLike(v)));
      if (this.#flat === null) this.#flat = tf.variable(values, true);
      else this.#flat.assign(values);
      this.#optimizer.applyGradients({ [this.#flat.name]: gradient });
      const parts = tf.split(this.#flat, this.#sizes);
      this.#variables.forEach((v, i) => v.assign(tf.reshape(parts[i]!, v.shape)));
    });
  }

  /** Disposes the flat copy; the wrapped optimizer is the caller's to dispose. */
  dispose(): void {
    this.#flat?.dispose();
    this.#flat = null;
  }
}
