/**
 * A pool of worker threads running one entry module: workers start on demand, are reused
 * across tasks (one task per worker at a time), stop keeping the process alive while idle,
 * and exit after a quiet spell. A worker that dies is replaced; its task fails.
 */
import { Worker } from 'node:worker_threads';
import type { PoolEnvelope, PoolReply } from './worker-protocol.ts';

/** The handler inside the worker threw while working on this request. */
export class WorkerTaskError extends Error {
  constructor(readonly workerStack: string) {
    super(workerStack.split('\n')[0] ?? workerStack);
    this.name = 'WorkerTaskError';
  }
}

/** The worker itself failed (it could not start, or it crashed): nothing to do with the request. */
export class WorkerStoppedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerStoppedError';
  }
}

export interface PoolOptions {
  size: number;
  /** Shown in thread names and error messages ("decode"). */
  name: string;
  /** Idle workers exit after this long; default 30 s. */
  idleMs?: number;
}

export interface TaskOptions {
  signal?: AbortSignal;
  /** `high` goes ahead of queued `normal` tasks (a preview the user waits for, during an import). */
  priority?: 'normal' | 'high';
}

interface Task<Req, Res> {
  id: number;
  request: Req;
  resolve: (result: Res) => void;
  reject: (err: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | null;
  /** Settled already (aborted while a worker had it): the worker's answer is dropped. */
  abandoned: boolean;
}

interface Slot<Req, Res> {
  worker: Worker;
  task: Task<Req, Res> | null;
  idleTimer: NodeJS.Timeout | null;
  exited: boolean;
}

/**
 * The URL a Worker should load for an entry module. Under tsx (tests, `node --import tsx`)
 * the entry is a .ts file, and Node 20 does not apply the parent's `--import` hooks to a
 * worker's entry; a tiny bootstrap registers tsx in the worker first, then imports it.
 */
export function workerSource(entry: URL): URL {
  if (!entry.pathname.endsWith('.ts')) return entry;
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot =
    `const { register } = await import(${JSON.stringify(tsxApi)});\n` +
    `register();\n` +
    `await import(${JSON.stringify(entry.href)});\n`;
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
}

export class WorkerPool<Req, Res> {
  readonly size: number;
  readonly #entry: URL;
  readonly #name: string;
  readonly #idleMs: number;
  readonly #slots: Slot<Req, Res>[] = [];
  readonly #queue: Task<Req, Res>[] = [];
  #nextId = 1;
  #closed = false;

  constructor(entry: URL, options: PoolOptions) {
    this.#entry = workerSource(entry);
    this.size = Math.max(1, Math.floor(options.size));
    this.#name = options.name;
    this.#idleMs = options.idleMs ?? 30_000;
  }

  /** Workers running now (started and not exited). */
  get workerCount(): number {
    return this.#slots.length;
  }

  /** Tasks waiting for a worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Runs one request on a worker; rejects with the signal's reason when aborted. */
  run(request: Req, options: TaskOptions = {}): Promise<Res> {
    if (this.#closed) return Promise.reject(new WorkerStoppedError(`The ${this.#name} workers have been shut down.`));
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<Res>((resolve, reject) => {
      const task: Task<Req, Res> = { id: this.#nextId++, request, resolve, reject, signal, onAbort: null, abandoned: false };
      if (signal) {
        task.onAbort = () => {
          const queuedAt = this.#queue.indexOf(task);
          if (queuedAt >= 0) this.#queue.splice(queuedAt, 1);
          else task.abandoned = true;
          reject(abortReason(signal));
        };
        signal.addEventListener('abort', task.onAbort, { once: true });
      }
      if (options.priority === 'high') this.#queue.unshift(task);
      else this.#queue.push(task);
      this.#dispatch();
    });
  }

  /** Stops every worker; queued and running tasks fail. */
  async close(): Promise<void> {
    this.#closed = true;
    const stopped = new WorkerStoppedError(`The ${this.#name} workers have been shut down.`);
    for (const task of this.#queue.splice(0)) this.#settle(task, null, stopped);
    await Promise.all(
      this.#slots.splice(0).map(async (slot) => {
        if (slot.idleTimer) clearTimeout(slot.idleTimer);
        if (slot.task) this.#settle(slot.task, null, stopped);
        slot.task = null;
        slot.exited = true;
        await slot.worker.terminate();
      }),
    );
  }

  #dispatch(): void {
    while (this.#queue.length) {
      let slot = this.#slots.find((s) => !s.task && !s.exited);
      if (!slot) {
        if (this.#slots.length >= this.size) return;
        slot = this.#spawn();
      }
      const task = this.#queue.shift()!;
      this.#assign(slot, task);
    }
  }

  #assign(slot: Slot<Req, Res>, task: Task<Req, Res>): void {
    if (slot.idleTimer) {
      clearTimeout(slot.idleTimer);
      slot.idleTimer = null;
    }
    slot.task = task;
    slot.worker.ref();
    slot.worker.postMessage({ id: task.id, request: task.request } satisfies PoolEnvelope<Req>);
  }

  #spawn(): Slot<Req, Res> {
    const worker = new Worker(this.#entry, { name: `seedbed-${this.#name}` });
    const slot: Slot<Req, Res> = { worker, task: null, idleTimer: null, exited: false };
    worker.on('message', (reply: PoolReply<Res>) => {
      const task = slot.task;
      if (!task || task.id !== reply.id) return;
      slot.task = null;
      if (reply.ok) this.#settle(task, reply.result, null);
      else this.#settle(task, null, new WorkerTaskError(reply.error));
      this.#idle(slot);
      this.#dispatch();
    });
    worker.on('error', (err) => {
      // An uncaught error ends the worker; 'exit' follows and does the bookkeeping.
      if (slot.task) {
        const task = slot.task;
        slot.task = null;
        this.#settle(task, null, new WorkerStoppedError(`A ${this.#name} worker stopped: ${err.message}`));
      }
    });
    worker.on('exit', (code) => {
      slot.exited = true;
      if (slot.idleTimer) clearTimeout(slot.idleTimer);
      const at = this.#slots.indexOf(slot);
      if (at >= 0) this.#slots.splice(at, 1);
      if (slot.task) {
        const task = slot.task;
        slot.task = null;
        this.#settle(task, null, new WorkerStoppedError(`A ${this.#name} worker exited unexpectedly (code ${code}).`));
      }
      if (!this.#closed) this.#dispatch();
    });
    this.#slots.push(slot);
    return slot;
  }

  #idle(slot: Slot<Req, Res>): void {
    // An idle worker must not keep a CLI run (or a test) alive.
    slot.worker.unref();
    slot.idleTimer = setTimeout(() => {
      slot.idleTimer = null;
      if (!slot.task && !slot.exited) {
        slot.exited = true;
        const at = this.#slots.indexOf(slot);
        if (at >= 0) this.#slots.splice(at, 1);
        void slot.worker.terminate();
      }
    }, this.#idleMs);
    slot.idleTimer.unref();
  }

  #settle(task: Task<Req, Res>, result: Res | null, error: Error | null): void {
    if (task.signal && task.onAbort) task.signal.removeEventListener('abort', task.onAbort);
    if (task.abandoned) return;
    task.abandoned = true;
    if (error) task.reject(error);
    else task.resolve(result as Res);
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('The task was cancelled.', 'AbortError');
}
