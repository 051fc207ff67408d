/** What the embedding workers are asked and answer (see embed.worker.ts). */
import type { AugmentPolicy } from '../../../shared/contract/augment.ts';

export interface EmbedRequest {
  type: 'embed';
  /** A BACKBONES id, e.g. mobilenet_v1_0.25_224. */
  backbone: string;
  /** The folder holding its model.json (resolved on the main thread by resolveBackboneDir). */
  modelDir: string;
  /** Image files; each is decoded, oriented, centre-cropped to a square and resized to 224×224. */
  paths: string[];
  /** Which view of each image: the centre crop, or its mirror image. Default 'center'. */
  view?: EmbedView;
  /**
   * Augmented views instead: per path, the view numbers to embed under the policy and seed
   * (augment/pipeline.ts). Each file is decoded once for all its views; the answer has one
   * row per view, path by path.
   */
  augment?: { policy: AugmentPolicy; seed: number; shas: string[]; views: number[][] };
}

export const EMBED_VIEWS = ['center', 'flip'] as const;
export type EmbedView = (typeof EMBED_VIEWS)[number];

export interface EmbedAnswer {
  /** Row-major [paths.length × dims]; transferred, not copied. Rows of failed files are zeros. */
  embeddings: Float32Array<ArrayBuffer>;
  /** Per path: null, or why the file could not be read (the rest of the batch goes on). With `augment`, a failed path's view rows are zeros. */
  errors: (string | null)[];
  dims: number;
  /** tf.getBackend() in that worker, and how it was chosen. */
  backend: string;
  backendDetail: string;
  /** tf.memory().numTensors after the batch: flat across batches (the loaded weights only). */
  numTensors: number;
}
