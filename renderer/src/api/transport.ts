import type { EventMessage, Result } from '../../../shared/contract/index.ts';

export type MediaKind = 'thumb' | 'preview';

/**
 * `open`: calls go through. `connecting`: first connection not made yet. `reconnecting`:
 * the link dropped and is being restored (calls wait). Electron's IPC is always `open`.
 */
export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting';

/** How the renderer reaches a host: Electron IPC or the browser host's WebSocket. */
export interface Transport {
  readonly kind: 'ipc' | 'ws';
  invoke(method: string, params: unknown): Promise<Result<unknown>>;
  subscribe(listener: (message: EventMessage) => void): () => void;
  mediaUrl(kind: MediaKind, imageId: number): string;
  onStatus(listener: (status: ConnectionStatus, reconnected: boolean) => void): () => void;
  readonly status: ConnectionStatus;
}

/** What Electron's preload exposes on `window.seedbed`. */
export interface SeedbedBridge {
  invoke(method: string, params: unknown): Promise<Result<unknown>>;
  on(listener: (message: EventMessage) => void): () => void;
  pathForFile(file: File): string;
}

declare global {
  interface Window {
    seedbed?: SeedbedBridge;
  }
}
