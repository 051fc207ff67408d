/**
 * Runs one training or prediction in a dedicated worker thread and streams its messages.
 * Cancelling terminates the thread at once (mid-epoch included): the worker writes nothing
 * the project depends on until it has finished, so nothing is left half-done.
 */
import { Worker } from 'node:worker_threads';
import { workerSource } from '../jobs/pool.ts';
import { workerEntryUrl } from '../jobs/worker-url.ts';
import type { WorkerMessage, WorkerRequest } from './train-protocol.ts';

export class CancelledError extends Error {
  constructor() {
    super('Cancelled.');
    this.name = 'AbortError';
  }
}

export function runInTrainWorker<T>(
  request: WorkerRequest,
  options: { signal?: AbortSignal; onMessage?: (m: WorkerMessage) => void } = {},
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new CancelledError());
      return;
    }
    const worker = new Worker(workerSource(workerEntryUrl(import.meta.url, 'train.worker')), { name: 'seedbed-train' });
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      fn();
      void worker.terminate();
    };
    const onAbort = (): void => finish(() => reject(new CancelledError()));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'done') finish(() => resolve(message.outcome as T));
      else if (message.type === 'error') finish(() => reject(new Error(message.message)));
      else options.onMessage?.(message);
    });
    worker.on('error', (err) => finish(() => reject(err)));
    worker.on('exit', (code) => finish(() => reject(new Error(`The training worker stopped unexpectedly (code ${code}).`))));
    const transfer: ArrayBuffer[] = [];
    if (request.type === 'train') transfer.push(request.train.x.buffer, request.train.y.buffer, request.val.x.buffer, request.val.y.buffer, request.test.x.buffer, request.test.y.buffer);
    else if (request.type === 'predict' && request.embeddings) transfer.push(request.embeddings.x.buffer);
    else if (request.type === 'analyse') {
      if (request.x) transfer.push(request.x.buffer);
      transfer.push(request.labels.buffer);
    }
    worker.postMessage(request, [...new Set(transfer)]);
  });
}

/**
 * One training worker kept warm between short requests (explanations), so that each answers
 * without a thread and TensorFlow.js starting first. Requests run one at a time; the thread
 * exits after `idleMs` without work, and at once on close().
 */
export class WarmTrainWorker {
  #worker: Worker | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #idle: NodeJS.Timeout | null = null;

  constructor(private readonly idleMs = 60_000) {}

  run<T>(request: WorkerRequest): Promise<T> {
    const next = this.#queue.then(() => this.#run<T>(request));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #run<T>(request: WorkerRequest): Promise<T> {
    if (this.#idle) clearTimeout(this.#idle);
    const worker = (this.#worker ??= new Worker(workerSource(workerEntryUrl(import.meta.url, 'train.worker')), { name: 'seedbed-train-warm' }));
    return new Promise<T>((resolve, reject) => {
      const done = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        this.#idle = setTimeout(() => void this.close(), this.idleMs);
        this.#idle.unref();
      };
      const onMessage = (message: WorkerMessage): void => {
        if (message.type === 'done') {
          done();
          resolve(message.outcome as T);
        } else if (message.type === 'error') {
          done();
          reject(new Error(message.message));
        }
      };
      const onError = (err: Error): void => {
        done();
        this.#worker = null;
        void worker.terminate();
        reject(err);
      };
      const onExit = (code: number): void => {
        done();
        this.#worker = null;
        reject(new Error(`The training worker stopped unexpectedly (code ${code}).`));
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    if (this.#idle) clearTimeout(this.#idle);
    this.#idle = null;
    const worker = this.#worker;
    this.#worker = null;
    if (worker) await worker.terminate();
  }
}
