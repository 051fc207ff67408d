import { MEDIA_SCHEME, type EventMessage, type Result } from '../../../shared/contract/index.ts';
import type { ConnectionStatus, MediaKind, SeedbedBridge, Transport } from './transport.ts';

/** Electron: requests go through the preload bridge; media through the app's own protocol. */
export class IpcTransport implements Transport {
  readonly kind = 'ipc';
  readonly status: ConnectionStatus = 'open';

  constructor(private readonly bridge: SeedbedBridge) {}

  invoke(method: string, params: unknown): Promise<Result<unknown>> {
    return this.bridge.invoke(method, params);
  }

  subscribe(listener: (message: EventMessage) => void): () => void {
    return this.bridge.on(listener);
  }

  mediaUrl(kind: MediaKind, imageId: number): string {
    return `${MEDIA_SCHEME}://${kind}/${imageId}`;
  }

  onStatus(): () => void {
    return () => {};
  }

  pathForFile(file: File): string {
    return this.bridge.pathForFile(file);
  }
}
