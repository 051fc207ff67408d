// The preload runs in Electron's sandbox, where `require` knows only a few Electron modules.
// This runs the bundled preload in a bare VM context with exactly that, and checks what it
// gives the page. Electron itself is not needed.
import assert from 'node:assert/strict';
import nodePath from 'node:path';
import { test } from 'node:test';
import vm from 'node:vm';
import * as esbuild from 'esbuild';
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, methods } from '../../../shared/contract/index.ts';

const ROOT = nodePath.resolve(import.meta.dirname, '..', '..', '..');

/**
 * The preload bundled from source the way scripts/build.mjs does it (not dist/, which may be
 * older than the source under test).
 */
async function preloadBundle(): Promise<string> {
  const result = await esbuild.build({
    entryPoints: [nodePath.join(ROOT, 'main/hosts/electron/preload.ts')],
    outfile: 'preload.cjs', // in memory (write: false): names the output, writes nothing
    write: false,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    external: ['electron'],
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

interface Exposed {
  invoke(method: unknown, params?: unknown): Promise<unknown>;
  on(listener: (message: unknown) => void): () => void;
  pathForFile(file: unknown): string;
  api: Record<string, (params?: unknown) => Promise<unknown>>;
}

test('the preload needs nothing but electron and exposes one named bridge', async () => {
  const code = await preloadBundle();
  const invoked: unknown[][] = [];
  const ipcListeners = new Map<string, (event: unknown, ...args: unknown[]) => void>();
  const exposed = new Map<string, unknown>();
  const requested: string[] = [];
  const electron = {
    contextBridge: { exposeInMainWorld: (key: string, value: unknown) => exposed.set(key, value) },
    ipcRenderer: {
      invoke: (...args: unknown[]) => {
        invoked.push(args);
        return Promise.resolve({ ok: true, value: 'answered' });
      },
      on: (channel: string, listener: (event: unknown, ...args: unknown[]) => void) => ipcListeners.set(channel, listener),
    },
    webUtils: {
      // Like Electron's: a File has a path, anything else throws.
      getPathForFile: (file: { name?: unknown }) => {
        if (typeof file?.name !== 'string') throw new TypeError('Expected a File');
        return `/home/user/${file.name}`;
      },
    },
  };
  const sandboxRequire = (name: string) => {
    requested.push(name);
    if (name === 'electron') return electron;
    throw new Error(`a sandboxed preload cannot require "${name}"`);
  };
  const module = { exports: {} };
  const context = vm.createContext({ require: sandboxRequire, module, exports: module.exports, console });
  vm.runInContext(code, context, { filename: 'preload.cjs' });

  assert.deepEqual([...new Set(requested)], ['electron']);
  assert.deepEqual([...exposed.keys()], ['seedbed']);
  const bridge = exposed.get('seedbed') as Exposed;
  assert.deepEqual(Object.keys(bridge).sort(), ['api', 'invoke', 'on', 'pathForFile']);
  assert.ok(!JSON.stringify(Object.keys(bridge)).includes('ipcRenderer'), 'ipcRenderer must never reach the page');

  assert.deepEqual(await bridge.invoke('classes.list', {}), { ok: true, value: 'answered' });
  assert.deepEqual(invoked.at(-1), [IPC_INVOKE_CHANNEL, 'classes.list', {}]);
  const refused = (await bridge.invoke(42)) as { ok: boolean; error: { code: string } };
  assert.equal(refused.ok, false);
  assert.equal(refused.error.code, 'invalid_input');
  assert.equal(invoked.length, 1, 'a call without a method name must not reach the main process');

  assert.deepEqual(Object.keys(bridge.api).sort(), Object.keys(methods).sort());
  await bridge.api['classes.create']!({ name: 'cat' });
  assert.deepEqual(invoked.at(-1), [IPC_INVOKE_CHANNEL, 'classes.create', { name: 'cat' }]);
  await bridge.api['project.current']!();
  // The `{}` was made inside the VM, with that realm's Object: compare by content.
  assert.equal(JSON.stringify(invoked.at(-1)), JSON.stringify([IPC_INVOKE_CHANNEL, 'project.current', {}]));

  const received: unknown[] = [];
  const off = bridge.on((message) => received.push(message));
  const deliver = ipcListeners.get(IPC_EVENT_CHANNEL);
  assert.ok(deliver, 'the preload listens on the event channel');
  const message = { event: 'dataset.changed', data: { reason: 'labels' } };
  deliver({ sender: 'the IPC event, which must stay in the preload' }, message);
  assert.deepEqual(received, [message]);
  off();
  deliver({}, message);
  assert.equal(received.length, 1, 'unsubscribed listeners get nothing');

  assert.equal(bridge.pathForFile({ name: 'cat.jpg' }), '/home/user/cat.jpg');
  assert.equal(bridge.pathForFile(42), '', 'a non-File gets no path, and no exception reaches the page');
});
