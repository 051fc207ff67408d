// The one place that registers IPC. Electron's modules come in as arguments (main.ts passes
// the real ones), so node:test can drive this file with the real core and no Electron binary.
import type { BrowserWindow, IpcMain, IpcMainInvokeEvent } from 'electron';
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, type EventMessage, type Result } from '../../../shared/contract/index.ts';
import type { Core } from '../../core/core.ts';
import { isAppUrl } from './urls.ts';

/** What an invoke handler sees of the event: the sender and the frame that sent it. */
export type InvokeSender = Pick<IpcMainInvokeEvent, 'sender' | 'senderFrame'>;

/** What IPC needs of our window: its page, and whether it is still there. */
export type OwnWindow = Pick<BrowserWindow, 'isDestroyed'> & {
  webContents: Pick<BrowserWindow['webContents'], 'isDestroyed' | 'mainFrame' | 'getURL' | 'send'>;
};

const REFUSED: Result<unknown> = {
  ok: false,
  error: { code: 'unauthorized', message: 'This page may not talk to Seedbed.' },
};

/**
 * Registers the invoke channel and forwards core events to the window. Every call is checked
 * twice before the core sees it (Electron's checklist #17, the way Electron Fiddle does it):
 * it must come from the main frame of our own window (not a subframe, not another
 * webContents), and that frame must show one of our pages (the app:// origin).
 * Returns a function that undoes the registration.
 */
export function registerIpc(
  ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>,
  core: Pick<Core, 'dispatch' | 'events'>,
  currentWindow: () => OwnWindow | null,
): () => void {
  ipcMain.handle(IPC_INVOKE_CHANNEL, async (event: IpcMainInvokeEvent, method: unknown, params: unknown) => {
    if (!isTrustedSender(event, currentWindow())) return REFUSED;
    if (typeof method !== 'string') {
      return { ok: false, error: { code: 'invalid_input', message: 'A call needs a method name.' } } satisfies Result<unknown>;
    }
    // dispatch validates params against the contract's schema and never throws.
    return core.dispatch(method, params);
  });

  const off = core.events.on((message: EventMessage) => {
    const window = currentWindow();
    if (!window || window.isDestroyed() || window.webContents.isDestroyed()) return;
    // Project data goes to our page only, never to whatever else the frame might show.
    if (!isAppUrl(window.webContents.getURL())) return;
    window.webContents.send(IPC_EVENT_CHANNEL, message);
  });

  return () => {
    off();
    ipcMain.removeHandler(IPC_INVOKE_CHANNEL);
  };
}

/** True when a message comes from the main frame of our window while it shows our page. */
export function isTrustedSender(event: InvokeSender, window: OwnWindow | null): boolean {
  const frame = event.senderFrame;
  if (!frame || !window || window.isDestroyed()) return false;
  const contents = window.webContents;
  if (contents.isDestroyed() || event.sender !== contents) return false;
  const main = contents.mainFrame;
  if (frame.parent !== null || frame.processId !== main.processId || frame.frameToken !== main.frameToken) return false;
  return isAppUrl(frame.url);
}
