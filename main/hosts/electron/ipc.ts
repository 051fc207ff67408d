import { ipcMain, type BrowserWindow, type IpcMainInvokeEvent } from 'electron';
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, type EventMessage, type Result } from '../../../shared/contract/index.ts';
import type { Core } from '../../core/core.ts';
import { isAppUrl } from './urls.ts';

/**
 * The one IPC registration. Every call is checked twice before the core sees it: it must
 * come from the main frame of our own window (not a subframe, not another webContents),
 * and that frame must show one of our pages (the app:// origin).
 */
export function registerIpc(core: Core, currentWindow: () => BrowserWindow | null): () => void {
  const refuse = (): Result<unknown> => ({
    ok: false,
    error: { code: 'unauthorized', message: 'This page may not talk to Seedbed.' },
  });

  ipcMain.handle(IPC_INVOKE_CHANNEL, async (event: IpcMainInvokeEvent, method: unknown, params: unknown) => {
    if (!isTrustedSender(event, currentWindow())) return refuse();
    if (typeof method !== 'string') {
      return { ok: false, error: { code: 'invalid_input', message: 'A call needs a method name.' } } satisfies Result<unknown>;
    }
    return core.dispatch(method, params);
  });

  const off = core.events.on((message: EventMessage) => {
    const window = currentWindow();
    if (window && !window.isDestroyed() && !window.webContents.isDestroyed()) {
      window.webContents.send(IPC_EVENT_CHANNEL, message);
    }
  });

  return () => {
    off();
    ipcMain.removeHandler(IPC_INVOKE_CHANNEL);
  };
}

function isTrustedSender(event: IpcMainInvokeEvent, window: BrowserWindow | null): boolean {
  const frame = event.senderFrame;
  if (!frame || !window || window.isDestroyed()) return false;
  const contents = window.webContents;
  if (event.sender !== contents) return false;
  const main = contents.mainFrame;
  if (frame.parent !== null || frame.processId !== main.processId || frame.routingId !== main.routingId) return false;
  return isAppUrl(frame.url);
}
