/** A worker for the pool's tests: echoes, sleeps, throws or exits on request. Not used by the app. */
import { setTimeout as sleep } from 'node:timers/promises';
import { threadId } from 'node:worker_threads';
import { serveRequests } from './worker-protocol.ts';

export type FixtureRequest =
  | { kind: 'echo'; value: string }
  | { kind: 'sleep'; ms: number }
  | { kind: 'throw'; message: string }
  | { kind: 'exit'; code: number };

export interface FixtureAnswer {
  threadId: number;
  value?: string;
  startedAt: number;
  endedAt: number;
}

serveRequests<FixtureRequest, FixtureAnswer>(async (request) => {
  const startedAt = performance.timeOrigin + performance.now();
  switch (request.kind) {
    case 'echo':
      return { threadId, value: request.value, startedAt, endedAt: startedAt };
    case 'sleep':
      await sleep(request.ms);
      return { threadId, startedAt, endedAt: performance.timeOrigin + performance.now() };
    case 'throw':
      throw new Error(request.message);
    case 'exit':
      process.exit(request.code);
  }
});
