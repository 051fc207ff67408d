import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FixtureAnswer, FixtureRequest } from './pool-fixture.ts';
import { WorkerPool, WorkerStoppedError, WorkerTaskError } from './pool.ts';

const fixture = new URL('./pool-fixture.ts', import.meta.url);

function pool(size: number): WorkerPool<FixtureRequest, FixtureAnswer> {
  return new WorkerPool<FixtureRequest, FixtureAnswer>(fixture, { size, name: 'fixture' });
}

test('runs tasks on at most `size` workers and reuses them', async () => {
  const workers = pool(2);
  try {
    const answers = await Promise.all(Array.from({ length: 12 }, () => workers.run({ kind: 'sleep', ms: 20 })));
    const threads = new Set(answers.map((a) => a.threadId));
    assert.equal(threads.size, 2, 'two workers did all twelve tasks');
    assert.equal(workers.workerCount, 2);
    // Never more than two tasks at the same moment.
    const edges = answers.flatMap((a) => [
      { at: a.startedAt, delta: 1 },
      { at: a.endedAt, delta: -1 },
    ]);
    edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let running = 0;
    let most = 0;
    for (const e of edges) most = Math.max(most, (running += e.delta));
    assert.ok(most <= 2, `at most 2 concurrent tasks, saw ${most}`);
    const echo = await workers.run({ kind: 'echo', value: 'ünïcødé 🌱' });
    assert.equal(echo.value, 'ünïcødé 🌱');
    assert.ok(threads.has(echo.threadId), 'a later task reuses a running worker');
  } finally {
    await workers.close();
  }
});

test('a task that throws fails alone; a worker that exits is replaced', async () => {
  const workers = pool(1);
  try {
    await assert.rejects(workers.run({ kind: 'throw', message: 'bad input here' }), (err: unknown) => {
      assert.ok(err instanceof WorkerTaskError);
      assert.equal(err.message, 'Error: bad input here');
      return true;
    });
    const first = await workers.run({ kind: 'echo', value: 'still here' });
    assert.equal(first.value, 'still here');
    await assert.rejects(workers.run({ kind: 'exit', code: 3 }), WorkerStoppedError);
    const after = await workers.run({ kind: 'echo', value: 'new worker' });
    assert.equal(after.value, 'new worker');
    assert.notEqual(after.threadId, first.threadId, 'a fresh worker took over');
  } finally {
    await workers.close();
  }
});

test('an aborted task leaves the queue at once; close rejects what is left', async () => {
  const workers = pool(1);
  const busy = workers.run({ kind: 'sleep', ms: 300 });
  const controller = new AbortController();
  const queued = workers.run({ kind: 'echo', value: 'never' }, { signal: controller.signal });
  assert.equal(workers.queued, 1);
  const started = Date.now();
  controller.abort();
  await assert.rejects(queued, { name: 'AbortError' });
  assert.ok(Date.now() - started < 100, 'rejected without waiting for the busy worker');
  assert.equal(workers.queued, 0);
  await busy;
  // High priority work overtakes queued normal work.
  const order: string[] = [];
  const blocker = workers.run({ kind: 'sleep', ms: 50 });
  const normal = workers.run({ kind: 'echo', value: 'normal' }).then((a) => order.push(a.value!));
  const urgent = workers.run({ kind: 'echo', value: 'urgent' }, { priority: 'high' }).then((a) => order.push(a.value!));
  await Promise.all([blocker, normal, urgent]);
  assert.deepEqual(order, ['urgent', 'normal']);
  const pending = assert.rejects(workers.run({ kind: 'sleep', ms: 1000 }), WorkerStoppedError);
  await workers.close();
  await pending;
  await assert.rejects(workers.run({ kind: 'echo', value: 'late' }), WorkerStoppedError);
});

test('idle workers exit after the idle time', async () => {
  const workers = new WorkerPool<FixtureRequest, FixtureAnswer>(fixture, { size: 2, name: 'fixture', idleMs: 50 });
  try {
    await Promise.all([workers.run({ kind: 'echo', value: 'a' }), workers.run({ kind: 'echo', value: 'b' })]);
    assert.ok(workers.workerCount >= 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(workers.workerCount, 0);
    assert.equal((await workers.run({ kind: 'echo', value: 'again' })).value, 'again');
  } finally {
    await workers.close();
  }
});
