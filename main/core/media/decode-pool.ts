/**
 * The decode workers, shared by imports and media requests of one core. Pool size is
 * `options.workers`, else one per core.
 */
import os from 'node:os';
import type { CoreContext } from '../context.ts';
import { WorkerPool, type TaskOptions } from '../jobs/pool.ts';
import type { AnswerTo, DecodeAnswer, DecodeRequest } from './decode-protocol.ts';
import { workerEntryUrl } from '../jobs/worker-url.ts';

export interface DecodePool {
  readonly size: number;
  decode<R extends DecodeRequest>(request: R, options?: TaskOptions): Promise<AnswerTo<R>>;
  close(): Promise<void>;
}

class DecodeWorkers implements DecodePool {
  readonly #pool: WorkerPool<DecodeRequest, DecodeAnswer>;

  constructor(size: number) {
    this.#pool = new WorkerPool<DecodeRequest, DecodeAnswer>(workerEntryUrl(import.meta.url, 'decode.worker'), { size, name: 'decode' });
  }

  get size(): number {
    return this.#pool.size;
  }

  decode<R extends DecodeRequest>(request: R, options?: TaskOptions): Promise<AnswerTo<R>> {
    return this.#pool.run(request, options) as Promise<AnswerTo<R>>;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

/** The core's decode pool, started on first use and stopped by `ctx.jobs.shutdown()`. */
export function decodePool(ctx: CoreContext): DecodePool {
  return ctx.jobs.shared('decode-pool', () => new DecodeWorkers(ctx.options.workers ?? os.availableParallelism()));
}
