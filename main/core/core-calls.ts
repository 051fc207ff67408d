/** Calling the core directly, as the tests and the benchmark do (the hosts go through their transports). */
import type { EventMessage, JobInfo, MethodName, ParamsOf, Result, ResultOf } from '../../shared/contract/index.ts';
import nodePath from 'node:path';
import { Core } from './core.ts';

/** The value of a result, or an Error with the code and message. */
export function unwrap<T>(result: Result<unknown>): T {
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.value as T;
}

/** Dispatches one method; throws an Error naming the method when it fails. */
export async function callCore<M extends MethodName>(core: Core, method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
  const result = await core.dispatch(method, params);
  if (!result.ok) throw new Error(`${method}: ${result.error.message}`);
  return result.value as ResultOf<M>;
}

/** Resolves with the job once it has ended; `seen` are events recorded so far (the job may have ended already). */
export function jobEnded(core: Core, jobId: string, seen: readonly EventMessage[] = []): Promise<JobInfo> {
  const done = seen.find((e) => e.event === 'job.done' && e.data.id === jobId);
  if (done) return Promise.resolve(done.data as JobInfo);
  return new Promise((resolve) => {
    const off = core.events.on((m) => {
      if (m.event === 'job.done' && m.data.id === jobId) {
        off();
        resolve(m.data);
      }
    });
  });
}

/**
 * A core as the CLI host makes one, with its state in `dir/state` and `events` (when given)
 * recording every event: what the integration tests start from.
 */
export function testCore(dir: string, options: { workers?: number; events?: EventMessage[]; stateDir?: string } = {}): Core {
  const core = new Core({
    host: { kind: 'cli', appVersion: 'test', nativeDialogs: false, uploads: false, platform: process.platform },
    stateDir: options.stateDir ?? nodePath.join(dir, 'state'),
    sampleDir: nodePath.join(dir, 'sample'),
    workers: options.workers ?? 2,
  });
  const events = options.events;
  if (events) core.events.on((m) => events.push(m));
  return core;
}
