/**
 * The embedding workers: each holds its own backend instance and one loaded backbone.
 * A request is a batch of image paths; answers are Float32Array rows.
 */
import os from 'node:os';
import { WorkerPool, type TaskOptions } from '../jobs/pool.ts';
import type { EmbedAnswer, EmbedRequest } from './embed-protocol.ts';
import { workerEntryUrl } from '../jobs/worker-url.ts';

export interface EmbedPoolOptions {
  /** Worker count; default one per core. */
  size?: number;
  /** Idle workers exit (and drop their model) after this long; default 60 s. */
  idleMs?: number;
}

export class EmbedPool {
  readonly #pool: WorkerPool<EmbedRequest, EmbedAnswer>;

  constructor(options: EmbedPoolOptions = {}) {
    this.#pool = new WorkerPool<EmbedRequest, EmbedAnswer>(workerEntryUrl(import.meta.url, 'embed.worker'), {
      size: options.size ?? os.availableParallelism(),
      name: 'embed',
      idleMs: options.idleMs ?? 60_000,
    });
  }

  get size(): number {
    return this.#pool.size;
  }

  embedBatch(request: Omit<EmbedRequest, 'type'>, options?: TaskOptions): Promise<EmbedAnswer> {
    return this.#pool.run({ type: 'embed', ...request }, options);
  }

  /**
   * Embeds many images, `batchSize` at a time spread over the workers; rows come back in the
   * order of `paths`.
   */
  async embedAll(
    request: Omit<EmbedRequest, 'type'>,
    options: TaskOptions & { batchSize?: number; onBatch?: (done: number, total: number) => void } = {},
  ): Promise<{ embeddings: Float32Array; errors: (string | null)[]; dims: number; backend: string; backendDetail: string }> {
    const batchSize = Math.max(1, options.batchSize ?? 16);
    const batches: string[][] = [];
    for (let i = 0; i < request.paths.length; i += batchSize) batches.push(request.paths.slice(i, i + batchSize));
    let done = 0;
    const answers = await Promise.all(
      batches.map(async (paths) => {
        const answer = await this.#pool.run({ type: 'embed', backbone: request.backbone, modelDir: request.modelDir, paths, view: request.view }, options);
        done += paths.length;
        options.onBatch?.(done, request.paths.length);
        return answer;
      }),
    );
    const first = answers[0];
    const dims = first?.dims ?? 0;
    const embeddings = new Float32Array(request.paths.length * dims);
    const errors: (string | null)[] = [];
    let at = 0;
    for (const a of answers) {
      embeddings.set(a.embeddings, at);
      at += a.embeddings.length;
      errors.push(...a.errors);
    }
    return { embeddings, errors, dims, backend: first?.backend ?? '', backendDetail: first?.backendDetail ?? '' };
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
