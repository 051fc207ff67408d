/**
 * The envelope every pool worker speaks: a request carries an id, the answer repeats it.
 * Workers call `serveRequests` with one async handler; the pool (pool.ts) does the rest.
 */
import { parentPort } from 'node:worker_threads';

export interface PoolEnvelope<Req> {
  id: number;
  request: Req;
}

export type PoolReply<Res> =
  | { id: number; ok: true; result: Res }
  /** The handler threw: a bug or an environment problem, not a verdict on the input. */
  | { id: number; ok: false; error: string };

/** Runs inside a worker: answers each request with the handler's result, one at a time or overlapping. */
export function serveRequests<Req, Res>(handle: (request: Req) => Promise<Res>): void {
  const port = parentPort;
  if (!port) throw new Error('serveRequests runs inside a worker thread only.');
  port.on('message', (message: PoolEnvelope<Req>) => {
    handle(message.request).then(
      (result) => port.postMessage({ id: message.id, ok: true, result } satisfies PoolReply<Res>),
      (err: unknown) =>
        port.postMessage({
          id: message.id,
          ok: false,
          error: err instanceof Error ? (err.stack ?? err.message) : String(err),
        } satisfies PoolReply<Res>),
    );
  });
}
