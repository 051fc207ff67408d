// The IPC registration against the real core. Electron's side (ipcMain, the window, its
// frames) is played by plain objects shaped like Electron's, since no binary runs here.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { test } from 'node:test';
import type { IpcMainInvokeEvent } from 'electron';
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, type EventMessage, type HostInfo, type Result } from '../../../shared/contract/index.ts';
import { Core } from '../../core/core.ts';
import { isTrustedSender, registerIpc, type OwnWindow } from './ipc.ts';

type Invoke = (event: IpcMainInvokeEvent, method: unknown, params: unknown) => Promise<Result<unknown>>;

interface Frame {
  parent: Frame | null;
  processId: number;
  frameToken: string;
  url: string;
}

function frame(url: string, processId = 7, frameToken = 'main-token', parent: Frame | null = null): Frame {
  return { parent, processId, frameToken, url };
}

/** A window showing `url` in its main frame; `sent` collects what webContents.send got. */
function fakeWindow(url: string) {
  const sent: unknown[][] = [];
  const state = { destroyed: false, url };
  const mainFrame = frame(url);
  const webContents = {
    isDestroyed: () => state.destroyed,
    mainFrame,
    getURL: () => state.url,
    send: (...args: unknown[]) => void sent.push(args),
  };
  const window = { isDestroyed: () => state.destroyed, webContents } as unknown as OwnWindow;
  return { window, webContents, mainFrame, sent, state };
}

function eventFrom(sender: unknown, senderFrame: Frame | null): IpcMainInvokeEvent {
  return { sender, senderFrame } as unknown as IpcMainInvokeEvent;
}

const HOST: HostInfo = { kind: 'electron', appVersion: 'test', nativeDialogs: true, uploads: false, platform: process.platform };

function newCore(): { core: Core; dir: string } {
  const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'seedbed-ipc-'));
  const core = new Core({ host: HOST, stateDir: nodePath.join(dir, 'state'), sampleDir: nodePath.join(dir, 'sample'), workers: 1 });
  return { core, dir };
}

test('only the main frame of our window, showing our page, reaches the core', async () => {
  const { core, dir } = newCore();
  const handlers = new Map<string, Invoke>();
  const removed: string[] = [];
  const ipcMain = {
    handle: (channel: string, listener: Invoke) => void handlers.set(channel, listener),
    removeHandler: (channel: string) => void removed.push(channel),
  };
  const ours = fakeWindow('app://seedbed/index.html');
  let current: OwnWindow | null = ours.window;
  const unregister = registerIpc(ipcMain as never, core, () => current);
  try {
    const invoke = handlers.get(IPC_INVOKE_CHANNEL);
    assert.ok(invoke, 'the invoke channel is registered');

    const answered = await invoke(eventFrom(ours.webContents, ours.mainFrame), 'host.info', {});
    assert.deepEqual(answered, { ok: true, value: HOST });

    // Params are validated by the contract before any handler runs.
    const invalid = await invoke(eventFrom(ours.webContents, ours.mainFrame), 'classes.create', { name: 42 });
    assert.equal(invalid.ok, false);
    assert.equal(!invalid.ok && invalid.error.code, 'invalid_input');
    const noMethod = await invoke(eventFrom(ours.webContents, ours.mainFrame), { toString: () => 'host.info' }, {});
    assert.equal(!noMethod.ok && noMethod.error.code, 'invalid_input');

    const other = fakeWindow('app://seedbed/index.html');
    const refusedSenders: [string, IpcMainInvokeEvent][] = [
      ['another webContents', eventFrom(other.webContents, other.mainFrame)],
      ['a subframe of our page', eventFrom(ours.webContents, frame('app://seedbed/index.html', 7, 'child-token', ours.mainFrame))],
      ['a frame that is gone', eventFrom(ours.webContents, null)],
      ['a frame of another process', eventFrom(ours.webContents, frame('app://seedbed/index.html', 8))],
      ['our main frame showing a web page', eventFrom(ours.webContents, frame('https://example.org/'))],
      ['a look-alike origin', eventFrom(ours.webContents, frame('app://seedbed.evil/index.html'))],
    ];
    for (const [what, event] of refusedSenders) {
      const result = await invoke(event, 'host.info', {});
      assert.equal(result.ok, false, what);
      assert.equal(!result.ok && result.error.code, 'unauthorized', what);
    }

    ours.state.destroyed = true;
    const afterClose = await invoke(eventFrom(ours.webContents, ours.mainFrame), 'host.info', {});
    assert.equal(!afterClose.ok && afterClose.error.code, 'unauthorized', 'a closed window');
    ours.state.destroyed = false;
    current = null;
    const noWindow = await invoke(eventFrom(ours.webContents, ours.mainFrame), 'host.info', {});
    assert.equal(!noWindow.ok && noWindow.error.code, 'unauthorized', 'no window at all');
  } finally {
    unregister();
    await core.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(removed, [IPC_INVOKE_CHANNEL]);
});

test('core events reach our page, and nothing else', async () => {
  const { core, dir } = newCore();
  const ipcMain = { handle: () => {}, removeHandler: () => {} };
  const ours = fakeWindow('app://seedbed/index.html');
  const unregister = registerIpc(ipcMain as never, core, () => ours.window);
  try {
    const created = await core.dispatch('project.create', { path: nodePath.join(dir, 'a.seedbed') });
    assert.equal(created.ok, true);
    const changed = ours.sent.find(([, message]) => (message as EventMessage).event === 'project.changed');
    assert.ok(changed, 'project.changed was sent');
    assert.equal(changed[0], IPC_EVENT_CHANNEL);

    ours.sent.length = 0;
    ours.state.url = 'https://example.org/';
    await core.dispatch('project.close', {});
    assert.deepEqual(ours.sent, [], 'a page that is not ours gets no project data');

    ours.state.url = 'app://seedbed/index.html';
    ours.state.destroyed = true;
    await core.dispatch('project.open', { path: nodePath.join(dir, 'a.seedbed') });
    assert.deepEqual(ours.sent, [], 'a destroyed window is not written to');

    ours.state.destroyed = false;
    unregister();
    await core.dispatch('project.close', {});
    assert.deepEqual(ours.sent, [], 'unregistered: no more events');
  } finally {
    await core.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('isTrustedSender compares frame identity, not just the URL', () => {
  const ours = fakeWindow('app://seedbed/index.html');
  assert.equal(isTrustedSender(eventFrom(ours.webContents, ours.mainFrame), ours.window), true);
  // Same URL, same process, but another frame (a new document after a navigation).
  assert.equal(isTrustedSender(eventFrom(ours.webContents, frame('app://seedbed/index.html', 7, 'other-token')), ours.window), false);
});
