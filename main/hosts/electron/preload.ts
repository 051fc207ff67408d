// The sandboxed preload: the page's only door to the main process. It exposes named
// functions, never ipcRenderer itself, and strips Electron's event object (which carries
// the sender) before anything reaches the page. Bundled to dist/main/preload.cjs with its
// dependencies inside: a sandboxed preload cannot load packages.
import { contextBridge, ipcRenderer, webUtils } from 'electron';
// Types only from the contract: its zod schemas must not be bundled into the preload.
import type { EventMessage, MethodName, ParamsOf, Result, ResultOf } from '../../../shared/contract/index.ts';
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, METHOD_NAMES } from '../../../shared/contract/names.ts';

/** One function per contract method: `seedbed.api['classes.create']({ name })`. */
export type ContractApi = { [M in MethodName]: (params?: ParamsOf<M>) => Promise<Result<ResultOf<M>>> };

export interface SeedbedPreloadBridge {
  invoke(method: string, params: unknown): Promise<Result<unknown>>;
  on(listener: (message: EventMessage) => void): () => void;
  pathForFile(file: File): string;
  api: ContractApi;
}

function invoke(method: string, params: unknown): Promise<Result<unknown>> {
  if (typeof method !== 'string') {
    return Promise.resolve({ ok: false, error: { code: 'invalid_input', message: 'A call needs a method name.' } });
  }
  return ipcRenderer.invoke(IPC_INVOKE_CHANNEL, method, params ?? {}) as Promise<Result<unknown>>;
}

const listeners = new Set<(message: EventMessage) => void>();
ipcRenderer.on(IPC_EVENT_CHANNEL, (_event, message: EventMessage) => {
  for (const listener of listeners) {
    try {
      listener(message);
    } catch (err) {
      console.error(err);
    }
  }
});

const api = Object.fromEntries(
  METHOD_NAMES.map((name) => [name, (params?: unknown) => invoke(name, params)]),
) as unknown as ContractApi;

const bridge: SeedbedPreloadBridge = {
  invoke,
  on(listener) {
    if (typeof listener !== 'function') throw new TypeError('seedbed.on needs a function.');
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  },
  pathForFile(file) {
    // getPathForFile throws on anything but a File; a File made in JS has no path ('').
    try {
      return webUtils.getPathForFile(file);
    } catch {
      return '';
    }
  },
  api,
};

contextBridge.exposeInMainWorld('seedbed', bridge);
